"""The Speculative page's default drafter: sequential heads grown on the picked model's own trunk.

A shipped model whose sequential heads were distilled on another shipped model's frozen trunk
(seq-5head on mtp-4head) shares that model's head 1 weight for weight, so its heads can draft for
it and the text stays the picked model's. The page offers them first, as the default drafter,
and only when the weights really are the same."""

from __future__ import annotations

import shutil

import pytest
from test_app_fixtures import start_app

from tinymtp.files.checkpoint import load_checkpoint, save_checkpoint

TIMEOUT = 60
SEQUENTIAL = "sequential heads on its trunk (seq-5head)"


@pytest.fixture(scope="module")
def checkpoints(app_checkpoints, tmp_path_factory):
    """The session's tiny mtp-4head and draft, and seq-5head: 4 sequential heads grown on mtp-4head's trunk
    (untrained: what matters here is whose head 1 it is), plus a sequential model on ANOTHER trunk."""
    root = tmp_path_factory.mktemp("with-sequential")
    for name in ("mtp-4head", "draft"):
        shutil.copytree(app_checkpoints / name, root / name)
    base = load_checkpoint(str(root / "mtp-4head"))
    grown = {"distilled": {"from": "checkpoints/mtp-4head", "config": {"train_trunk": False}}}
    save_checkpoint(str(root / "seq-5head"), base.model.with_heads(5, "sequential"), base.tokenizer,
                    {**base.metadata, **grown})
    other = load_checkpoint(str(app_checkpoints / "causal-4head"))  # another trunk: its heads cannot draft for mtp-4head
    save_checkpoint(str(root / "seq-other"), other.model.with_heads(3, "sequential"), other.tokenizer,
                    {**other.metadata, **grown})
    return root


@pytest.fixture
def app(checkpoints, tmp_path, monkeypatch):
    at = start_app(checkpoints, tmp_path, monkeypatch, TIMEOUT)
    assert not at.exception, at.exception
    at.switch_page("app_pages/speculative.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_sequential_heads_on_the_same_trunk_are_the_default_drafter_and_keep_the_text(app):
    radio = app.radio(key="spec_drafter")
    assert radio.options[0] == SEQUENTIAL and radio.value == SEQUENTIAL
    assert "seq-other" not in " ".join(radio.options)  # sequential heads on another trunk are not offered
    result, base = app.session_state["spec_result"], app.session_state["spec_base"]
    assert result.trace.drafters == [2, 3, 4, 5]  # seq-5head's four drafting heads, draft_len 4 by default
    assert result.tokens == base.tokens  # greedy: mtp-4head's own text, drafted by seq-5head's heads
    assert any("heads 2-5 of seq-5head draft" in str(c.value) for c in app.caption)
    app.radio(key="spec_mode").set_value("sampling").run()
    assert app.session_state["spec_result"].trace.mode == "speculative-sample" and not app.exception
    app.button(key="spec_step").click().run()
    assert not app.exception and not [e.value for e in app.error]


def test_the_models_own_heads_and_models_without_a_sibling(app):
    app.radio(key="spec_drafter").set_value("the model's own heads").run()
    assert app.session_state["spec_result"].trace.drafters == [2, 3, 4]  # mtp-4head's parallel heads
    app.selectbox(key="model_label").select("seq-5head").run()  # a sequential model drafts with its own heads
    assert SEQUENTIAL not in app.radio(key="spec_drafter").options and not app.exception
