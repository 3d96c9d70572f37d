"""Helpers (no tests) for the notebook tests: each notebook run top to bottom once per test session,
on the core the rest of the suite leaves free.

A notebook run is a kernel that imports torch and trains or decodes for seconds; run one after
another they were the suite's longest stretch (about two minutes on a 2-core machine). The tests'
own process uses one PyTorch thread (conftest.py), so one core is mostly idle while the other
tests run. `NotebookRuns` uses it: from the session's first test on, one worker thread runs the
wanted notebooks one by one, each in a child process (this file's `__main__`: nbclient executing
one notebook, `TINYMTP_FAST=1`, the kernel on one PyTorch thread). A notebook test that needs a run
nobody has started runs it itself, and one whose run is under way runs the next waiting one while
it waits, so by the time the notebook tests come, two notebooks run at once.

Which runs a session needs comes from the tests it collected: `test_notebook_runs_top_to_bottom`
runs every notebook with an empty runs/ folder (the shipped model is studied), except notebook 04,
which runs beside a learner's saved model that it must leave untouched; notebooks 05-07 run again
beside that model (`test_notebook_studies_the_learners_own_model`). Each run gets its own runs/
folder (empty, or a copy of the learner's), so a notebook that wrote there shows in its own run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import nbformat

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
LEARNER = "learner"  # runs beside the learner's model (a copy of the learner_runs fixture's folder)
EMPTY = "empty"  # runs with an empty TINYMTP_RUNS: the notebooks study the shipped model
TIMEOUT_S = 900


PLAIN_RUN_TESTS = ("test_notebook_runs_top_to_bottom",  # tests/test_notebooks.py
                   "test_notebook_outputs_hold_no_warning_and_nothing_on_stderr")  # tests/test_notebook_outputs.py


def plain_run(name: str) -> tuple[str, str]:
    """The run test_notebook_runs_top_to_bottom reads for a notebook."""
    return name, LEARNER if name == "04_training" else EMPTY


def runs_wanted(items) -> list[tuple[str, str]]:
    """(notebook name, EMPTY or LEARNER) for every notebook run the collected tests ask for, in order."""
    wanted = []
    for item in items:
        params = item.callspec.params if hasattr(item, "callspec") else {}
        if getattr(item, "originalname", None) in PLAIN_RUN_TESTS:
            wanted.append(plain_run(params["path"].stem))
        elif getattr(item, "originalname", None) == "test_notebook_studies_the_learners_own_model":
            wanted.append((params["name"], LEARNER))
    return list(dict.fromkeys(wanted))


class NotebookRun:
    """One finished run: the executed notebook (None if none was written), the error, its runs/ folder."""

    def __init__(self, notebook, error: str, runs: Path):
        self.notebook, self.error, self.runs = notebook, error, runs

    def printed(self) -> str:
        """Everything the code cells printed (stdout and stderr streams)."""
        return "".join(o.get("text", "") for c in self.notebook.cells if c.cell_type == "code"
                       for o in c.outputs if o.output_type == "stream")


class NotebookRuns:
    """`runs[(name, kind)]`: that notebook's NotebookRun, made once (see the module's docstring)."""

    def __init__(self, wanted: list, learner: Path | None, scratch: Path):
        self.wanted, self.pending, self.done, self.scratch = set(wanted), list(wanted), {}, scratch
        self.changed = threading.Condition()
        self.children: set = set()  # the child processes running now, for stop()
        self.stopped = False
        # the environment as the session began: a test that sets a variable for itself (the app's tests
        # point TINYMTP_CHECKPOINTS at tiny models) must not reach a notebook started meanwhile
        self.environment = dict(os.environ)
        self.folders = {}
        for name, kind in wanted:
            folder = self.folders[name, kind] = scratch / f"{name}.{kind}-runs"
            if kind == LEARNER:
                shutil.copytree(learner, folder)
            else:
                folder.mkdir()

    def start_in_background(self) -> None:
        threading.Thread(target=self._work, name="notebook-runs", daemon=True).start()

    def __getitem__(self, key) -> NotebookRun:
        if key not in self.wanted:
            raise KeyError(f"no test collected in this session asks for the run {key} (see runs_wanted)")
        while True:
            with self.changed:
                if key in self.done:
                    return self.done[key]
                mine = self._take(key if key in self.pending else None)
                if mine is None and key not in self.done:
                    self.changed.wait(timeout=1.0)  # nothing left to help with: its run is under way
            if mine is not None:
                self._run(mine)

    def stop(self) -> None:
        """End of the session: start nothing more, end the runs under way."""
        with self.changed:
            self.stopped, self.pending = True, []
            for child in self.children:
                child.kill()

    def _take(self, key=None):
        """Under the lock: `key`, or the next waiting run, marked as started (None if none)."""
        if self.stopped or not self.pending:
            return None
        key = key if key is not None else self.pending[0]
        self.pending.remove(key)
        return key

    def _work(self) -> None:
        while True:
            with self.changed:
                key = self._take()
            if key is None:
                return
            self._run(key)

    def _run(self, key) -> None:
        name, kind = key
        out = self.scratch / f"{name}.{kind}.ipynb"
        env = {**self.environment, "TINYMTP_FAST": "1", "TINYMTP_RUNS": str(self.folders[key]), "OMP_NUM_THREADS": "1"}
        child = subprocess.Popen([sys.executable, __file__, str(NOTEBOOKS_DIR / f"{name}.ipynb"), str(out)], env=env,
                                 cwd=NOTEBOOKS_DIR.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        with self.changed:
            self.children.add(child)
        try:
            _, stderr = child.communicate(timeout=TIMEOUT_S)
            error = "" if child.returncode == 0 else (plain(stderr)[-3000:] or f"exit status {child.returncode}")
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            error = f"{name} did not finish within {TIMEOUT_S} s"
        notebook = nbformat.read(out, as_version=4) if out.exists() else None
        with self.changed:
            self.children.discard(child)
            self.done[key] = NotebookRun(notebook, error or ("" if notebook else "no executed notebook"),
                                         self.folders[key])
            self.changed.notify_all()


def plain(text: str) -> str:
    """The child's stderr without the terminal's colour codes (nbclient's tracebacks carry them)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def execute(source: Path, out: Path) -> int:
    """The child: run `source` top to bottom with the python3 kernel, save it (outputs and all) to `out`."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(source, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(source.parent)}})
    try:
        client.execute()
    except CellExecutionError as error:  # names the cell and the exception
        print(error, file=sys.stderr)
        return 1
    finally:
        nbformat.write(nb, out)
    return 0


if __name__ == "__main__":
    sys.exit(execute(Path(sys.argv[1]), Path(sys.argv[2])))
