"""The Train page's machinery: one run in a background thread (training a model, or distilling
one's heads 2..n), the server's queue those runs wait in (one per server process), and saving
a trained or distilled model to runs/ without ever replacing another's.

Why a queue: every browser session can press Train, and a class of 30 pressing it at once on
the instructor's laptop would start 30 runs. All sessions of one server process share one
TrainingQueue (app/training_queue.py), so at most TINYMTP_MAX_TRAINING_RUNS runs (default 1)
train at once; the others wait their turn, see their place in line, and can cancel. A
distillation is as heavy as training, so it waits in the same queue.

Why one PyTorch thread: a server serves many sessions at once, each decoding on its own thread.
Several threads per matrix product would make those sessions fight for the same cores, and
for a model this small one thread is also the faster one (tinymtp/cli/generate.py does the
same). So the server sets one thread per operation, once, and a training run uses one core.

No model logic here: training is tinymtp.training.train.train, distilling tinymtp.training.distill.distill, saving
tinymtp.files.checkpoint.save_checkpoint.
"""

from __future__ import annotations

import os
import threading
import time
import traceback

import streamlit as st
import torch
from models import ModelEntry, safe_name
from training_queue import CANCELLED, QUEUED, RUNNING, TrainingQueue

from tinymtp.core.errors import TinyMTPError
from tinymtp.files.checkpoint import save_checkpoint
from tinymtp.files.paths import runs_dir

LIMIT_VARIABLE = "TINYMTP_MAX_TRAINING_RUNS"
LOG_VARIABLE = "TINYMTP_TRAINING_LOG"  # a file the queue appends its events to (for load tests)
GONE_AFTER_SECONDS = 30.0  # a run whose browser session has been gone this long is dropped
_SAVING = threading.Lock()  # one save at a time in this process: looking for a free name and writing are one step


def max_training_runs() -> int:
    """The limit on runs training at once, from TINYMTP_MAX_TRAINING_RUNS (default 1)."""
    text = os.environ.get(LIMIT_VARIABLE, "").strip() or "1"
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise TinyMTPError(f"{LIMIT_VARIABLE} must be a whole number of at least 1, got '{text}'")
    return int(text)


@st.cache_resource(show_spinner=False)
def _shared_queue(slots: int, log_path: str | None) -> TrainingQueue:
    return TrainingQueue(slots, log_path)


def training_queue() -> TrainingQueue:
    """The one queue every session of this server process shares."""
    return _shared_queue(max_training_runs(), os.environ.get(LOG_VARIABLE) or None)


@st.cache_resource(show_spinner=False)
def use_one_torch_thread() -> int:
    """One PyTorch thread per operation for the whole server process (see the module docstring)."""
    torch.set_num_threads(1)
    return torch.get_num_threads()


def session_watcher():
    """A callable saying whether the browser session running this script is still connected."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not Runtime.exists():
        return lambda: True
    runtime, session_id = Runtime.instance(), ctx.session_id
    return lambda: bool(runtime.is_active_session(session_id))


class TrainingJob:
    """One run (training or distilling) in a background thread, owned by the session that started it.

    The thread waits for its turn in the queue, then only calls its `work` function (made by
    training_job or distill_job below) and records what the run's on_step callback reports; the
    page reads that record to draw the live chart. Stop sets a flag the callback returns. A run
    whose session has closed (its model could never be used) leaves the queue, or stops, after
    GONE_AFTER_SECONDS; a waiting run whose session is closed when its turn comes leaves the
    queue then instead of starting.
    """

    def __init__(self, name, work, config, corpus, queue: TrainingQueue, session_alive=None, kind="training"):
        self.name = name
        self.work = work  # work(on_step) -> (result, metadata): the library call this job runs
        self.config = config  # the run's TrainConfig or DistillConfig: its steps or minutes size the progress bar
        self.corpus = corpus
        self.queue = queue
        self.session_alive = session_alive or (lambda: True)
        self.kind = kind  # "training" or "distillation", in messages
        self.ticket = None
        self.history = {"train": [], "eval": []}
        self.last = None  # the latest StepInfo (or DistillStep)
        self.stop_requested = False
        self.result = None
        self.metadata = None
        self.error = None
        self.gone_since = None  # when the owning session was first seen gone
        self.collected = False  # the page has moved the result into the session's models
        self.announced = False  # the page has noticed the end of the run (and stopped its timer)
        self.thread = threading.Thread(target=self._run, name=f"tinymtp-{kind}-{name}", daemon=True)
    def start(self):
        self.ticket = self.queue.join(self.name)
        self.thread.start()
        return self

    @property
    def running(self) -> bool:
        """Waiting in the queue or training: the session has a run under way."""
        return self.thread.is_alive()

    @property
    def queued(self) -> bool:
        return self.ticket is not None and self.ticket.state == QUEUED

    @property
    def cancelled(self) -> bool:
        return self.ticket is not None and self.ticket.state == CANCELLED

    def cancel(self) -> bool:
        """Leave the queue before training starts; False when it has started already."""
        return self.queue.cancel(self.ticket)

    def position(self) -> tuple:
        """(place in line, runs waiting, runs training); place is None once it has left the line."""
        training, waiting = self.queue.counts()
        return self.queue.position(self.ticket), waiting, training

    def _session_gone(self) -> bool:
        if self.session_alive():
            self.gone_since = None
            return False
        self.gone_since = self.gone_since or time.time()
        return time.time() - self.gone_since > GONE_AFTER_SECONDS

    def _on_step(self, info) -> bool:
        self.last = info
        self.history["train"].append([info.step] + list(info.head_losses))
        if info.eval is not None:
            self.history["eval"].append(info.eval)
        return self.stop_requested or self._session_gone()

    def _wait_for_turn(self) -> bool:
        while not self.queue.wait_for_turn(self.ticket, timeout=1.0):
            if self.ticket.state == CANCELLED:
                return False
            if self._session_gone():
                self.cancel()
            self.queue.mark_away(self.ticket, self.gone_since is not None)
        return self.ticket.state == RUNNING

    def _run(self):
        if not self._wait_for_turn():
            return
        try:
            self._work()
        finally:
            self.queue.finish(self.ticket)

    def _work(self):
        try:
            result, self.metadata = self.work(self._on_step)
            self.history = result.history
            self.result = result
        except TinyMTPError as exc:
            self.error = str(exc)
        except Exception as exc:  # a bug, not the user's fault: say so in one line, log the rest
            traceback.print_exc()
            self.error = f"{self.kind} failed unexpectedly ({type(exc).__name__}: {exc})"

    def entry(self) -> ModelEntry:
        return ModelEntry(self.name, self.result.model, self.corpus.tokenizer, self.metadata, "session",
                          corpus=self.corpus)


def training_job(name, model_config, train_config, corpus, queue: TrainingQueue, session_alive=None) -> TrainingJob:
    """A job that trains a new model (tinymtp.training.train.train)."""
    from tinymtp.training.train import train, training_metadata

    def work(on_step):
        result = train(model_config, train_config, corpus, on_step=on_step)
        return result, training_metadata(result, corpus, train_config)

    return TrainingJob(name, work, train_config, corpus, queue, session_alive, kind="training")


def distill_job(name, source: ModelEntry, distill_config, corpus, queue: TrainingQueue, session_alive=None) -> TrainingJob:
    """A job that distills a copy of `source`'s heads 2..n (tinymtp.training.distill.distill); the source
    model itself is never changed (a shipped one is shared by every visitor)."""
    from tinymtp.training.distill import distill, distill_metadata

    def work(on_step):
        result = distill(source.model, corpus, distill_config, on_step=on_step)
        return result, distill_metadata(result, source.label, source.metadata, distill_config)

    return TrainingJob(name, work, distill_config, corpus, queue, session_alive, kind="distillation")


def save_trained(entry: ModelEntry, tries: int = 100) -> str:
    """Write a session model to runs/<name> as an ordinary checkpoint; returns the path.

    Another visitor may have saved a model of the same name: then this one goes to <name>-2,
    <name>-3, ... Nothing already in runs/ is ever replaced: save_checkpoint refuses to, and
    the lock keeps two sessions of this server from picking the same free name at once.
    """
    if entry.path and os.path.isdir(entry.path):
        return entry.path  # this session saved it already
    with _SAVING:
        entry.path = _save_under_a_free_name(entry, tries)
    return entry.path


def _save_under_a_free_name(entry: ModelEntry, tries: int) -> str:
    base = safe_name(entry.label)
    for i in range(1, tries + 1):
        path = runs_dir() / (base if i == 1 else f"{base}-{i}")
        if os.path.lexists(path):
            continue
        try:
            return save_checkpoint(str(path), entry.model, entry.tokenizer, entry.metadata, overwrite=False)
        except TinyMTPError:
            if os.path.lexists(path):  # another server process took it between our look and our write
                continue
            raise
    raise TinyMTPError(f"runs/ already holds {tries} models named '{base}…': choose another name")
