"""Load test of the app as a classroom uses it: many browser sessions step speculative decoding
while a few others ask to train, all at once, against the real Streamlit server.

    .venv/bin/python benchmarks/app_load.py                      # 20 decoding + 3 training sessions
    .venv/bin/python benchmarks/app_load.py --json               # the same, one JSON object

It starts `streamlit run app/streamlit_app.py` on a free port of 127.0.0.1 (runs/ and the queue's
event log in a temporary folder), opens one headless Chromium (Debian's /usr/bin/chromium, one
context per visitor), and prints the per-step latency (click on Step until the script run has
ended and the round is drawn; a Step reruns the page's round viewer, an st.fragment, as the
browser asks) and the training runs' start and end times as the server's queue logged them. tests/test_load.py runs it and checks the figures' meaning, never their size.

The clients and the server share this machine's cores, and each browser page draws its charts
too, so the latencies are an upper bound for a class where every student has their own laptop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from streamlit_client import StreamlitSession

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
PROBLEMS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
WAIT_S = 150.0  # one wait of one visitor; the whole run is bounded by `deadline`
WAIT_MS = int(WAIT_S * 1000)
MAX_STEPS = 200  # presses per decoding visitor, at most


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(checkpoints: Path, workdir: Path, limit: int = 1):
    """The real server on a free local port; yields (url, path of the queue's event log)."""
    log_path, server_log = workdir / "training-queue.jsonl", open(workdir / "streamlit.log", "w+")
    env = {**os.environ, "TINYMTP_CHECKPOINTS": str(checkpoints), "TINYMTP_RUNS": str(workdir / "runs"),
           "TINYMTP_TRAINING_LOG": str(log_path), "TINYMTP_MAX_TRAINING_RUNS": str(limit)}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app/streamlit_app.py", "--server.port",
                             str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--server.fileWatcherType", "none"],  # a load test, not a dev session
                            cwd=ROOT, env=env, stdout=server_log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while not _healthy(url):
            if proc.poll() is not None or time.time() > deadline:
                server_log.seek(0)
                raise RuntimeError(f"the streamlit server did not start:\n{server_log.read()[-3000:]}")
            time.sleep(0.3)
        yield url, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        server_log.close()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


async def settle(page) -> None:
    """No script run going, twice: a run may start just after the first look."""
    await page.wait_for_selector(DONE, timeout=WAIT_MS)
    await page.wait_for_timeout(300)
    await page.wait_for_selector(DONE, timeout=WAIT_MS)


def shown_round(session) -> tuple:
    """(round shown, last round) from the Speculative page's "**Round k of N**" line."""
    found = re.search(r"\*\*Round (\d+) of (\d+)\*\*", session.text())
    if found is None:
        raise RuntimeError("the Speculative page shows no round")
    return int(found[1]), int(found[2])


async def decoding_visitor(url: str, steps: int, think: float, training_done: asyncio.Event, record: dict) -> None:
    """Open the Speculative page, then press Step at least `steps` times and on while anyone's
    training is under way, `think` seconds apart, checking each press shows the next round.
    After every `steps` rounds it presses Back to the start (untimed): a later round draws more, so runs
    with and without training time the same rounds."""
    session = StreamlitSession(url, "speculative")
    try:
        await session.open(WAIT_S)
        expected, last = shown_round(session)
        while len(record["steps"]) < steps or not training_done.is_set():
            if expected == last or expected == steps:
                while shown_round(session)[0] > 0:  # back to the start: the page has no Reset since it became a stage
                    await session.press("Back", WAIT_S)
                expected, last = shown_round(session)
            began = time.time()
            seconds = await session.press("Step", WAIT_S)
            expected += 1
            if shown_round(session)[0] != expected:
                raise RuntimeError(f"Step showed round {shown_round(session)[0]}, not {expected}")
            record["steps"].append({"began": began, "ended": began + seconds, "seconds": seconds,
                                    "fragment": session.fragment_run})
            if len(record["steps"]) >= MAX_STEPS:
                break
            await asyncio.sleep(think)
    finally:
        record["problems"] = session.problems
        await session.close()


async def training_visitor(page, url: str, name: str, train_steps: int, record: dict) -> None:
    """Fill the Train form (stories, micro size, a few steps), press Train, wait until it finished."""
    await page.goto(f"{url}/train", timeout=WAIT_MS)
    await settle(page)
    form = page.locator('[data-testid="stForm"]')
    await form.get_by_text("stories", exact=True).click()
    await form.locator('[data-testid="stSelectbox"]').filter(has_text="Size").click()
    await page.get_by_role("option", name=re.compile("^micro")).click()
    await form.get_by_text("steps", exact=True).click()
    for label, value in (("Steps", str(train_steps)), ("Heads n", "2")):
        box = form.get_by_role("spinbutton", name=label)
        await box.fill(value)
        await box.press("Tab")
    box = form.get_by_label("Name for the trained model")
    await box.fill(name)
    await box.press("Tab")
    record["asked"] = time.time()
    await form.get_by_role("button", name="Train").click()
    deadline = time.time() + WAIT_S
    while time.time() < deadline:  # note whether the page ever showed a place in line
        text = await page.locator('[data-testid="stMain"]').inner_text(timeout=WAIT_MS)
        if "Queued: position" in text:
            record["saw_place_in_line"] = True
        if "Training finished" in text:
            break
        await page.wait_for_timeout(250)
    else:
        raise RuntimeError(f"'{name}' did not finish training within {WAIT_S:.0f} s")
    await settle(page)
    problems = page.locator(PROBLEMS)
    record["problems"] = [await problems.nth(i).inner_text() for i in range(await problems.count())]


async def drive(url: str, clients: int, trainers: int, steps: int, think: float, train_steps: int,
                deadline: float) -> dict:
    """The decoding visitors speak the websocket protocol; the training visitors are Chromium pages."""
    from playwright.async_api import async_playwright

    decoders = [{"kind": "decode", "steps": [], "problems": []} for _ in range(clients)]
    learners = [{"kind": "train", "name": f"class-run-{i + 1}", "saw_place_in_line": False, "problems": []}
                for i in range(trainers)]
    outside, training_done = [], asyncio.Event()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = []
        for _ in learners:
            page = await (await browser.new_context(viewport={"width": 1280, "height": 1600})).new_page()
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(
                (url, "data:", "blob:", "about:")) else None)
            pages.append(page)

        still_training = [len(learners)]

        async def learner(page, rec):
            try:
                await training_visitor(page, url, rec["name"], train_steps, rec)
            finally:
                still_training[0] -= 1
                if still_training[0] == 0:
                    training_done.set()

        if not learners:
            training_done.set()
        jobs = [learner(page, rec) for page, rec in zip(pages, learners)]
        jobs += [decoding_visitor(url, steps, think, training_done, rec) for rec in decoders]
        outcomes = await asyncio.wait_for(asyncio.gather(*jobs, return_exceptions=True), timeout=deadline)
        await browser.close()
    records = learners + decoders
    for rec, outcome in zip(records, outcomes):
        rec["failure"] = None if outcome is None else f"{type(outcome).__name__}: {str(outcome)[:300]}"
    return {"records": records, "outside_requests": outside}


def summarize(run: dict, log_path: Path, limit: int) -> dict:
    """Latency figures from the clients, training order and overlap from the server's queue log."""
    events = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.exists() else []
    runs = {}
    for e in events:
        runs.setdefault(e["name"], {})[e["event"]] = e["time"]
    intervals = sorted((r["start"], r["end"]) for r in runs.values() if "start" in r and "end" in r)
    steps = [s for rec in run["records"] if rec["kind"] == "decode" for s in rec["steps"]]
    latencies = [s["ended"] - s["began"] for s in steps]
    during = [s["ended"] - s["began"] for s in steps if any(a <= s["began"] and s["ended"] <= b for a, b in intervals)]
    return {
        "limit": limit,
        "step_latency_median_s": round(statistics.median(latencies), 3) if latencies else None,
        "step_latency_max_s": round(max(latencies), 3) if latencies else None,
        "steps_done": len(steps),
        "steps_that_reran_only_the_round_viewer": sum(s["fragment"] for s in steps),
        "fewest_steps_of_a_visitor": min((len(r["steps"]) for r in run["records"] if r["kind"] == "decode"), default=0),
        "steps_during_training": len(during),
        "step_latency_median_during_training_s": round(statistics.median(during), 3) if during else None,
        "most_training_at_once": max((e["running"] for e in events), default=0),
        "queued_order": [e["name"] for e in events if e["event"] == "queued"],
        "start_order": [e["name"] for e in events if e["event"] == "start"],
        "ended": [e["name"] for e in events if e["event"] == "end"],
        "waited_in_line": [e["name"] for e in events if e["event"] == "queued" and e["running"] >= e["slots"]],
        "cancelled": [e["name"] for e in events if e["event"] == "cancel"],
        "training_intervals": [[round(a - intervals[0][0], 2), round(b - intervals[0][0], 2)] for a, b in intervals],
        "failures": [rec["failure"] for rec in run["records"] if rec["failure"]],
        "problems_on_pages": [p for rec in run["records"] for p in rec["problems"]],
        "trainers_that_saw_their_place": sum(rec.get("saw_place_in_line", False) for rec in run["records"]),
        "outside_requests": run["outside_requests"],
    }


def load_test(checkpoints: Path, workdir: Path, clients: int = 20, trainers: int = 3, steps: int = 6,
              think: float = 0.0, train_steps: int = 60, limit: int = 1, deadline: float = 170.0) -> dict:
    load_before = round(os.getloadavg()[0], 1)  # other work on this machine moves the figures
    with serve_app(checkpoints, workdir, limit) as (url, log_path):
        began = time.time()
        run = asyncio.run(drive(url, clients, trainers, steps, think, train_steps, deadline))
        result = summarize(run, log_path, limit)
        result["wall_s"] = round(time.time() - began, 1)
    result.update(clients=clients, trainers=trainers, steps_per_client=steps, think_s=think,
                  train_steps=train_steps, cpus=os.cpu_count(), load_average_before=load_before)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20, help="sessions stepping speculative decoding")
    parser.add_argument("--trainers", type=int, default=3, help="sessions that ask to train")
    parser.add_argument("--steps", type=int, default=6, help="Step presses per decoding session")
    parser.add_argument("--think", type=float, default=0.0,
                        help="seconds a decoding visitor waits between presses (0: at once, the worst case)")
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds the whole run may take")
    parser.add_argument("--train-steps", type=int, default=60, help="steps of each (micro) training run")
    parser.add_argument("--limit", type=int, default=1, help="TINYMTP_MAX_TRAINING_RUNS for the server")
    parser.add_argument("--checkpoints", type=Path, default=ROOT / "checkpoints",
                        help="the models the server offers (default: the shipped checkpoints/)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tinymtp-load-") as workdir:
        result = load_test(args.checkpoints, Path(workdir), clients=args.clients, trainers=args.trainers,
                           steps=args.steps, think=args.think, train_steps=args.train_steps, limit=args.limit,
                           deadline=args.deadline)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
