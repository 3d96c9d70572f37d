"""The app in a real browser: Debian's Chromium driven by Playwright, against a real server.

The session's one server (`app_server`, tiny checkpoints made in seconds) and one Chromium
(`chromium`), from tests/conftest.py. Opens every page at its own address, takes speculative steps,
trains a short run and distills one, measures decoding, and checks the page content; at 1024x768
(a projector) it checks that the Speculative page's Step button and round figure share the first
screen, and that no figure title or button label is cut, on every page in both modes. Screenshots
go to tests/artifacts/ (git-ignored). It also checks that the page never contacts another host
(the app must work offline).

Outside CI (env CI unset) the test skips when /usr/bin/chromium is missing; in CI it must run.
Never `playwright install`: it downloads a browser. Install Debian's: apt-get install chromium.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_app_fixtures import require_chromium  # noqa: F401  (test_load.py imports it from here)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
XSS = "<img src=x onerror=alert(1)>"
PAGES = {"heads": "What does each head predict?", "speculative": "Speculative decoding, live",
         "train": "Train your own model", "compare": "Next-token only vs multi-token prediction",
         "tour": "Tour: multi-token prediction, step by step"}


def new_page(browser, server: str, width: int, height: int):
    """A page of the session's Chromium that records requests to other hosts and dialogs."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(60_000)
    page.outside_requests, page.dialogs = [], []
    page.on("request", lambda r: page.outside_requests.append(r.url)
            if not r.url.startswith((server, "data:", "blob:", "about:")) else None)
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    return page


@pytest.fixture(scope="module")
def server(app_server):
    return app_server


@pytest.fixture(scope="module")
def browser_page(chromium, server):
    """A tall page: every part of a page is drawn without scrolling."""
    page = new_page(chromium, server, 1400, 2200)
    yield page
    page.close()


@pytest.fixture(scope="module")
def projector_page(chromium, server):
    """A projector's screen: 1024x768, the sidebar open."""
    page = new_page(chromium, server, 1024, 768)
    yield page
    page.close()


def settle(page, pause_ms=600):
    """Wait until Streamlit has no script run going (twice, as a run may start just after)."""
    page.wait_for_selector(DONE)
    page.wait_for_timeout(pause_ms)
    page.wait_for_selector(DONE)


def shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def open_app_page(page, url: str, heading: str) -> None:
    """Go to one of the app's pages and wait until it has drawn `heading`."""
    page.goto(url)
    settle(page)
    page.get_by_text(heading).wait_for()


def step_to_round_1(page) -> None:
    page.get_by_role("button", name=re.compile("Step")).click()
    page.get_by_text("Round 1 of").wait_for()
    settle(page)


def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def test_heads_page(server, browser_page):
    page = browser_page
    open_app_page(page, server, "What does each head predict?")
    charts = page.locator('[data-testid="stPlotlyChart"] .main-svg')
    charts.first.wait_for()
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 3
    text = main_text(page)
    assert "matches the real text" in text and "matches what head 1 would generate" in text
    assert "head 1 → t+1" in text and "head 4 → t+4" in text
    shot(page, "heads")


def open_settings(page) -> None:
    """Unfold the Speculative page's Settings expander."""
    page.get_by_text("Settings: prompt, drafter, mode, length").click()
    page.get_by_label("Prompt").wait_for()


def test_speculative_step_and_escaping(server, browser_page):
    page = browser_page
    open_app_page(page, f"{server}/speculative", "Round 0 of")
    step_to_round_1(page)
    text = main_text(page)
    assert "accepted" in text or "rejected" in text
    assert "Identical to plain greedy decoding" in text
    shot(page, "speculative")
    page.keyboard.press("ArrowRight")  # the arrow keys step too
    page.get_by_text("Round 2 of").wait_for()
    page.keyboard.press("ArrowLeft")
    page.get_by_text("Round 1 of").wait_for()
    # Play reveals rounds on a timer (a fragment rerun), Pause stops it
    page.get_by_role("button", name=re.compile("Play")).click()
    page.get_by_text("Round 3 of").wait_for()
    page.get_by_role("button", name=re.compile("Pause")).click()
    page.get_by_role("button", name=re.compile("Play")).wait_for()
    # user text is shown as text, never run
    open_settings(page)
    prompt = page.get_by_label("Prompt")
    prompt.fill(XSS)
    prompt.press("Control+Enter")
    page.get_by_text("Round 0 of").wait_for()
    settle(page)
    committed = page.locator(".tinymtp-committed")
    assert XSS in committed.inner_text()
    assert committed.locator("img").count() == 0
    assert page.dialogs == []


def test_speculative_tree_view(server, browser_page):
    page = browser_page
    open_app_page(page, f"{server}/speculative", "Round 0 of")
    open_settings(page)
    page.get_by_text("tree", exact=True).click()  # "Drafts as: chain | tree"
    settle(page)
    step_to_round_1(page)
    page.locator('[data-testid="stPlotlyChart"] .main-svg').nth(1).wait_for()
    text = page.locator('[data-testid="stMain"]').text_content()
    assert "Tree attention mask" in text and "candidates" in text and "ONE forward pass" in text
    assert "Identical to plain greedy decoding" in text
    shot(page, "speculative-tree")


def train_a_short_run(page, server: str, name: str, steps: int) -> None:
    """On the Train page: a micro model with 2 heads on `stories`, trained for `steps` steps."""
    page.goto(f"{server}/train")
    settle(page)
    form = page.locator('[data-testid="stForm"]')
    form.get_by_text("stories", exact=True).click()
    form.locator('[data-testid="stSelectbox"]').filter(has_text="Size").click()
    page.get_by_role("option", name=re.compile("^micro")).click()
    form.get_by_text("steps", exact=True).click()
    heads = form.get_by_role("spinbutton", name="Heads n")
    heads.fill("2")
    heads.press("Tab")
    steps_input = form.get_by_role("spinbutton", name="Steps")
    steps_input.fill(str(steps))
    steps_input.press("Tab")
    name_input = form.get_by_label("Name for the trained model")
    name_input.fill(name)
    name_input.press("Tab")
    form.get_by_role("button", name="Train").click()
    page.get_by_text("Training finished").wait_for(timeout=90_000)
    settle(page)


def test_train_a_short_run_and_pick_it(server, browser_page):
    page = browser_page
    train_a_short_run(page, server, "browser-run", steps=40)
    text = main_text(page)
    assert "browser-run" in text and "next-token val loss" in text
    assert page.locator('[data-testid="stPlotlyChart"] .main-svg').count() >= 1
    shot(page, "train")
    # the trained model is in the sidebar's picker; using it carries over to the other pages
    page.get_by_role("button", name="Use it on every page").click()
    settle(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Heads").click()
    page.get_by_text("What does each head predict?").wait_for()
    settle(page)
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert "Trained in this session" in sidebar and "2 heads" in sidebar, sidebar
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
    assert "model: browser-run" in page.locator('[data-testid="stMain"]').text_content()


def test_distill_a_session_model_shows_progress_and_agreement(server, browser_page):
    """Distill heads 2..n of a model trained in this session: the progress bar while it runs, then
    each head's greedy agreement before -> after, and the distilled copy in the sidebar."""
    page = browser_page
    train_a_short_run(page, server, "distill-source", steps=20)
    page.locator(".st-key-train_distill_model").click()
    page.get_by_role("option", name="distill-source", exact=True).click()
    settle(page)
    steps = page.locator(".st-key-train_distill_steps input")
    steps.fill("300")  # a few seconds even on a quiet machine, so the live progress is seen
    steps.press("Tab")
    settle(page)
    page.get_by_role("button", name="Distill", exact=True).click()
    page.get_by_text(re.compile(r"Distilling 'distill-source-distilled': step \d+ of 300")).wait_for(timeout=30_000)
    page.get_by_text("Distilled: 'distill-source-distilled', 300 steps").wait_for(timeout=120_000)
    settle(page)
    table = page.locator('[data-testid="stTable"]').inner_text()
    assert "greedy agreement before" in table and "head" in table and "points" in table, table
    page.locator(".st-key-train_distill_use button").click()
    settle(page)
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert "Trained in this session" in sidebar and "heads 2..n distilled for 300 steps" in sidebar, sidebar
    shot(page, "distill")


def test_compare_page_measures(server, browser_page):
    page = browser_page
    open_app_page(page, f"{server}/compare", "What training produced")
    page.get_by_role("button", name=re.compile("Measure")).click()
    page.locator('[data-testid="stDataFrame"]').nth(2).wait_for(timeout=90_000)  # the greedy rows' table
    settle(page)
    from tinymtp.experiments import load_results

    saved, _ = load_results()  # the repository's results/: every saved experiment has a tab and a figure
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 5 + len(saved)
    page.locator('[data-testid="stPlotlyChart"] .main-svg').nth(4).wait_for()
    svg_text = page.locator('[data-testid="stMain"]').text_content()
    titles = " ".join(" ".join(t.locator("tspan.line").all_text_contents()) or t.text_content()
                      for t in page.locator(".gtitle").all())  # a wrapped title's lines, joined by spaces
    assert "Greedy and sampled text side by side" in titles and "distinct 8-character pieces" in svg_text
    assert "Speed-up and tokens per forward vs draft_len" in titles
    assert "Self-speculative vs a separate draft model" in titles
    assert f"{len(saved)} experiment" in svg_text  # the count above the tabs is the tabs' count
    for result in saved.values():
        page.get_by_role("tab", name=result["title"]).click()
        assert result["findings"][0] in page.locator('[data-testid="stMain"]').text_content()
    shot(page, "compare")


# ---- a projector: 1024x768, the sidebar open ------------------------------------------------------

CUT = """() => {
  const problems = [], inside = (a, b) => a.left >= b.left - 1 && a.right <= b.right + 1 && a.top >= b.top - 1
    && a.bottom <= b.bottom + 1, meets = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom
    && b.top < a.bottom, shown = e => e.offsetParent !== null || e.getClientRects().length > 0;
  document.querySelectorAll('[data-testid="stPlotlyChart"]').forEach((chart, i) => {
    const svg = chart.querySelector('svg.main-svg');
    if (!svg || !shown(chart)) return;
    const box = svg.getBoundingClientRect(), title = chart.querySelector('.gtitle');
    const name = title ? title.textContent : 'figure ' + i;
    if (title && !inside(title.getBoundingClientRect(), box)) problems.push('title cut: ' + name);
    const legend = chart.querySelector('.legend');
    chart.querySelectorAll('.gtitle, .xtitle, .ytitle').forEach(t => {
      if (legend && meets(legend.getBoundingClientRect(), t.getBoundingClientRect()))
        problems.push('legend over "' + t.textContent + '" in ' + name);
    });
  });
  document.querySelectorAll('[data-testid="stMain"] button').forEach(b => {
    if (!shown(b)) return;
    b.querySelectorAll('p, span, div').forEach(e => {
      if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflow !== 'visible')
        problems.push('button label cut: ' + b.innerText);
    });
  });
  return [...new Set(problems)];
}"""


def cut_labels(page) -> list:
    """Figure titles or button labels that do not fit, and legends over a title, on the page as drawn."""
    if page.locator('[data-testid="stPlotlyChart"]').count():
        page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
    page.wait_for_timeout(800)  # plotly lays out its titles just after drawing
    return page.evaluate(CUT)


def set_presentation(page, on: bool) -> None:
    toggle = page.locator('[data-testid="stSidebar"]').get_by_role("switch", name="Presentation mode")
    if toggle.is_checked() != on:
        page.locator('[data-testid="stSidebar"]').get_by_text("Presentation mode").click()
        settle(page)


def page_problems(page) -> list:
    """A Python exception, Streamlit's "Page not found", or a raw None in the page's words."""
    problems = [f"exception: {e}" for e in page.locator('[data-testid="stException"]').all_inner_texts()]
    body = page.locator("body").inner_text()
    if "Page not found" in body:
        problems.append("Page not found")
    words = " ".join(page.locator('[data-testid="stMain"] [data-testid="stMarkdownContainer"]').all_inner_texts())
    if re.search(r"\bNone\b", words):
        problems.append("a raw None in the text")
    return problems


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_opens_at_its_own_address(server, projector_page, path):
    page = projector_page
    open_app_page(page, f"{server}/{path}", PAGES[path])
    assert page.url.rstrip("/").endswith(f"/{path}")
    assert page_problems(page) == []


def test_the_root_address_opens_the_heads_page(server, projector_page):
    open_app_page(projector_page, server, PAGES["heads"])
    assert projector_page.url.rstrip("/").endswith("/heads")  # and the address can be shared


def round_figure_bottom(page) -> float:
    """Where the round figure (the first figure under the buttons) ends, in the first screen's pixels."""
    assert page.evaluate("window.scrollY") == 0
    return page.locator('[data-testid="stPlotlyChart"]').first.bounding_box()["y"] + \
        page.locator('[data-testid="stPlotlyChart"]').first.bounding_box()["height"]


@pytest.mark.parametrize("presenting", [False, True])
def test_step_and_the_round_figure_share_the_first_screen(server, projector_page, presenting):
    page = projector_page
    open_app_page(page, f"{server}/speculative", "Round 0 of")
    set_presentation(page, presenting)
    step = page.get_by_role("button", name=re.compile("Step"))
    box = step.bounding_box()
    assert box["y"] + box["height"] <= 768, box
    step_to_round_1(page)
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
    assert round_figure_bottom(page) <= 768
    shot(page, "projector-speculative" + ("-presenting" if presenting else ""))
    if not presenting:  # sampling draws the decision: the same screen
        open_settings(page)
        page.get_by_text("sampling", exact=True).click()
        settle(page)
        page.get_by_text("Settings: prompt, drafter, mode, length").click()  # fold it again
        settle(page)
        step_to_round_1(page)
        page.locator(".gtitle").filter(has_text="green part").first.wait_for()
        assert round_figure_bottom(page) <= 768
        shot(page, "projector-speculative-sampling")
    set_presentation(page, False)


def visit_every_view(page, server: str):
    """Yield (name, page) at every page's first view, the Speculative page after a step, and every Tour step."""
    for path in PAGES:
        open_app_page(page, f"{server}/{path}", PAGES[path])
        yield path, page
    open_app_page(page, f"{server}/speculative", "Round 0 of")
    step_to_round_1(page)
    yield "speculative, round 1", page
    open_app_page(page, f"{server}/tour", "Step 1 of")
    for i in range(2, 9):
        page.get_by_role("button", name=re.compile("Next")).click()
        page.get_by_text(f"Step {i} of").wait_for()
        settle(page)
        yield f"tour step {i}", page


@pytest.mark.slow
@pytest.mark.parametrize("presenting", [False, True])
def test_no_title_or_button_label_is_cut_on_a_projector(server, projector_page, presenting):
    page = projector_page
    open_app_page(page, f"{server}/heads", PAGES["heads"])
    set_presentation(page, presenting)
    problems = {}
    for name, shown in visit_every_view(page, server):
        found = cut_labels(shown) + page_problems(shown)
        if found:
            problems[name] = found
            shot(shown, f"cut-{'presenting-' if presenting else ''}{name.replace(' ', '-').replace(',', '')}")
    set_presentation(page, False)
    assert problems == {}


def test_nothing_was_fetched_from_outside(browser_page):
    assert browser_page.outside_requests == []
