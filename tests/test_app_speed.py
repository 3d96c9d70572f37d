"""What keeps the app quick under a class's load, checked by what it does, never by timing:
moving a slider or stepping a round runs no forward pass, and the figures the shared template
makes quick are the same figures as before.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest
from test_app import TIMEOUT, _restore_torch_threads, checkpoints, open_page  # noqa: F401  (fixtures)
from test_app_fixtures import APP

from tinymtp.decoding.settings import DecodeSettings


@pytest.fixture
def forwards(monkeypatch):
    """Counts every forward pass of every MTPModel in this process (the app runs in it)."""
    from tinymtp.core.model import MTPModel

    calls = []
    original = MTPModel.forward

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MTPModel, "forward", counted)
    return calls


@pytest.fixture
def app(checkpoints, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TINYMTP_CHECKPOINTS", str(checkpoints))
    monkeypatch.setenv("TINYMTP_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("TINYMTP_RESULTS", str(tmp_path / "no-results"))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def test_moving_the_position_slider_runs_no_forward_pass(app, forwards):
    app.text_area(key="heads_prompt").set_value("the cat sat on the mat").run()
    assert forwards, "a new prompt must run the model: the counter counts nothing"
    forwards.clear()
    for t in (0, 5, 21, 3):
        app.select_slider(key="heads_position").set_value(t).run()
        assert not app.exception and len(app.get("plotly_chart")) == 3
    assert forwards == []
    app.text_area(key="heads_prompt").set_value("the dog sat").run()  # a new prompt: computed again
    assert forwards
    forwards.clear()
    app.text_area(key="heads_prompt").set_value("the cat sat on the mat").run()  # back: kept
    assert forwards == []


def test_a_session_model_with_a_shipped_models_label_gets_its_own_predictions(app, forwards):
    """The store is keyed by the model object too, not only by its label."""
    from models import ModelEntry

    app.text_area(key="heads_prompt").set_value("the cat").run()
    first = [key for key in app.session_state["heads_predictions"] if key[2] == "the cat"]
    assert [key[0] for key in first] == ["mtp-4head"]
    forwards.clear()
    app.session_state["session_models"] = {"mtp-4head": ModelEntry("mtp-4head", *_other_model())}
    app.run()
    assert forwards, "another model under the same label must be run, not served the first one's predictions"
    assert not app.exception


def _other_model():
    from test_app_fixtures import mini_corpus

    from tinymtp.core.model import ModelConfig, MTPModel

    corpus = mini_corpus()
    model = MTPModel(ModelConfig.from_preset("micro", vocab_size=corpus.tokenizer.vocab_size, n_heads=4)).eval()
    return model, corpus.tokenizer


def test_stepping_speculative_decoding_runs_no_forward_pass(app, forwards):
    at = open_page(app, "speculative")
    assert forwards  # the run itself was decoded
    forwards.clear()
    for key in ("spec_step", "spec_step", "spec_back", "spec_step", "spec_end"):
        at.button(key=key).click().run()
        assert not at.exception
    assert forwards == []
    assert at.session_state["spec_shown"] == len(at.session_state["spec_result"].trace.rounds)


def test_the_shared_template_gives_the_same_figures(checkpoints):  # noqa: F811
    """viz.style.layout assigns plotly's template without validating it again; every figure must
    be the one update_layout(template=...) would have made."""
    import copy

    from tinymtp import viz
    from tinymtp.analysis.predictions import head_predictions
    from tinymtp.decoding.decode import generate
    from tinymtp.files.checkpoint import load_checkpoint

    ckpt = load_checkpoint(str(checkpoints / "mtp-4head"))
    pred = head_predictions(ckpt.model, ckpt.tokenizer, "the cat sat")
    run = generate(ckpt.model, ckpt.tokenizer, "the cat", DecodeSettings("speculative", 12))
    base = generate(ckpt.model, ckpt.tokenizer, "the cat", DecodeSettings("greedy", 12))
    figures = [viz.head_grid(pred, title="grid"), viz.topk_bars(pred, 3), viz.head_accuracy(pred.accuracy()),
               viz.speculative_round(run.trace.rounds[1], ckpt.tokenizer, mode=run.trace.mode),
               viz.acceptance_per_head(run.trace), viz.wall_clock({"greedy": 1.0, "speculative": 0.5}),
               viz.lanes(base.trace, run.trace, ckpt.tokenizer, forwards=2)]
    for fig in figures:
        validated = copy.deepcopy(fig)
        validated.update_layout(template=viz.TEMPLATE)  # plotly's own, validating path
        assert fig.to_dict() == validated.to_dict()
        assert fig.layout.template.layout.plot_bgcolor == "white"  # plotly_white, not the default
    first, second = figures[0], figures[1]
    first.layout.template.layout.font.size = 99  # each figure owns its copy of the template
    assert second.layout.template.layout.font.size != 99
    assert viz.style.template_object().layout.font.size != 99


FREEZE_CHECK = """
import gc, json, sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=120)
at.run()
assert not at.exception, at.exception
tracked = {id(o) for o in gc.get_objects()}  # what the collector still walks: frozen objects are not there
imported = [sys.modules[name].__dict__ for name in ("tinymtp.viz.decoding", "plotly.graph_objects", "torch.nn")]
made_later = [["made after the imports"]]  # a list: always tracked by the collector
print(json.dumps({"imports_frozen": [id(d) not in tracked for d in imported], "frozen": gc.get_freeze_count(),
                  "later_tracked": gc.is_tracked(made_later) and id(made_later) in {id(o) for o in gc.get_objects()}}))
"""


def test_the_server_freezes_what_its_imports_made(checkpoints, tmp_path):  # noqa: F811
    """Streamlit collects garbage after every script run; the imports' objects are frozen first, so
    that collection no longer walks torch's, pandas' and plotly's objects on every Step. Checked in
    a fresh interpreter (in this one, any earlier test may have frozen the collector already): after
    one run of the app, the imported modules' objects are out of the collector's sight, and objects
    made afterwards are still in it."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "TINYMTP_CHECKPOINTS": str(checkpoints), "TINYMTP_RUNS": str(tmp_path / "runs"),
           "TINYMTP_RESULTS": str(tmp_path / "no-results")}
    proc = subprocess.run([sys.executable, "-c", FREEZE_CHECK, str(APP)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["imports_frozen"] == [True, True, True], found
    assert found["frozen"] > 10_000 and found["later_tracked"], found
