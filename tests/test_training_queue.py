"""The app's training queue (app/training_queue.py) on its own, without Streamlit: the limit,
first come first served, cancelling while queued, and the event log a load test reads."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "app"))
from training_queue import CANCELLED, DONE, QUEUED, RUNNING, TrainingQueue  # noqa: E402


def test_one_slot_runs_one_at_a_time_in_order():
    queue = TrainingQueue(slots=1)
    a, b, c = queue.join("a"), queue.join("b"), queue.join("c")
    assert [a.state, b.state, c.state] == [RUNNING, QUEUED, QUEUED]
    assert [queue.position(t) for t in (a, b, c)] == [None, 1, 2]
    assert queue.counts() == (1, 2)
    queue.finish(a)
    assert [a.state, b.state, c.state] == [DONE, RUNNING, QUEUED]
    assert queue.position(c) == 1
    queue.finish(b)
    queue.finish(c)
    assert queue.counts() == (0, 0)
    assert a.ended_at <= b.started_at and b.ended_at <= c.started_at


def test_two_slots_and_the_next_in_line_takes_a_freed_slot():
    queue = TrainingQueue(slots=2)
    tickets = [queue.join(name) for name in "abcd"]
    assert [t.state for t in tickets] == [RUNNING, RUNNING, QUEUED, QUEUED]
    queue.finish(tickets[1])
    assert [t.state for t in tickets] == [RUNNING, DONE, RUNNING, QUEUED]
    assert queue.counts() == (2, 1)


def test_cancel_while_queued_leaves_the_line_without_running():
    queue = TrainingQueue(slots=1)
    a, b, c = queue.join("a"), queue.join("b"), queue.join("c")
    assert queue.cancel(b) is True
    assert b.state == CANCELLED and queue.position(b) is None and queue.position(c) == 1
    queue.finish(a)
    assert c.state == RUNNING and b.started_at is None
    assert queue.cancel(c) is False  # started: the run must be stopped instead
    assert queue.cancel(b) is False  # already gone
    with pytest.raises(ValueError, match="cancelled"):
        queue.finish(b)


def test_zero_slots_is_refused():
    with pytest.raises(ValueError, match="at least one slot"):
        TrainingQueue(slots=0)


def test_threads_never_exceed_the_limit_and_start_in_arrival_order(tmp_path):
    """Eight threads, as the app's runs do: join, wait for the turn, 'train', finish."""
    log = tmp_path / "queue.jsonl"
    queue = TrainingQueue(slots=2, log_path=str(log))
    inside, most, started, guard = [0], [0], [], threading.Lock()

    def run(ticket):
        assert queue.wait_for_turn(ticket, timeout=30)
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            started.append(ticket.name)
        time.sleep(0.02)
        with guard:
            inside[0] -= 1
        queue.finish(ticket)

    tickets = [queue.join(f"run-{i}") for i in range(8)]
    threads = [threading.Thread(target=run, args=(t,)) for t in tickets]
    for t in reversed(threads):  # threads wake in any order; the queue, not the threads, decides
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert most[0] == 2
    assert sorted(started) == [f"run-{i}" for i in range(8)]  # each once; the log below has the queue's order
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["event"] for e in events].count("start") == 8 and [e["event"] for e in events].count("end") == 8
    assert max(e["running"] for e in events) == 2
    assert [e["name"] for e in events if e["event"] == "start"] == [f"run-{i}" for i in range(8)]


def test_a_cancelled_waiter_wakes_at_once():
    queue = TrainingQueue(slots=1)
    queue.join("a")
    b = queue.join("b")
    answer = []
    waiter = threading.Thread(target=lambda: answer.append(queue.wait_for_turn(b, timeout=30)))
    waiter.start()
    time.sleep(0.05)
    began = time.time()
    queue.cancel(b)
    waiter.join(timeout=5)
    assert answer == [False] and time.time() - began < 2


def test_wait_times_out_while_still_queued():
    queue = TrainingQueue(slots=1)
    queue.join("a")
    b = queue.join("b")
    assert queue.wait_for_turn(b, timeout=0.05) is False and b.state == QUEUED
