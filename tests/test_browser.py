"""The app in a real browser: Debian's Chromium driven by Playwright, against a real server.

Starts `streamlit run app/streamlit_app.py` on a free port (with tiny checkpoints made in
seconds), opens every page, takes one speculative step, trains a short run and distills one,
measures decoding, and checks the page content. Screenshots go to tests/artifacts/ (git-ignored). It also checks
that the page never contacts another host (the app must work offline).

Outside CI (env CI unset) the test skips when /usr/bin/chromium is missing; in CI it must run.
Never `playwright install`: it downloads a browser. Install Debian's: apt-get install chromium.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from app_load import serve_app  # benchmarks/ is on the tests' path (pyproject's pythonpath)
from test_app_fixtures import make_checkpoints

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
XSS = "<img src=x onerror=alert(1)>"


def require_chromium():
    if os.path.exists(CHROMIUM):
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} is missing (install it with: apt-get install chromium); runs in CI")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    pytest.importorskip("playwright.sync_api")
    checkpoints = make_checkpoints(tmp_path_factory.mktemp("browser-checkpoints"))
    with serve_app(checkpoints, tmp_path_factory.mktemp("server")) as (url, _queue_log):
        yield url


@pytest.fixture(scope="module")
def browser_page(server):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2200})
        page.set_default_timeout(60_000)
        page.outside_requests = []
        page.dialogs = []
        page.on("request", lambda r: page.outside_requests.append(r.url)
                if not r.url.startswith((server, "data:", "blob:", "about:")) else None)
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        yield page
        browser.close()


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


def test_speculative_step_and_escaping(server, browser_page):
    page = browser_page
    open_app_page(page, f"{server}/speculative", "Round 0 of")
    step_to_round_1(page)
    text = main_text(page)
    assert "accepted" in text or "rejected" in text
    assert "Identical to plain greedy decoding" in text
    shot(page, "speculative")
    # Play reveals rounds on a timer (a fragment rerun), Pause stops it
    page.get_by_role("button", name=re.compile("Play")).click()
    page.get_by_text("Round 3 of").wait_for()
    page.get_by_role("button", name=re.compile("Pause")).click()
    page.get_by_text("paused").wait_for()
    # user text is shown as text, never run
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
    page.get_by_role("button", name=re.compile("Measure now")).click()
    page.locator('[data-testid="stDataFrame"]').nth(1).wait_for(timeout=90_000)  # the measurements table
    settle(page)
    from tinymtp.experiments import load_results

    saved, _ = load_results()  # the repository's results/: every saved experiment has a tab and a figure
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 4 + len(saved)
    page.locator('[data-testid="stPlotlyChart"] .main-svg').nth(3).wait_for()
    svg_text = page.locator('[data-testid="stMain"]').text_content()
    assert "Speed-up and tokens per forward vs draft_len" in svg_text
    assert "Self-speculative vs a separate draft model" in svg_text
    for result in saved.values():
        page.get_by_role("tab", name=result["title"]).click()
        assert result["findings"][0] in page.locator('[data-testid="stMain"]').text_content()
    shot(page, "compare")


def test_nothing_was_fetched_from_outside(browser_page):
    assert browser_page.outside_requests == []
