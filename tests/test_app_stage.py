"""The app on a projector (AppTest, no browser): the presentation switch on every page, and the
small breakages an instructor met, each checked where it would show.

The browser half (1024x768: the Step button and the round figure on the first screen, no cut title
or button label, every page at its own address) is in test_browser.py.
"""

from __future__ import annotations

import json
import re

import pytest
import test_app as app_tests
from test_app import all_text, open_page

from tinymtp.viz.style import PRESENT_MIN_PX

# the app's AppTest fixtures, shared: the session's tiny checkpoints, a fresh session per test
checkpoints, app, _restore_torch_threads = app_tests.checkpoints, app_tests.app, app_tests._restore_torch_threads


def font_sizes(spec, found=None) -> list:
    """Every font size set anywhere in a plotly figure's JSON (layout, traces, annotations, axes)."""
    found = [] if found is None else found
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key in ("font", "textfont", "tickfont", "titlefont") and isinstance(value, dict) and "size" in value:
                sizes = value["size"] if isinstance(value["size"], list) else [value["size"]]
                found.extend(sizes)
            font_sizes(value, found)
    elif isinstance(spec, list):
        for item in spec:
            font_sizes(item, found)
    return found


def figures(at) -> list:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def test_presentation_mode_holds_across_pages_and_enlarges_every_figure(app):
    at = open_page(app, "speculative")
    at.button(key="spec_step").click().run()
    normal = figures(at)
    assert min(min(font_sizes(f)) for f in normal) < PRESENT_MIN_PX  # the check can see small text
    at.sidebar.toggle(key="present").set_value(True).run()
    at.button(key="spec_step").click().run()
    for page in ("speculative", "heads", "tour", "compare"):
        at = open_page(at, page)
        assert at.session_state["present"] is True, f"presentation mode lost on {page}"
        assert any("font-size" in h.proto.body for h in at.get("html")), f"no larger prose on {page}"
        for fig in figures(at):
            sizes = font_sizes(fig)
            assert sizes and min(sizes) >= PRESENT_MIN_PX, (page, fig["layout"].get("title"), sorted(sizes)[:3])
    assert at.sidebar.selectbox(key="model_label")  # the navigation and the picker stay reachable
    at.sidebar.toggle(key="present").set_value(False).run()
    assert min(min(font_sizes(f)) for f in figures(at)) < PRESENT_MIN_PX


def test_the_plain_decoders_text_is_shown_as_written(app):
    """Markdown would have made `__init__` a bold "init" and collapsed the runs of spaces."""
    at = open_page(app, "speculative")
    prompt = "def __init__(self):\n    "
    at.text_area(key="spec_prompt").set_value(prompt).run()
    base = at.session_state["spec_base"].text
    shown = [c.value for c in at.code]
    assert base in shown
    assert not any(base[:20] in c.value for c in at.caption)


def test_no_table_cell_is_a_raw_none(app):
    at = open_page(app, "speculative")
    at.radio(key="spec_mode").set_value("sampling").run()
    for seed in range(4):  # a few runs, so that some round has drafts that were never checked
        at.number_input(key="spec_seed").set_value(seed).run()
        for _ in range(min(6, len(at.session_state["spec_result"].trace.rounds) - 1)):
            at.button(key="spec_step").click().run()
            for table in at.dataframe:
                cells = table.value.astype(object).values.ravel().tolist()
                assert all(c is not None and str(c) not in ("None", "nan") for c in cells), cells


def test_a_tour_step_says_one_character_not_one_characters(app):
    import ui

    assert ui.plural(1, "character") == "1 character" and ui.plural(3, "character") == "3 characters"
    at = open_page(app, "tour")
    at.button(key="tour_next").click().run()
    at.button(key="tour_next").click().run()  # step 3: one speculative round
    wrote = re.search(r"This round wrote \*\*(\d+) (characters?)\*\*", all_text(at))
    assert wrote and (wrote.group(2) == "character") == (wrote.group(1) == "1"), wrote


def tiny(checkpoints):
    from tinymtp.files.checkpoint import load_checkpoint

    return load_checkpoint(str(checkpoints / "mtp-4head"))


def test_english_examples_are_labelled_for_a_model_trained_on_code(app, checkpoints):
    from models import ModelEntry

    ckpt = tiny(checkpoints)  # its vocabulary reads every example; its metadata says it learned code
    app.session_state["session_models"] = {"on-code": ModelEntry("on-code", ckpt.model, ckpt.tokenizer,
                                                                 {"corpus": "python-stdlib"}, "session")}
    app.session_state["pending_model_label"] = "on-code"
    app.run()
    options = app.selectbox(key="heads_example").options
    english = [o for o in options if "Once upon a time" in o or "One day, Lily" in o]
    assert english and all("English: not in this model's training text, python-stdlib" in o for o in english)
    assert not any("not in this model's training text" in o for o in options if o not in english)
    app.selectbox(key="heads_example").set_value(english[0]).run()
    assert "expect them to be right less often" in all_text(app)


@pytest.mark.parametrize("corpus, first", [("stories", "Once upon a time"), ("python-stdlib", "def __init__")])
def test_examples_come_in_the_models_own_kind_first(app, checkpoints, corpus, first):
    import ui
    from models import ModelEntry

    ckpt = tiny(checkpoints)
    entry = ModelEntry("x", ckpt.model, ckpt.tokenizer, {"corpus": corpus})
    assert ui.examples_for(ckpt.tokenizer, entry)[0].startswith(first)


def test_the_round_where_the_text_starts_looping_is_marked(app):
    """The page reads where the loop starts from viz.trap (tested in test_viz_stage.py); here: once the
    shown rounds reach it, the warning says why every draft is easy, and the text and lanes mark it."""
    from tinymtp.viz.stage import Trap

    at = open_page(app, "speculative")
    found = at.session_state["spec_trap"]
    assert found.spec_round is None or found.spec_round >= 0  # what trap() found on this run
    at.session_state["spec_trap"] = Trap(spec_token=4, spec_round=2, base_token=4, base_round=4)
    at.button(key="spec_step").click().run()  # round 1: not there yet
    assert "every draft is easy" not in all_text(at)
    at.button(key="spec_step").click().run()  # round 2 wrote the loop's first token
    assert "From round 2 the text repeats one stretch" in all_text(at) and "every draft is easy" in all_text(at)
    assert any("loop from here" in h.proto.body for h in at.get("html"))
    lanes = next(f for f in figures(at) if "Lanes" in f["layout"]["title"]["text"])
    assert [s["x0"] for s in lanes["layout"]["shapes"]] == [2]  # greedy's loop (pass 4) is not shown yet
