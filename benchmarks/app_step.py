"""How long a Step takes on the Speculative page, early and late in a run: a ratio, measured in one run.

Starts the app's real server on the shipped checkpoints (or --checkpoints DIR), opens the
Speculative page in Debian's Chromium (Playwright, executable_path; never `playwright install`),
sets "New characters" to 200, and times a press of Step, from the click until the page shows the
next round and the server has finished the rerun: at round 0 -> 1 and at round 59 -> 60, `--repeats`
times each, interleaved (a noisy, shared machine slows both alike), then prints the medians and
their ratio. Before the figures were built in time independent of the run's length (issue 26), the
lanes figure alone made the late Step about five times slower than the early one.

    python benchmarks/app_step.py [--repeats 5] [--late 60] [--checkpoints DIR] [--mode greedy|sampling]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from app_load import serve_app  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def settle(page) -> None:
    page.wait_for_selector(DONE)
    page.wait_for_timeout(200)
    page.wait_for_selector(DONE)


def shown_round(page) -> int:
    found = re.search(r"Round (\d+) of (\d+)", page.locator('[data-testid="stMain"]').inner_text())
    return int(found.group(1))


def press(page, name: str, expect: int) -> float:
    """Seconds from the click until round `expect` is on the page and the rerun has finished."""
    started = time.perf_counter()
    page.get_by_role("button", name=re.compile(name)).click()
    page.get_by_text(f"Round {expect} of", exact=False).first.wait_for()
    page.wait_for_selector(DONE)
    return time.perf_counter() - started


def go_to(page, target: int) -> None:
    """Step or Back until round `target` is shown (the page has no jump to a round but "To the end")."""
    now = shown_round(page)
    total = int(re.search(r"Round \d+ of (\d+)", page.locator('[data-testid="stMain"]').inner_text()).group(1))
    if target > now and total - target < target - now:
        press(page, "To the end", total)
        now = total
    while now < target:
        now += 1
        press(page, "Step", now)
    while now > target:
        now -= 1
        press(page, "Back", now)


def setup(page, url: str, mode: str, late: int) -> int:
    page.goto(f"{url}/speculative")
    settle(page)
    page.get_by_text("Settings: prompt, drafter, mode, length").click()
    if mode == "sampling":
        page.get_by_text("sampling", exact=True).click()
        settle(page)
    slider = page.get_by_role("slider", name="New characters")
    slider.focus()
    slider.press("End")  # 200 characters
    settle(page)
    page.get_by_text("Settings: prompt, drafter, mode, length").click()
    page.get_by_text("Round 0 of").wait_for(timeout=120_000)
    settle(page)
    total = int(re.search(r"Round 0 of (\d+)", page.locator('[data-testid="stMain"]').inner_text()).group(1))
    if total < late:
        raise SystemExit(f"the run has {total} rounds, fewer than --late {late}: pick a longer run")
    return total


def measure(url: str, repeats: int, late: int, mode: str) -> dict:
    from playwright.sync_api import sync_playwright

    early_s, late_s = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(120_000)
        total = setup(page, url, mode, late)
        for _ in range(repeats):
            go_to(page, 0)
            early_s.append(press(page, "Step", 1))
            go_to(page, late - 1)
            late_s.append(press(page, "Step", late))
        browser.close()
    early, late_median = statistics.median(early_s), statistics.median(late_s)
    return {"rounds": total, "mode": mode, "early_s": [round(s, 3) for s in early_s],
            "late_s": [round(s, 3) for s in late_s], "early_median_s": round(early, 3),
            "late_median_s": round(late_median, 3), "ratio": round(late_median / early, 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--late", type=int, default=60, help="the late round (default 60)")
    parser.add_argument("--mode", choices=["greedy", "sampling"], default="greedy")
    parser.add_argument("--checkpoints", type=Path, default=None, help="default: the shipped checkpoints")
    args = parser.parse_args(argv)
    from tinymtp.files.paths import checkpoints_dir

    with tempfile.TemporaryDirectory() as work, serve_app(args.checkpoints or checkpoints_dir(), Path(work)) as (url, _):
        result = measure(url, args.repeats, args.late, args.mode)
    print(f"Step on the Speculative page, 200-character {result['mode']} run ({result['rounds']} rounds), "
          f"median of {args.repeats}:")
    print(f"  round 0 -> 1:              {result['early_median_s']:.3f} s  {result['early_s']}")
    print(f"  round {args.late - 1} -> {args.late}:            {result['late_median_s']:.3f} s  {result['late_s']}")
    print(f"  late / early:              {result['ratio']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
