"""The Tour page (app/app_pages/tour.py, tinymtp/analysis/tour_material.py) and the Speculative page's replay download:
the numbers, every step in AppTest, and the Tour in Chromium (Next through every step, Back, a
presentation-mode screenshot under tests/artifacts/)."""

from __future__ import annotations

import json
import re

import pytest
import test_app as app_tests
import test_browser as browser_tests
import torch
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from test_app import all_text, open_page
from test_browser import main_text, open_app_page, settle, shot

from tinymtp.analysis.tour_material import sampling_rule_example, tour_material
from tinymtp.decoding.sampling import residual
from tinymtp.files.checkpoint import load_checkpoint
from tinymtp.viz.replay import MARKER

STEPS = 8
# the fixtures of the app's AppTest and browser tests, shared (one tiny-checkpoint set, one server per module)
checkpoints, app, _restore_torch_threads = app_tests.checkpoints, app_tests.app, app_tests._restore_torch_threads
server, browser_page = browser_tests.server, browser_tests.browser_page


@pytest.fixture(scope="module")
def mini(checkpoints):
    return load_checkpoint(str(checkpoints / "mtp-4head"))


def test_tour_material_runs_every_decoder_on_the_same_prompt(mini, checkpoints):
    tour = tour_material(mini.model, mini.tokenizer, "Once upon a time, there was")
    assert tour.speculative.tokens == tour.greedy.tokens  # greedy speculative decoding is exact
    assert tour.first_round().checks and tour.first_tree_round().tree
    rejected = tour.first_round(rejected=True)
    assert rejected.accepted <= len(rejected.checks)
    one_head = load_checkpoint(str(checkpoints / "ntp-1head"))
    alone = tour_material(one_head.model, one_head.tokenizer, "Once upon a time")
    assert alone.speculative is None and alone.sampling is None and alone.first_round() is None


def test_the_sampling_example_is_the_rule_on_real_distributions(mini):
    ex = sampling_rule_example(mini.model, mini.tokenizer, "Once upon a time", shown=mini.tokenizer.vocab_size)
    p, q = (torch.tensor(ex[name], dtype=torch.float64) for name in ("p", "q"))
    assert abs(float(p.sum()) - 1) < 1e-3 and abs(float(q.sum()) - 1) < 1e-3  # every outcome shown: whole
    assert ex["draft"] == ex["labels"][int(q.argmax())]
    assert ex["keep"] == pytest.approx(min(1.0, ex["p_x"] / ex["q_x"]))
    assert torch.allclose(torch.tensor(ex["residual"], dtype=torch.float64), residual(p, q), atol=1e-6)
    assert ex["rejection"] == pytest.approx(float(torch.clamp(q - p, min=0).sum()), abs=1e-6)


def test_every_tour_step_renders_and_next_back_move(app):
    at = open_page(app, "tour")
    assert at.session_state["tour_step"] == 0
    seen = []
    for i in range(STEPS):
        assert f"Step {i + 1} of {STEPS}" in at.get("progress")[0].proto.text
        assert not at.exception and not at.error, [e.value for e in at.exception]
        assert at.get("plotly_chart"), f"step {i + 1} drew no figure"
        seen.append(at.header[0].value)
        if i < STEPS - 1:
            at.button(key="tour_next").click().run()
            assert at.session_state["tour_step"] == i + 1
    assert at.button(key="tour_next").disabled
    assert len(set(seen)) == STEPS and "Where to go next" in seen[-1]
    at.button(key="tour_back").click().run()
    assert at.session_state["tour_step"] == STEPS - 2 and at.header[0].value == seen[-2]


def test_presentation_mode_enlarges_text_and_keeps_the_navigation(app):
    at = open_page(app, "tour")
    assert not any("1.35rem" in h.proto.body for h in at.get("html"))
    at.sidebar.toggle(key="present").set_value(True).run()
    styles = [h.proto.body for h in at.get("html") if "1.35rem" in h.proto.body]
    assert styles and "stSidebar" not in styles[0]  # the sidebar, and its navigation, stay
    at.button(key="tour_next").click().run()
    assert at.session_state["tour_step"] == 1 and not at.exception


def test_the_tour_with_a_one_head_model_says_why(app):
    open_page(app, "tour")
    app.sidebar.selectbox(key="model_label").set_value("ntp-1head").run()
    for _ in range(2):
        app.button(key="tour_next").click().run()
    assert "single head" in all_text(app) and not app.exception


def test_speculative_page_offers_the_run_as_a_replay(app, monkeypatch):
    stored = {}  # what the download button hands to Streamlit's media storage, by file id
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        stored[file_id] = (path_or_data, mimetype, filename)
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    at = open_page(app, "speculative")
    button = at.get("download_button")
    assert len(button) == 1 and "replay" in button[0].proto.label
    data, mimetype, filename = stored[button[0].proto.url.rsplit("/", 1)[1].split(".")[0]]
    data = data.decode("utf-8") if isinstance(data, bytes) else data
    assert mimetype == "text/html" and filename.endswith(".html")
    assert MARKER in data and data == at.session_state["spec_replay"]
    shown = json.loads(re.search(r'id="replay-data">(.*?)</script>', data, re.S).group(1))
    assert "".join(r["text"] for r in shown["rounds"]) == at.session_state["spec_result"].text


@pytest.mark.slow
@pytest.mark.browser
def test_tour_in_chromium(server, browser_page):
    """Presentation mode on, Next through every step (a screenshot of each), Back once, then off."""
    page = browser_page
    open_app_page(page, f"{server}/tour", "Step 1 of")
    page.locator('[data-testid="stSidebar"]').get_by_text("Presentation mode").click()
    settle(page)
    assert page.locator('[data-testid="stSidebarNav"]').is_visible()  # the navigation stays reachable
    size = page.locator('[data-testid="stMainBlockContainer"] p').first.evaluate(
        "e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 21  # 1.35rem
    for i in range(1, STEPS + 1):
        if i > 1:
            page.get_by_role("button", name=re.compile("Next")).click()
        page.get_by_text(f"Step {i} of {STEPS}").wait_for()
        settle(page)
        page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
        text = main_text(page)
        assert "Traceback" not in text and "Error" not in text
        shot(page, f"tour-presentation-{i}")
    page.get_by_role("button", name=re.compile("Back")).click()
    page.get_by_text(f"Step {STEPS - 1} of {STEPS}").wait_for()
    settle(page)
    page.locator('[data-testid="stSidebar"]').get_by_text("Presentation mode").click()
    settle(page)
    size = page.locator('[data-testid="stMainBlockContainer"] p').first.evaluate(
        "e => parseFloat(getComputedStyle(e).fontSize)")
    assert size < 21
