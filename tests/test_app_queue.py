"""The training queue's rule for visitors who left: a waiting run whose visitor is away when its
turn comes leaves the line (logged as a cancel) and the slot goes to the next run, so a class
that goes home never starts a run for nobody. The rest of the queue: tests/test_training_queue.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "app"))
from training_queue import CANCELLED, QUEUED, RUNNING, TrainingQueue  # noqa: E402


def test_a_run_whose_visitor_is_away_leaves_the_line_when_its_turn_comes(tmp_path):
    log = tmp_path / "queue.jsonl"
    queue = TrainingQueue(slots=1, log_path=str(log))
    a, b, c = queue.join("a"), queue.join("b"), queue.join("c")
    queue.mark_away(b, True)
    assert b.state == QUEUED and queue.position(b) == 1  # away, but it keeps its place until its turn
    queue.finish(a)
    assert [b.state, c.state] == [CANCELLED, RUNNING]
    assert b.started_at is None and queue.counts() == (1, 0)
    assert [json.loads(line)["event"] for line in log.read_text().splitlines()] == \
        ["queued", "start", "queued", "queued", "end", "cancel", "start"]


def test_a_visitor_who_came_back_keeps_the_turn():
    queue = TrainingQueue(slots=1)
    a, b = queue.join("a"), queue.join("b")
    queue.mark_away(b, True)
    queue.mark_away(b, False)
    queue.finish(a)
    assert b.state == RUNNING
