"""The learner's notebooks: they are valid, committed clean, in sync with their jupytext .py sources, run top to
bottom in fast mode, and every exercise's check accepts the right answer and rejects a wrong one."""

from __future__ import annotations

import ast
import hashlib
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
import torch
from notebook_runs import plain_run

from tinymtp.exercises import EXERCISES, CodeExercise, check, grade, solution

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
EXPECTED = ["00_tour", "01_corpus_and_tokenizer", "02_trunk", "03_heads_and_loss", "04_training",
            "05_what_the_heads_know", "06_self_speculative_decoding", "07_speculative_sampling",
            "08_related_ideas", "09_trees_and_causal_heads", "10_mtp_at_scale"]
SYNC = "edit the .py source, then run .venv/bin/jupytext --sync notebooks/*.py (notebooks/README.md)"

# exercises whose right answer depends on the learner's run: a context to grade them with
CONTEXTS = {
    "05.best_drafter": {"rows": [{"head": 1, "greedy_accuracy": 1.0}, {"head": 2, "greedy_accuracy": 0.5},
                                 {"head": 3, "greedy_accuracy": 0.7}, {"head": 4, "greedy_accuracy": 0.2}]},
    "06.tokens_per_forward": {"summary": {"tokens": 60, "forwards": 24}},
}


def load(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def test_the_whole_path_is_there():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_valid_and_committed_without_outputs(path):
    nb = load(path)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a code cell has outputs"
            assert cell.execution_count is None, f"{path.name}: a code cell has an execution count"


def exercises_checked_in(nb) -> list[tuple[str, str]]:
    """(exercise id, the cell's source) for every check cell of a notebook."""
    return [(match, cell.source) for cell in nb.cells if cell.cell_type == "code"
            for match in re.findall(r'check\("(\d\d\.\w+)"', cell.source)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_states_its_goal_and_has_checked_exercises(path):
    nb = load(path)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "At the end of this notebook you will be able to" in markdown
    checked = exercises_checked_in(nb)
    assert 2 <= len(checked) <= 4, f"{path.name} has {len(checked)} exercises"
    for exercise_id, source in checked:
        assert exercise_id.startswith(path.stem[:2] + "."), f"{path.name} checks another notebook's {exercise_id}"
        blank = "raise NotImplementedError" if isinstance(EXERCISES[exercise_id], CodeExercise) else "answer = None"
        assert blank in source, f"{path.name}: the cell of {exercise_id} has no blank ({blank})"
    assert markdown.count("<summary>Solution</summary>") == len(checked)


def test_every_notebook_but_the_tour_asks_for_code():
    """Notebooks 01-10 each ask for at least one function (a code exercise); the tour asks for numbers only."""
    without_code = [p.stem for p in NOTEBOOKS
                    if not any(isinstance(EXERCISES[i], CodeExercise) for i, _ in exercises_checked_in(load(p)))]
    assert without_code == ["00_tour"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_paired_with_its_py_source_and_in_sync(path):
    source = path.with_suffix(".py")
    assert source.exists(), f"{path.name} has no paired {source.name}"
    nb = load(path)
    assert nb.metadata.jupytext.formats == "ipynb,py:percent", f"{path.name} is not paired with {source.name}"
    text = jupytext.read(source)
    ipynb_cells = [(c.cell_type, c.source) for c in nb.cells]
    py_cells = [(c.cell_type, c.source) for c in text.cells]
    for i, (mine, theirs) in enumerate(zip(py_cells, ipynb_cells)):
        assert mine == theirs, f"{path.name} cell {i} differs from {source.name}: {SYNC}"
    assert len(py_cells) == len(ipynb_cells), f"{path.name} and {source.name} differ in cell count: {SYNC}"
    ids = [c.id for c in nb.cells]
    assert len(set(ids)) == len(ids), f"{path.name} has duplicate cell ids"


def test_resyncing_unchanged_sources_leaves_the_notebooks_byte_identical(tmp_path):
    for path in NOTEBOOKS + [p.with_suffix(".py") for p in NOTEBOOKS]:
        shutil.copy(path, tmp_path / path.name)
    for path in NOTEBOOKS:  # the .py newer than its .ipynb: --sync rewrites the .ipynb from it
        os.utime(tmp_path / path.name, (1_000_000_000, 1_000_000_000))
    proc = subprocess.run([sys.executable, "-m", "jupytext", "--sync", *sorted(map(str, tmp_path.glob("*.py")))],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for path in NOTEBOOKS + [p.with_suffix(".py") for p in NOTEBOOKS]:
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), f"re-syncing changes {path.name}: {SYNC}"


def _wrong(right):
    if isinstance(right, str):
        return right + "?"
    if isinstance(right, (list, tuple)):
        return [_wrong(x) for x in right]
    return right * 1.5 + 1


NUMBER_EXERCISES = sorted(i for i, e in EXERCISES.items() if not isinstance(e, CodeExercise))
CODE_EXERCISES = sorted(i for i, e in EXERCISES.items() if isinstance(e, CodeExercise))


@pytest.mark.parametrize("exercise_id", NUMBER_EXERCISES)
def test_exercise_checks_grade_right_and_wrong_answers(exercise_id, capsys):
    context = CONTEXTS.get(exercise_id, {})
    right = solution(exercise_id, **context)
    assert grade(exercise_id, right, **context)[0] == "correct"
    assert grade(exercise_id, _wrong(right), **context)[0] == "wrong"
    assert grade(exercise_id, None, **context)[0] == "unanswered"
    for odd in ("not a number", [1, 2], object(), math.nan):  # a learner's odd answer never raises
        assert grade(exercise_id, odd, **context)[0] in ("correct", "wrong")
    check(exercise_id, None, **context)
    assert "not answered yet" in capsys.readouterr().out


def _template(*args):
    raise NotImplementedError  # replace this line with your code


def _buggy(*args):
    raise IndexError("index 7 is out of bounds\nfor dimension 0 with size 7")


def _vandal(*args):  # changes its inputs in place, then returns nonsense
    for arg in args:
        if isinstance(arg, torch.Tensor):
            arg.zero_()
    return "oops"


@pytest.mark.parametrize("exercise_id", CODE_EXERCISES)
def test_code_exercise_grades_right_wrong_and_unanswered_functions(exercise_id, capsys):
    exercise = EXERCISES[exercise_id]
    assert grade(exercise_id, solution(exercise_id)) == ("correct", f"correct! ({len(exercise.hidden_cases())} hidden cases)")
    status, message = grade(exercise_id, exercise.wrong)
    assert status == "wrong" and "expected" in message and exercise.hint in message
    for blank in (None, _template):
        assert grade(exercise_id, blank)[0] == "unanswered"
    status, message = grade(exercise_id, _buggy)
    assert status == "wrong" and "raised IndexError: index 7 is out of bounds for dimension 0 with size 7" in message
    assert len(message.splitlines()) == 2  # what went wrong, then the hint
    for odd in (_vandal, lambda *args: None, lambda *args: object(), 42, "head_targets"):  # never raises
        assert grade(exercise_id, odd)[0] == "wrong"
    assert grade(exercise_id, solution(exercise_id))[0] == "correct"  # _vandal spoiled no hidden case
    check(exercise_id, _template)
    assert "not answered yet" in capsys.readouterr().out


def _solution_code(nb, exercise_id: str) -> str:
    """The Python block of the folded solution right after the exercise's check cell."""
    cells = nb.cells
    at = next(i for i, c in enumerate(cells) if c.cell_type == "code" and f'check("{exercise_id}"' in c.source)
    folded = cells[at + 1].source
    assert "<summary>Solution</summary>" in folded, f"{exercise_id}: no folded solution after its cell"
    return re.search(r"```python\n(.*?)```", folded, re.DOTALL).group(1)


@pytest.mark.parametrize("exercise_id", CODE_EXERCISES)
def test_code_exercise_folded_solution_passes_its_check(exercise_id):
    path = next(p for p in NOTEBOOKS if p.stem.startswith(exercise_id[:2]))
    nb = load(path)
    imports = "\n".join(ast.unparse(node) for c in nb.cells if c.cell_type == "code"
                        for node in ast.parse(c.source).body if isinstance(node, (ast.Import, ast.ImportFrom)))
    namespace: dict = {}
    exec(imports + "\n" + _solution_code(nb, exercise_id), namespace)
    function = re.search(r'check\("' + re.escape(exercise_id) + r'", (\w+)\)', "\n".join(
        c.source for c in nb.cells)).group(1)
    assert grade(exercise_id, namespace[function])[0] == "correct"


def test_every_exercise_is_used_in_a_notebook():
    sources = "\n".join(c.source for p in NOTEBOOKS for c in load(p).cells)
    for exercise_id in EXERCISES:
        assert f'check("{exercise_id}"' in sources, f"{exercise_id} is never checked in a notebook"


def test_checks_accept_natural_forms_of_an_answer():
    assert grade("02.scores_shape", torch.Size([2, 4, 5, 5]))[0] == "correct"
    assert grade("02.scores_shape", [2, 4, 5, 5])[0] == "correct"
    assert grade("01.head3_target", " X ")[0] == "correct"
    assert grade("03.initial_loss", torch.tensor(161.0).log())[0] == "correct"
    assert grade("03.decay_weights", (1, 0.16, 0.128))[0] == "correct"
    assert grade("01.window_length", True)[0] == "wrong"


def snapshot(folder: Path) -> dict:
    """Every file under `folder` with a digest of its bytes (a short message when they differ)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, notebook_runs, request):
    """Each notebook in fast mode (TINYMTP_FAST=1: short training; each run made once per session by
    tests/notebook_runs.py) with an empty runs/ folder, so notebooks 05-09 study the shipped model,
    except notebook 04: it runs beside a learner's saved runs/my-model, which its 40-step fast-mode
    model must leave byte for byte (nothing else written there either)."""
    run = notebook_runs[plain_run(path.stem)]
    assert not run.error, run.error
    nb = run.notebook
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    for cell in nb.cells:  # every blank exercise, a number or a function, reads as not answered yet
        if cell.cell_type == "code" and re.search(r'check\("\d\d\.', cell.source):
            printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            assert "not answered yet" in printed, f"{path.name}: {cell.source.splitlines()[-1]} printed {printed!r}"
    if path.stem == "04_training":
        assert snapshot(run.runs) == snapshot(request.getfixturevalue("learner_runs"))


@pytest.mark.parametrize("where", ["notebooks/00_tour.py", "README.md", "notebooks/README.md"])
def test_every_notebook_is_listed_in_the_tour_and_both_readmes(where):
    text = (ROOT / where).read_text(encoding="utf-8")
    missing = [name for name in EXPECTED if name not in text]
    assert missing == [], f"{where} does not list {missing}"
