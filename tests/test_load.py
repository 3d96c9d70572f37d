"""The app under a classroom's load, against the real server: 20 sessions step speculative
decoding (websocket clients speaking Streamlit's own protocol) while 3 others ask to train
(Chromium pages filling the Train form), all at once. Driven by benchmarks/app_load.py, which
also prints the latency figures quoted in docs/teaching.md.

Checked: no exception or error on any page, every Step showed the next round and reran only the
page's round viewer (an st.fragment), the queue let at most TINYMTP_MAX_TRAINING_RUNS (1) train at
once and started them in the order they asked, the runs finished one after the other, and
decoding went on while a run trained. Latencies are printed, never asserted (a timed test would
flake on a shared machine).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from test_app_fixtures import make_checkpoints
from test_browser import require_chromium

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CLIENTS, TRAINERS, STEPS, TRAIN_STEPS = 20, 3, 3, 30


def test_twenty_decoding_sessions_and_three_training_requests(tmp_path):
    require_chromium()
    pytest.importorskip("playwright.async_api")
    pytest.importorskip("websockets")
    from app_load import load_test

    checkpoints = make_checkpoints(tmp_path / "checkpoints")
    result = load_test(checkpoints, tmp_path, clients=CLIENTS, trainers=TRAINERS, steps=STEPS,
                       train_steps=TRAIN_STEPS, limit=1, deadline=170.0)
    print("\n" + json.dumps(result, indent=1))
    assert result["failures"] == [] and result["problems_on_pages"] == []
    assert result["outside_requests"] == []
    assert result["fewest_steps_of_a_visitor"] >= STEPS  # every visitor's every Step showed its round
    assert result["steps_that_reran_only_the_round_viewer"] == result["steps_done"]  # a fragment, not the page
    # the queue: one run at a time, first come first served, every run finished
    names = [f"class-run-{i + 1}" for i in range(TRAINERS)]
    assert sorted(result["queued_order"]) == names and result["cancelled"] == []
    assert result["most_training_at_once"] == 1
    assert result["start_order"] == result["queued_order"] == result["ended"]
    assert result["waited_in_line"], "no run ever waited: the test did not load the queue"
    assert result["trainers_that_saw_their_place"] >= 1  # the page showed "Queued: position N of M"
    intervals = result["training_intervals"]
    assert len(intervals) == TRAINERS
    assert all(later[0] >= earlier[1] for earlier, later in zip(intervals, intervals[1:]))
    # training never blocked the visitors who only decode
    assert result["steps_during_training"] >= 1


def test_a_closed_session_gives_up_its_place_and_its_run(tmp_path):
    """Two visitors press Train and close their tabs: the waiting run leaves the line and the
    training run stops (app/training.py gives a gone session GONE_AFTER_SECONDS), so a class
    that goes home does not leave the machine training for nobody."""
    import asyncio

    from app_load import WAIT_S, serve_app
    from streamlit_client import StreamlitSession

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "app"))
    from training import GONE_AFTER_SECONDS

    async def press_train_and_leave(url):
        texts = []
        for _ in range(2):
            visitor = StreamlitSession(url, "train")
            await visitor.open(WAIT_S)
            await visitor.press("Train", WAIT_S, numbers={"Minutes": 30.0})
            texts.append(visitor.text() + "\n".join(visitor.problems))
            await visitor.close()
        return texts

    checkpoints = make_checkpoints(tmp_path / "checkpoints")
    with serve_app(checkpoints, tmp_path) as (url, log_path):
        first, second = asyncio.run(press_train_and_leave(url))
        assert "Queued: position 1 of 1" in second, second
        deadline = time.time() + GONE_AFTER_SECONDS + 60
        while time.time() < deadline and sum('"end"' in line or '"cancel"' in line
                                             for line in log_path.read_text().splitlines()) < 2:
            time.sleep(1)
    events = [json.loads(line) for line in log_path.read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[:3] == ["queued", "start", "queued"] and sorted(kinds[3:]) == ["cancel", "end"], kinds
    start, end = (next(e["time"] for e in events if e["event"] == kind) for kind in ("start", "end"))
    assert end - start < GONE_AFTER_SECONDS + 40  # stopped long before its 30 minutes
