"""AppTest tests of the Train page's "Distill heads 2..n" section (app/distill_panel.py).

It distills through the same queue as training, puts the distilled copy among the session's
models, refuses in one line what it cannot distill, and a queued distillation can be cancelled.
The checkpoints are test_app_fixtures' tiny ones (trained on a corpus that is not built in) plus
one trained in seconds on the built-in `stories` corpus, which the page can distill.
"""

from __future__ import annotations

import time

import pytest
import torch
from test_app import _restore_torch_threads, all_text, errors, open_page  # noqa: F401  (an autouse fixture)
from test_app_fixtures import start_app

TIMEOUT = 60
STORIES_MODEL = "stories-3head"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, app_checkpoints):
    """The session's tiny checkpoints (linked, not trained again) and one trained on `stories`."""
    from tinymtp.core.model import ModelConfig
    from tinymtp.data.corpora import load_corpus
    from tinymtp.files.checkpoint import save_checkpoint
    from tinymtp.training.train import TrainConfig, train, training_metadata

    root = tmp_path_factory.mktemp("distill-checkpoints")
    for shared in app_checkpoints.iterdir():
        (root / shared.name).symlink_to(shared, target_is_directory=True)
    corpus = load_corpus("stories")
    model_config = ModelConfig.from_preset("micro", vocab_size=corpus.tokenizer.vocab_size, n_heads=3)
    train_config = TrainConfig(steps=12, batch_size=8, eval_every=6, eval_batches=2, seed=3)
    result = train(model_config, train_config, corpus)
    save_checkpoint(str(root / STORIES_MODEL), result.model, corpus.tokenizer,
                    training_metadata(result, corpus, train_config))
    return root


@pytest.fixture
def train_page(checkpoints, tmp_path, monkeypatch):
    """A fresh session of the app, on the Train page."""
    return open_page(start_app(checkpoints, tmp_path, monkeypatch, TIMEOUT), "train")


def start_distilling(at, model, steps=3):
    at.selectbox(key="train_distill_model").set_value(model)
    at.radio(key="train_distill_budget").set_value("steps")
    at.number_input(key="train_distill_steps").set_value(steps)
    at.button(key="train_distill_start").click()
    return at.run()


def wait_for(at, key, seconds=90):
    deadline = time.time() + seconds
    while at.session_state[key].running and time.time() < deadline:
        time.sleep(0.3)
    at.run()
    assert not at.session_state[key].running, f"{key} did not finish in time"
    return at


def test_distill_a_model_then_decode_and_save_it(train_page, tmp_path, checkpoints):
    from tinymtp.files.checkpoint import load_checkpoint

    at = start_distilling(train_page, STORIES_MODEL, steps=3)
    assert not errors(at), errors(at)
    wait_for(at, "distill_job")
    assert not at.exception and not errors(at), errors(at)
    assert any("Distilled: 'stories-3head-distilled', 3 steps" in s.value for s in at.success)
    assert "stories-3head-distilled" in at.selectbox(key="model_label").options
    table = at.table[0].value
    assert list(table["head"]) == [2, 3]
    assert list(table.columns) == ["head", "greedy agreement before", "after", "change"]
    assert at.session_state["distill_job"].history["train"][-1][0] == 3  # the chart's history: 3 steps
    assert len(at.get("plotly_chart")) == 1  # the distillation chart (no training ran in this session)
    # the distilled copy is used at once on the other pages; the shipped model is left as it was
    at.button(key="train_distill_use").click().run()
    assert at.session_state["model_label"] == "stories-3head-distilled"
    at.button(key="train_distill_save").click().run()
    saved = load_checkpoint(str(tmp_path / "runs" / "stories-3head-distilled"))
    source = load_checkpoint(str(checkpoints / STORIES_MODEL))
    assert saved.metadata["distilled"]["steps"] == 3 and saved.metadata["corpus"] == "stories"
    before, after = dict(source.model.named_parameters()), dict(saved.model.named_parameters())
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed == {"heads.1.linear.weight", "heads.2.linear.weight"}  # heads 2..3 only: greedy is unchanged
    at = open_page(at, "speculative")
    at.button(key="spec_step").click().run()
    assert not at.exception and not errors(at)
    assert any("Identical to plain greedy decoding" in s.value for s in at.success)
    at = open_page(at, "compare")
    at.selectbox(key="cmp_mtp").set_value("stories-3head-distilled")
    at.selectbox(key="cmp_draft").set_value("(none)").run()  # the fixtures' draft model reads another vocabulary
    at.slider(key="cmp_prompts").set_value(1)
    at.slider(key="cmp_tokens").set_value(16)
    at.button(key="cmp_measure").click().run()
    assert not at.exception and not errors(at), errors(at)
    measured = at.dataframe[2].value  # greedy and speculative decoding with the distilled heads (after sampled vs greedy)
    assert list(measured["decoding"])[:1] == ["greedy"] and set(measured["same text as greedy"]) == {"✓ yes"}
    texts = at.dataframe[1].value  # a model of a built-in corpus: its own text is the yardstick, first
    assert list(texts["text"]) == ["the corpus's own continuation", "sampled T=1", "greedy draft_len 2"]
    assert all(cell.endswith("%") for cell in texts["distinct 8-character pieces"])


def test_the_trunk_recipe_trains_head_1_too_and_says_so(train_page, checkpoints):
    from tinymtp.files.checkpoint import load_checkpoint

    at = train_page
    recipes = at.radio(key="train_distill_recipe")
    recipes.set_value(next(r for r in recipes.options if r.startswith("trunk too")))
    at.radio(key="train_distill_text").set_value("corpus")
    at = wait_for(start_distilling(at, STORIES_MODEL, steps=2), "distill_job")
    assert not at.exception and not errors(at), errors(at)
    assert any("Head 1 trained too" in s.value for s in at.success)
    job = at.session_state["distill_job"]
    assert job.config.train_trunk and job.config.trunk_lr_ratio == 0.1
    source = load_checkpoint(str(checkpoints / STORIES_MODEL)).model
    distilled = job.result.model
    assert not torch.equal(source.trunk.blocks[0].mlp.up.weight, distilled.trunk.blocks[0].mlp.up.weight)


def test_a_one_head_model_is_refused_in_one_line(train_page):
    at = train_page
    at.selectbox(key="train_distill_model").set_value("ntp-1head").run()
    assert not at.exception
    assert len(errors(at)) == 1 and "1 head: nothing to distill" in errors(at)[0]
    assert "\n" not in errors(at)[0]
    assert not [b for b in at.button if b.key == "train_distill_start"]
    assert "distill_job" not in at.session_state


def test_a_model_trained_on_a_corpus_that_is_not_built_in_is_refused(train_page):
    at = start_distilling(train_page, "mtp-4head")
    assert not at.exception
    assert errors(at) == ["'mtp-4head' was trained on 'mini-stories', not a built-in corpus: distill it with "
                          "python -m tinymtp distill --checkpoint DIR --corpus PATH"]
    assert "distill_job" not in at.session_state


def test_a_session_trained_model_can_be_distilled(train_page):
    from tinymtp.data.corpora import stories_text

    at = train_page
    at.radio(key="train_corpus").set_value("upload a text file")
    at.file_uploader(key="train_upload").set_value(("corpus.txt", stories_text(seed=5, size=6000).encode(), "text/plain"))
    at.number_input(key="train_heads").set_value(2)
    at.selectbox(key="train_preset").set_value("micro")
    at.radio(key="train_budget").set_value("steps")
    at.number_input(key="train_steps").set_value(10)
    at.text_input(key="train_name").set_value("mine")
    at.button[0].click()  # the form's Train button
    wait_for(at.run(), "train_job")
    at = wait_for(start_distilling(at, "mine", steps=2), "distill_job")
    assert not errors(at), errors(at)
    assert {"mine", "mine-distilled"} <= set(at.selectbox(key="model_label").options)
    assert at.session_state["session_models"]["mine-distilled"].corpus is at.session_state["train_job"].corpus


def test_a_queued_distillation_can_be_cancelled_and_a_running_one_stopped(train_page):
    """Distilling waits in the training queue: behind a long training run it is queued, and leaves
    the line with Cancel; once running, Stop keeps the model distilled so far."""
    from tinymtp.data.corpora import stories_text

    at = train_page
    at.radio(key="train_corpus").set_value("upload a text file")
    at.file_uploader(key="train_upload").set_value(("corpus.txt", stories_text(seed=7, size=6000).encode(), "text/plain"))
    at.selectbox(key="train_preset").set_value("micro")
    at.radio(key="train_budget").set_value("steps")
    at.number_input(key="train_steps").set_value(5000)
    at.button[0].click()
    at.run()
    training_run = at.session_state["train_job"]
    try:
        at = start_distilling(at, STORIES_MODEL, steps=5000)
        assert "Queued: position 1 of 1" in all_text(at)
        assert at.session_state["distill_job"].last is None  # waiting, not distilling
        at.button(key="train_distill_cancel").click().run()
        job = at.session_state["distill_job"]
        deadline = time.time() + 10
        while job.running and time.time() < deadline:
            time.sleep(0.1)
        assert "left the queue without distilling" in all_text(at.run())
        assert "stories-3head-distilled" not in at.selectbox(key="model_label").options
    finally:
        training_run.stop_requested = True  # never leave a 5000-step run behind
    wait_for(at, "train_job")
    at = start_distilling(at, STORIES_MODEL, steps=5000)
    job = at.session_state["distill_job"]
    try:
        deadline = time.time() + 30
        while job.last is None and time.time() < deadline:
            time.sleep(0.1)
        at.run()
        at.button(key="train_distill_stop").click().run()
    finally:
        job.stop_requested = True
    wait_for(at, "distill_job")
    assert job.result.interrupted and job.result.steps < 5000
    assert any("Distilled (stopped early)" in s.value for s in at.success)
    assert "stories-3head-distilled" in at.selectbox(key="model_label").options
