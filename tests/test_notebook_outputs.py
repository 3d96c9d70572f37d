"""What a learner sees when a notebook has run: no warning text, nothing on stderr that the notebook did
not write there itself, and every drafting figure beside the text it was measured on.

The runs are the session's (tests/notebook_runs.py: each notebook in fast mode, once). A warning
printed by a library the notebook imports (tqdm's "IProgress not found" in a kernel without
ipywidgets, transformers' deprecation notes about its own calls) lands on stderr, which JupyterLab
shows in red under the cell; a notebook that means to write there says so in its source
(`sys.stderr`). The checks themselves are tested on small hand-made notebooks (no kernel), so each is
seen to fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from notebook_runs import plain_run

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WARNING_TEXT = re.compile(r"\w*Warning\b|warnings\.warn|is deprecated|will be removed in|IProgress not found")
DRAFTING_FIGURE = re.compile(r"tokens? ?(per|/) ?forward", re.I)
TEXT_NAMED = {"corpus-like text": re.compile(r"corpus-like|T ?= ?1\b|temperature 1\b|real (validation )?text", re.I),
              "greedy text's repetition": re.compile(r"distinct|loop")}


def _texts(output) -> list[str]:
    """The text a learner reads in one output: a stream, or a result's plain text (not its HTML)."""
    if output.output_type == "stream":
        return [output.get("text", "")]
    if output.output_type in ("execute_result", "display_data"):
        return [output.get("data", {}).get("text/plain", "")]
    if output.output_type == "error":
        return ["\n".join(output.get("traceback", []))]
    return []


def stray_output(nb) -> list[str]:
    """One line per problem: stderr a cell did not write itself, and warning text in any output."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        own_stderr = "sys.stderr" in cell.source
        for output in cell.outputs:
            if output.output_type == "stream" and output.name == "stderr" and not own_stderr:
                problems.append(f"cell {i} wrote to stderr: {output.text.strip()[:200]!r}")
            for text in _texts(output):
                warning = WARNING_TEXT.search(text)
                if warning:
                    problems.append(f"cell {i} shows warning text {warning.group(0)!r}: {text.strip()[:200]!r}")
    return problems


def unnamed_texts(nb) -> list[str]:
    """For a notebook that prints a drafting figure: which texts its figures never name (corpus-like
    text must be quoted; greedy figures need their text's repetition beside them)."""
    printed = "\n".join(t for c in nb.cells if c.cell_type == "code" for o in c.outputs for t in _texts(o))
    if not DRAFTING_FIGURE.search(printed):
        return []
    missing = [name for name, pattern in TEXT_NAMED.items() if not pattern.search(printed)]
    if "greedy" not in printed.lower() and "greedy text's repetition" in missing:
        missing.remove("greedy text's repetition")
    return missing


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_outputs_hold_no_warning_and_nothing_on_stderr(path, notebook_runs):
    run = notebook_runs[plain_run(path.stem)]
    assert not run.error, run.error
    assert stray_output(run.notebook) == []
    assert unnamed_texts(run.notebook) == [], f"{path.stem} prints drafting figures without naming their text"


def _notebook(*cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for source, outputs in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.outputs = outputs
        nb.cells.append(cell)
    return nb


def _stream(name, text):
    return nbformat.v4.new_output("stream", name=name, text=text)


def test_stray_output_flags_library_stderr_and_warning_text_but_not_a_cells_own_stderr():
    clean = _notebook(("print(1)", [_stream("stdout", "tokens per forward 2.0\n")]))
    assert stray_output(clean) == []
    tqdm = _notebook(("import tinymtp.files.hf", [_stream("stderr", "TqdmWarning: IProgress not found. Please update")]))
    assert len(stray_output(tqdm)) == 2  # stderr, and warning text
    logged = _notebook(("x = 1", [_stream("stderr", "[transformers] Passing `generation_config` ... is deprecated")]))
    assert len(stray_output(logged)) == 2
    printed = _notebook(("print(msg)", [_stream("stdout", "UserWarning: careful")]))
    assert stray_output(printed) == ["cell 0 shows warning text 'UserWarning': 'UserWarning: careful'"]
    own = _notebook(("print('progress', file=sys.stderr)", [_stream("stderr", "progress 50%\n")]))
    assert stray_output(own) == []


def test_unnamed_texts_asks_for_corpus_like_text_and_greedy_repetition():
    greedy_only = _notebook(("", [_stream("stdout", "greedy: 3.46 tokens per forward\n")]))
    assert unnamed_texts(greedy_only) == ["corpus-like text", "greedy text's repetition"]
    both = _notebook(("", [_stream("stdout", "ON CORPUS-LIKE TEXT: 2.1 tokens per forward\n"
                                               "greedy: 3.46 tokens/forward, 21% distinct\n")]))
    assert unnamed_texts(both) == []
    sampled_only = _notebook(("", [_stream("stdout", "T=1: 2.1 tokens per forward\n")]))
    assert unnamed_texts(sampled_only) == []
    no_figure = _notebook(("", [_stream("stdout", "val loss 1.3\n")]))
    assert unnamed_texts(no_figure) == []
