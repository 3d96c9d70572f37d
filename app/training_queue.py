"""The app's queue of training runs: at most `slots` train at once, the others wait their turn.

One queue serves every visitor of one server process (the Train page gets it from
app/training.py, created once). A run joins the queue, waits until the queue promotes it
(first come, first served), trains, then tells the queue it has finished, which promotes the
next one. A waiting run can be cancelled and leaves the line without ever training; so does a
run whose visitor is away (marked by its owner) when its turn comes, rather than train for nobody.

Pure Python with no Streamlit in it, so tests/test_training_queue.py checks it alone. What it
leaves out on purpose: several server processes on one machine each have their own queue
(a file lock could share one; a classroom runs one `streamlit run`), and there are no
priorities: a class is served in order.

When `log_path` is given, every change (queued, start, end, cancel) is appended to that file as
one JSON line with the time, so a load test can check from the server's side that runs never
overlapped beyond the limit.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

QUEUED, RUNNING, DONE, CANCELLED = "queued", "running", "done", "cancelled"


@dataclass
class Ticket:
    """One run's place in the queue and what has happened to it."""

    name: str
    state: str = QUEUED
    queued_at: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    away: bool = False  # its visitor has closed the page for now (set by mark_away)


class TrainingQueue:
    """First come, first served, with `slots` runs training at once; safe to use from any thread."""

    def __init__(self, slots: int = 1, log_path: str | None = None):
        if slots < 1:
            raise ValueError(f"a training queue needs at least one slot, got {slots}")
        self.slots = slots
        self.log_path = log_path
        self._changed = threading.Condition()
        self._waiting: list[Ticket] = []
        self._running: list[Ticket] = []

    def join(self, name: str) -> Ticket:
        """Add a run at the end of the line; it starts at once when a slot is free."""
        with self._changed:
            ticket = Ticket(name=name, queued_at=time.time())
            self._waiting.append(ticket)
            self._log("queued", ticket)
            self._promote()
            return ticket

    def wait_for_turn(self, ticket: Ticket, timeout: float | None = None) -> bool:
        """Block until the ticket may train (True), or it was cancelled or `timeout` passed (False)."""
        with self._changed:
            self._changed.wait_for(lambda: ticket.state != QUEUED, timeout=timeout)
            return ticket.state == RUNNING

    def cancel(self, ticket: Ticket) -> bool:
        """Take a waiting run out of the line; False when it has already started (stop it instead)."""
        with self._changed:
            if ticket.state != QUEUED:
                return False
            self._waiting.remove(ticket)
            ticket.state, ticket.ended_at = CANCELLED, time.time()
            self._log("cancel", ticket)
            self._changed.notify_all()
            return True

    def mark_away(self, ticket: Ticket, away: bool) -> None:
        """Say whether the run's visitor is away now: a waiting run that is away when its turn
        comes leaves the line instead of starting."""
        with self._changed:
            ticket.away = away

    def finish(self, ticket: Ticket) -> None:
        """A promoted run has ended (finished, stopped or failed): its slot goes to the next in line."""
        with self._changed:
            if ticket.state != RUNNING:
                raise ValueError(f"run '{ticket.name}' is {ticket.state}, not running: it cannot finish")
            self._running.remove(ticket)
            ticket.state, ticket.ended_at = DONE, time.time()
            self._log("end", ticket)
            self._promote()

    def position(self, ticket: Ticket) -> int | None:
        """1 for the next run to start, 2 for the one after; None when the ticket is not waiting."""
        with self._changed:
            return self._waiting.index(ticket) + 1 if ticket in self._waiting else None

    def counts(self) -> tuple:
        """(runs training now, runs waiting)."""
        with self._changed:
            return len(self._running), len(self._waiting)

    def _promote(self) -> None:
        """Start waiting runs, oldest first, while a slot is free (the caller holds the lock)."""
        while self._waiting and len(self._running) < self.slots:
            ticket = self._waiting.pop(0)
            if ticket.away:  # nobody would see it train: the slot goes to the next in line
                ticket.state, ticket.ended_at = CANCELLED, time.time()
                self._log("cancel", ticket)
                continue
            ticket.state, ticket.started_at = RUNNING, time.time()
            self._running.append(ticket)
            self._log("start", ticket)
        self._changed.notify_all()

    def _log(self, event: str, ticket: Ticket) -> None:
        if self.log_path is None:
            return
        record = {"event": event, "name": ticket.name, "time": time.time(), "running": len(self._running),
                  "waiting": len(self._waiting), "slots": self.slots}
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
