"""AppTest tests of every page of the app and its main interactions (no browser needed).

Each test runs the real entry point (app/streamlit_app.py, st.navigation) and switches pages,
against the session's tiny checkpoints, made once in seconds (`app_checkpoints` in conftest.py).
"""

from __future__ import annotations

import json
import time

import pytest
from streamlit.testing.v1 import AppTest
from test_app_fixtures import APP, start_app

TIMEOUT = 60


@pytest.fixture(scope="module")
def checkpoints(app_checkpoints):
    return app_checkpoints  # the session's one set (conftest.py), under the name these tests use


@pytest.fixture(scope="module", autouse=True)
def _restore_torch_threads():
    """The app sets one PyTorch thread for its whole process (app/training.py); give the rest back."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def app(checkpoints, tmp_path, monkeypatch):
    """A fresh session of the app, on the Heads page."""
    at = start_app(checkpoints, tmp_path, monkeypatch, TIMEOUT)
    assert not at.exception, at.exception
    return at


def open_page(at, page):
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def errors(at):
    return [e.value for e in at.error]


def all_text(at):
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    parts += [s.value for s in at.success] + [w.value for w in at.warning] + errors(at)
    return "\n".join(str(p) for p in parts)


# ---- navigation and the model picker ------------------------------------------------------------

def test_default_page_is_heads_with_the_default_model(app):
    assert app.title[0].value == "What does each head predict?"
    picker = app.selectbox(key="model_label")
    assert picker.value == "mtp-4head"
    assert picker.options == ["mtp-4head", "ntp-1head", "draft", "causal-4head"]
    assert not errors(app)


def test_no_checkpoints_gives_a_message_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYMTP_CHECKPOINTS", str(tmp_path / "nothing-here"))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert "No model" in all_text(at)


# ---- Heads ---------------------------------------------------------------------------------------

def test_heads_page_shows_grid_bars_and_both_accuracies(app):
    charts = app.get("plotly_chart")
    assert len(charts) == 3  # the grid, the top-k bars, the accuracy bars
    table = app.dataframe[0].value
    assert list(table["head"]) == [1, 2, 3, 4]
    assert "matches real text" in table.columns and "matches head 1's generation" in table.columns


def test_heads_page_reacts_to_prompt_and_position(app):
    app.text_area(key="heads_prompt").set_value("the cat sat").run()
    slider = app.select_slider(key="heads_position")
    assert len(slider.options) == 11
    slider.set_value(3).run()
    assert not app.exception and not errors(app)


@pytest.mark.parametrize("prompt, words", [
    ("", ["empty"]),
    ("caf\u00e9 \u20ac", ["vocabulary", "\u20ac"]),
])
def test_heads_page_bad_prompts_show_one_clear_error(app, prompt, words):
    app.text_area(key="heads_prompt").set_value(prompt).run()
    assert not app.exception
    message = " ".join(errors(app))
    for word in words:
        assert word in message


# ---- Speculative decoding ------------------------------------------------------------------------

def test_speculative_step_play_pause_reset(app):
    at = open_page(app, "speculative")
    assert at.title[0].value == "Speculative decoding, live"
    assert at.session_state["spec_shown"] == 1
    assert "Round 0 of" in all_text(at)
    at.button(key="spec_step").click().run()
    assert at.session_state["spec_shown"] == 2
    assert "Round 1 of" in all_text(at)
    assert len(at.dataframe) == 1  # the round's drafts, one row per draft
    assert "verdict" in at.dataframe[0].value.columns
    assert "Acceptance length" in all_text(at) and "conditional rate" in all_text(at)
    at.button(key="spec_play").click().run()
    assert at.session_state["spec_playing"] is True
    assert at.session_state["spec_shown"] == 3
    at.button(key="spec_pause").click().run()
    assert at.session_state["spec_playing"] is False
    at.button(key="spec_back").click().run()
    assert at.session_state["spec_shown"] == 2 and "Round 1 of" in all_text(at)
    at.button(key="spec_back").click().run()
    assert at.session_state["spec_shown"] == 1 and at.button(key="spec_back").disabled
    at.button(key="spec_end").click().run()
    assert at.session_state["spec_shown"] == len(at.session_state["spec_result"].trace.rounds)
    assert any("Identical to plain greedy decoding" in s.value for s in at.success)
    assert not at.exception and not errors(at)


def test_speculative_sampling_mode_shows_the_rule_numbers(app):
    at = open_page(app, "speculative")
    at.radio(key="spec_mode").set_value("sampling").run()
    assert at.session_state["spec_result"].trace.mode == "speculative-sample"
    at.button(key="spec_step").click().run()
    columns = at.dataframe[0].value.columns
    for name in ("q (drafter)", "p (draft under verifier)", "u", "min(1, p/q)", "drawn from"):
        assert name in columns
    decision = json.loads(at.get("plotly_chart")[0].proto.spec)  # the round figure: the decision drawn
    notes = [a["text"] for a in decision["layout"]["annotations"]]
    assert any(n.startswith("min(1, p/q) = ") for n in notes) and any(n.startswith("u = ") for n in notes)
    assert "below min(1, p/q)" in decision["layout"]["title"]["text"].replace("<br>", " ")
    at.slider(key="spec_temperature").set_value(1.5).run()
    assert at.session_state["spec_shown"] == 1  # new settings: a new run from its first round
    assert not at.exception and not errors(at)


def test_speculative_with_fewer_heads_and_with_the_draft_model(app):
    at = open_page(app, "speculative")
    at.slider(key="spec_drafting").set_value(1).run()
    assert at.session_state["spec_result"].trace.drafters == [2]
    at.radio(key="spec_drafter").set_value("a separate draft model").run()
    assert at.session_state["spec_result"].trace.mode == "draft-model"
    at.button(key="spec_step").click().run()
    assert not at.exception and not errors(at)
    at.radio(key="spec_drafter").set_value("the text itself (lookup)").run()
    result = at.session_state["spec_result"]
    assert result.trace.mode == "lookup" and result.tokens == at.session_state["spec_base"].tokens
    at.radio(key="spec_drafter").set_value("a separate draft model").run()
    at.radio(key="spec_mode").set_value("sampling").run()
    at.radio(key="spec_drafter").set_value("the text itself (lookup)").run()  # q = 1 on each draft: kept w.p. p
    assert not at.exception and "kept with probability p(draft)" in all_text(at)
    result, checks = at.session_state["spec_result"], [c for r in at.session_state["spec_result"].trace.rounds
                                                       for c in r.checks]
    assert result.trace.mode == "lookup-sample" and at.session_state["spec_base"].trace.mode == "sample"
    assert checks and all(c.q == 1.0 and c.rule == "u < min(1, p/q)" for c in checks if c.checked)
    for _ in range(3):  # the decision drawn with a q that puts all its mass on the draft
        at.button(key="spec_step").click().run()
    assert not at.exception and not errors(at)
    at.radio(key="spec_mode").set_value("greedy").run()
    assert at.session_state["spec_result"].trace.mode == "lookup"
    at.button(key="spec_step").click().run()  # ... and the round viewer stays
    assert at.session_state["spec_shown"] == 2 and "Round 1 of" in all_text(at)


def test_speculative_tree_view_draws_the_tree_and_its_mask(app):
    at = open_page(app, "speculative")
    at.radio(key="spec_shape").set_value("tree").run()
    result = at.session_state["spec_result"]
    assert result.trace.mode == "tree"
    assert result.tokens == at.session_state["spec_base"].tokens  # the tree is greedy-exact too
    at.button(key="spec_step").click().run()
    assert not at.exception and not errors(at)
    figures = [c for c in at.get("plotly_chart")]
    titles = " ".join(f.proto.spec for f in figures)
    assert "candidates" in titles and "Tree attention mask" in titles
    assert "ONE forward pass" in all_text(at)
    at.text_input(key="spec_tree").set_value("[[0],[1],[2]]").run()
    nodes = at.session_state["spec_result"].trace.rounds[1].tree["nodes"]
    assert [n["rank"] for n in nodes[1:]] == [0, 1, 2]
    at.text_input(key="spec_tree").set_value("3,x").run()
    assert not at.exception and errors(at)  # a bad shape: one clear message, no traceback


def test_a_causal_head_model_on_the_heads_and_speculative_pages(app):
    app.selectbox(key="model_label").set_value("causal-4head").run()
    assert not app.exception and not errors(app)
    assert len(app.get("plotly_chart")) >= 2  # the heads grid and the bars
    at = open_page(app, "speculative")
    assert at.session_state["spec_result"].tokens == at.session_state["spec_base"].tokens
    at.button(key="spec_step").click().run()
    at.radio(key="spec_shape").set_value("tree").run()
    result = at.session_state["spec_result"]
    assert result.trace.mode == "tree" and result.tokens == at.session_state["spec_base"].tokens
    assert not at.exception and not errors(at)


def test_speculative_escapes_user_text(app):
    at = open_page(app, "speculative")
    at.text_area(key="spec_prompt").set_value("<img src=x onerror=alert(1)>").run()
    assert not at.exception and not errors(at)
    bodies = [h.proto.body for h in at.get("html")]
    committed = next(b for b in bodies if "tinymtp-committed" in b)
    assert "&lt;img src=x onerror=alert(1)&gt;" in committed
    assert "<img" not in committed


@pytest.mark.parametrize("prompt, word", [("", "empty"), ("\u20ac", "vocabulary")])
def test_speculative_bad_prompt(app, prompt, word):
    at = open_page(app, "speculative")
    at.text_area(key="spec_prompt").set_value(prompt).run()
    assert not at.exception
    assert word in " ".join(errors(at))


def test_speculative_with_a_one_head_model_explains_itself(app):
    app.selectbox(key="model_label").set_value("ntp-1head").run()
    at = open_page(app, "speculative")
    assert any("single head" in w.value for w in at.warning)
    at.radio(key="spec_drafter").set_value("a separate draft model").run()
    assert at.session_state["spec_result"].trace.mode == "draft-model"
    assert not at.exception and not errors(at)


# ---- Train ---------------------------------------------------------------------------------------

def submit_training(at, text: bytes, name="tiny-run", heads=2, steps=20):
    at.radio(key="train_corpus").set_value("upload a text file")
    at.file_uploader(key="train_upload").set_value(("corpus.txt", text, "text/plain"))
    at.number_input(key="train_heads").set_value(heads)
    at.selectbox(key="train_preset").set_value("micro")
    at.radio(key="train_budget").set_value("steps")
    at.number_input(key="train_steps").set_value(steps)
    at.text_input(key="train_name").set_value(name)
    at.button[0].click()  # the form's Train button
    return at.run()


def wait_for_training(at, seconds=90):
    deadline = time.time() + seconds
    while time.time() < deadline:
        job = at.session_state["train_job"]
        if not job.running:
            break
        time.sleep(0.5)
    at.run()
    assert not at.session_state["train_job"].running, "training did not finish in time"
    return at


def test_train_a_few_steps_then_use_the_model_everywhere(app, tmp_path):
    from tinymtp.data.corpora import stories_text
    from tinymtp.files.checkpoint import load_checkpoint

    at = open_page(app, "train")
    submit_training(at, stories_text(seed=5, size=6000).encode())
    assert not errors(at), errors(at)
    wait_for_training(at)
    assert not at.exception and not errors(at)
    assert any("Training finished" in s.value for s in at.success)
    assert "tiny-run" in at.selectbox(key="model_label").options
    assert len(at.get("plotly_chart")) == 1  # the loss curves
    at.button(key="train_use").click().run()
    assert at.session_state["model_label"] == "tiny-run"
    at.button(key="train_save").click().run()
    assert (tmp_path / "runs" / "tiny-run" / "config.json").is_file()
    assert load_checkpoint(str(tmp_path / "runs" / "tiny-run")).model.config.n_heads == 2
    # the session's model drives the other pages
    at = open_page(at, "heads")
    at.text_area(key="heads_prompt").set_value("Tom and Lily").run()
    assert list(at.dataframe[0].value["head"]) == [1, 2]
    assert not errors(at)


def test_train_stop_button_keeps_the_model(app):
    from tinymtp.data.corpora import stories_text

    at = open_page(app, "train")
    submit_training(at, stories_text(seed=6, size=6000).encode(), name="stopped", steps=5000)
    job = at.session_state["train_job"]
    while job.running and job.last is None:
        time.sleep(0.1)
    at.run()
    at.button(key="train_stop").click().run()
    wait_for_training(at)
    assert job.result is not None and job.result.interrupted and job.result.steps < 5000
    assert "stopped" in at.selectbox(key="model_label").options
    assert any("stopped early" in s.value for s in at.success)


def new_session():
    """Another visitor: a second AppTest session of the same process, so it shares the queue."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    return open_page(at, "train")


def wait_until(condition, seconds=60):
    deadline = time.time() + seconds
    while not condition() and time.time() < deadline:
        time.sleep(0.1)
    assert condition(), "timed out"


def test_training_runs_wait_in_one_queue_shared_by_every_session(app):
    """Default limit 1: the second and third visitors wait in line, see their place, and can cancel."""
    from tinymtp.data.corpora import stories_text

    text = stories_text(seed=7, size=6000).encode()
    first = submit_training(open_page(app, "train"), text, name="first", steps=5000)
    job = first.session_state["train_job"]
    try:
        wait_until(lambda: job.last is not None)
        second = submit_training(new_session(), text, name="second", steps=20)
        assert "Queued: position 1 of 1" in all_text(second)
        third = submit_training(new_session(), text, name="third", steps=20)
        assert "Queued: position 2 of 2" in all_text(third)
        assert "Queued: position 1 of 2" in all_text(second.run())  # the page refreshes its place
        assert third.session_state["train_job"].last is None  # waiting, not training
        second.button(key="train_cancel").click().run()
        wait_until(lambda: not second.session_state["train_job"].running)
        assert "left the queue without training" in all_text(second.run())
        assert "second" not in second.selectbox(key="model_label").options
        assert "Queued: position 1 of 1" in all_text(third.run())
    finally:
        job.stop_requested = True  # never leave a 5000-step run behind, even when an assertion failed
    wait_for_training(first.run())
    wait_for_training(third)  # promoted when the first run ended, then trained its 20 steps
    assert any("Training finished" in s.value for s in third.success)
    assert job.ticket.ended_at <= third.session_state["train_job"].ticket.started_at
    assert not first.exception and not second.exception and not third.exception


def test_a_bad_training_limit_is_one_clear_error(app, monkeypatch):
    from tinymtp.data.corpora import stories_text

    monkeypatch.setenv("TINYMTP_MAX_TRAINING_RUNS", "lots")
    at = submit_training(open_page(app, "train"), stories_text(seed=8, size=6000).encode())
    assert not at.exception
    assert "TINYMTP_MAX_TRAINING_RUNS must be a whole number" in " ".join(errors(at))
    assert "train_job" not in at.session_state


def test_saving_never_replaces_another_sessions_model(app, tmp_path, checkpoints):
    """runs/tiny-run already holds another visitor's model: ours goes to tiny-run-2, theirs is untouched."""
    import shutil

    from tinymtp.data.corpora import stories_text
    from tinymtp.files.checkpoint import load_checkpoint

    theirs = tmp_path / "runs" / "tiny-run"
    shutil.copytree(checkpoints / "mtp-4head", theirs)
    before = {f.name: f.read_bytes() for f in theirs.iterdir()}
    at = submit_training(open_page(app, "train"), stories_text(seed=9, size=6000).encode(), name="tiny-run")
    wait_for_training(at)
    at.button(key="train_save").click().run()
    assert not errors(at), errors(at)
    assert any("tiny-run-2" in s.value and "already holds another model" in s.value for s in at.success)
    assert {f.name: f.read_bytes() for f in theirs.iterdir()} == before
    assert load_checkpoint(str(tmp_path / "runs" / "tiny-run-2")).model.config.n_heads == 2
    at.button(key="train_save").click().run()  # saving again names the same folder, no third copy
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["tiny-run", "tiny-run-2"]


@pytest.mark.parametrize("content, word", [
    (b"\xff\xfe\x00\x01binary", "binary"),
    (b"caf\xe9 au lait " * 20, "UTF-8"),
    (b"   \n  ", "empty"),
    (b"too short to train on", "too short"),
])
def test_train_bad_uploads_show_one_clear_error(app, content, word):
    at = open_page(app, "train")
    submit_training(at, content)
    assert not at.exception
    assert word in " ".join(errors(at)), errors(at)
    assert "train_job" not in at.session_state


def test_train_oversized_upload_is_refused(app):
    at = open_page(app, "train")
    submit_training(at, b"a" * (5 * 1024 * 1024 + 1))
    assert "limit" in " ".join(errors(at))


def test_train_upload_missing(app):
    at = open_page(app, "train")
    at.radio(key="train_corpus").set_value("upload a text file")
    at.button[0].click().run()
    assert "choose a text file" in " ".join(errors(at))


# ---- Compare -------------------------------------------------------------------------------------

def test_compare_page_reads_metadata_and_measures_speed(app):
    at = open_page(app, "compare")
    assert len(at.get("plotly_chart")) == 2  # model comparison + heads' accuracy
    assert [row for row in at.dataframe[0].value["model"]] == ["ntp-1head", "mtp-4head"]
    at.slider(key="cmp_prompts").set_value(1)
    at.slider(key="cmp_tokens").set_value(16)
    at.button(key="cmp_measure").click().run()
    assert not at.exception and not errors(at)
    table = at.dataframe[2].value
    assert list(table["decoding"])[:1] == ["greedy"]
    assert any("draft model" in d for d in table["decoding"])
    assert set(table["same text as greedy"]) == {"✓ yes"}
    assert table["acceptance length"].iloc[1] >= 1 and "/" in table["kept: share of rounds / conditional"].iloc[1]
    assert len(at.get("plotly_chart")) == 5
    side_by_side = at.dataframe[1].value  # greedy and sampled, with their texts' statistics
    assert [t.split(",")[0].split(" ")[0] for t in side_by_side["text"]] == ["sampled", "greedy"]
    assert "distinct 8-character pieces" in side_by_side.columns and "ends in a loop" in side_by_side.columns
    title = json.loads(at.get("plotly_chart")[2].proto.spec)["layout"]["title"]["text"].replace("<br>", " ")
    assert title.startswith("Greedy and sampled text side by side")


def test_compare_page_shows_saved_experiment_results(app, tmp_path, monkeypatch):
    from conftest import run_cli

    results = tmp_path / "results"
    proc = run_cli("experiment", "induction", "--smoke", "--seeds", "2", "--out", results, "--json", timeout=180)
    assert proc.returncode == 0, proc.stderr
    (results / "addition.json").write_text("{not json", encoding="utf-8")  # a broken file: named, not fatal
    at = open_page(app, "compare")
    assert "No saved results yet" in all_text(at)
    monkeypatch.setenv("TINYMTP_RESULTS", str(results))
    at.run()
    assert not at.exception and not errors(at)
    text = all_text(at)
    assert "addition.json" in text  # the warning names the unreadable file
    for finding in __import__("json").loads(proc.stdout)["findings"]:
        assert finding in text
    assert len(at.get("plotly_chart")) == 3  # the two comparisons + the induction figure
    assert "1 experiment, each run by one command" in text  # counted, not written down


def test_compare_with_a_one_head_mtp_model_says_why(app):
    at = open_page(app, "compare")
    at.selectbox(key="cmp_mtp").set_value("ntp-1head").run()
    at.button(key="cmp_measure").click().run()
    assert not at.exception
    assert "cannot draft" in " ".join(errors(at))


def test_the_heads_and_speculative_pages_offer_the_notebooks_diagrams(app):
    heads = open_page(app, "heads")
    assert any("Picture: one trunk, n heads" in e.label for e in heads.expander)
    assert len(heads.get("image")) == 1  # the diagram itself, inside its expander
    spec = open_page(app, "speculative")
    labels = [e.label for e in spec.expander]
    assert any("Picture: draft, verify" in label for label in labels)
    assert any("Picture: a candidate tree" in label for label in labels)
    assert len(spec.get("image")) == 2
    assert not heads.exception and not spec.exception


def test_the_heads_page_says_when_chained_heads_read_the_prompt(app):
    """Causal and sequential heads read the characters between t and their target: on the Heads
    page that is the prompt's own text, which a learner must be told (parallel heads need no note)."""
    assert not any("teacher" in str(i.value) for i in app.info)
    app.selectbox(key="model_label").select("causal-4head").run()
    assert any("**causal** heads" in str(i.value) and "teacher" in str(i.value) for i in app.info)
