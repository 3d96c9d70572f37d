"""The app as a class uses it, against the real server, in one short scene: two visitors press
Train and close their tabs at once, two more ask to train (Chromium pages filling the Train form),
and two step speculative decoding (websocket clients speaking Streamlit's own protocol) the whole
time. Driven by benchmarks/app_load.py, whose 20-visitor run gives the latency figures quoted in
docs/teaching.md (a benchmark, not a test: this test checks what the figures mean, never their size).

Checked: a closed session gives up its place in line and its run (app/training.py drops a run
whose session has been gone GONE_AFTER_SECONDS, and a waiting run whose session is gone when its
turn comes); the training runs queue (at most TINYMTP_MAX_TRAINING_RUNS, 1, at once, started in the
order they asked, each page showing its place in line, every run finished); the visitors' steps are
served while a run trains, each Step showing the next round and rerunning only the page's round
viewer (an st.fragment); no exception or error on any page and no request to another host.
"""

from __future__ import annotations

import asyncio
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from test_app_fixtures import require_chromium

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CLIENTS, TRAINERS, STEPS, TRAIN_STEPS = 2, 2, 2, 20
LEAVER = "my-model"  # the Train form's default name: the visitors who leave keep it


def in_a_thread(work):
    """work() in a thread of its own, its exception raised here: the session's Chromium (Playwright's
    sync API) keeps an event loop running in this thread, where asyncio.run would refuse to start."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


def test_closed_sessions_give_up_their_runs_while_the_class_queues_and_decodes(app_checkpoints, tmp_path):
    require_chromium()
    pytest.importorskip("playwright.async_api")
    pytest.importorskip("websockets")
    from app_load import WAIT_S, drive, serve_app, summarize
    from streamlit_client import StreamlitSession

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "app"))
    from training import GONE_AFTER_SECONDS

    async def the_class_arrives(url):
        left = []
        for _ in range(2):  # the first one's 30-minute run starts, the second one's waits; both leave
            visitor = StreamlitSession(url, "train")
            await visitor.open(WAIT_S)
            await visitor.press("Train", WAIT_S, numbers={"Minutes": 30.0})
            left.append(visitor.text() + "\n".join(visitor.problems))
            await visitor.close()
        run = await drive(url, CLIENTS, TRAINERS, STEPS, think=0.5, train_steps=TRAIN_STEPS,
                          deadline=GONE_AFTER_SECONDS + 140)
        return left, run

    with serve_app(app_checkpoints, tmp_path) as (url, log_path):
        (first, second), run = in_a_thread(lambda: asyncio.run(the_class_arrives(url)))
    result = summarize(run, log_path, limit=1)
    print("\n" + json.dumps(result, indent=1))
    assert "Queued: position 1 of 1" in second, second
    assert result["failures"] == [] and result["problems_on_pages"] == []
    assert result["outside_requests"] == []

    events = [json.loads(line) for line in log_path.read_text().splitlines()]
    # the two who left: the running run stopped long before its 30 minutes, the waiting one never started
    left = [e for e in events if e["name"] == LEAVER]
    assert [e["event"] for e in left[:3]] == ["queued", "start", "queued"]
    assert sorted(e["event"] for e in left[3:]) == ["cancel", "end"], left
    end = next(e for e in left if e["event"] == "end")
    assert end["time"] - left[1]["time"] < GONE_AFTER_SECONDS + 40

    # the two who stayed: they queued behind, trained one at a time in the order they asked, and finished
    names = [f"class-run-{i + 1}" for i in range(TRAINERS)]
    stayed = lambda key: [name for name in result[key] if name != LEAVER]
    assert sorted(stayed("queued_order")) == names and result["cancelled"] == [LEAVER]
    assert stayed("start_order") == stayed("queued_order") == stayed("ended")
    assert set(names) <= set(result["waited_in_line"]) and result["trainers_that_saw_their_place"] >= 1
    assert result["most_training_at_once"] == 1
    intervals = result["training_intervals"]  # the leaver's run too: 1 + TRAINERS, none overlapping
    assert len(intervals) == 1 + TRAINERS
    assert all(later[0] >= earlier[1] for earlier, later in zip(intervals, intervals[1:]))

    # the visitors who only decode were served all along, a run training or not
    assert result["fewest_steps_of_a_visitor"] >= STEPS  # every visitor's every Step showed its round
    assert result["steps_that_reran_only_the_round_viewer"] == result["steps_done"]  # a fragment, not the page
    assert result["steps_during_training"] >= 1
