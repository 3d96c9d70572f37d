"""The notebook cells that draw results which may land later (issue 25's curriculum in notebook 08,
issue 22's drafters in notebook 09): with no saved result they say so in one line; with one, they
print its title, command and findings and draw its figure.

The cells are the notebooks' own code (read from the jupytext sources, found by the experiment they
ask for), run in this process with `load_results` pointed at a folder: either an empty one, or one
holding results of `experiment curriculum --smoke` and `experiment drafters --smoke` made here (the
real files are being written by long runs and may be missing). `Figure.show` is replaced by a list
that collects the figures, so nothing opens a browser.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import plotly.graph_objects as go
import pytest

from tinymtp import viz
from tinymtp.experiments import describe, load_results

ROOT = Path(__file__).resolve().parent.parent
CELLS = {"curriculum": ("08_related_ideas", 'r.get("experiment") == "curriculum"'),
         "drafters": ("09_trees_and_causal_heads", 'r.get("experiment") == "drafters"')}


def notebook_cell(notebook: str, marker: str) -> str:
    """The source of the one code cell of `notebook` that contains `marker`."""
    cells = [c.source for c in jupytext.read(ROOT / "notebooks" / f"{notebook}.py").cells
             if c.cell_type == "code" and marker in c.source]
    assert len(cells) == 1, f"{notebook}: {len(cells)} code cells contain {marker!r}"
    return cells[0]


def run_cell(experiment: str, folder: Path, monkeypatch) -> list:
    """Run the notebook's cell for `experiment` with the results in `folder`; the figures it showed."""
    notebook, marker = CELLS[experiment]
    shown = []
    monkeypatch.setattr(go.Figure, "show", lambda fig, *args, **kwargs: shown.append(fig))
    saved = load_results(folder)[0]
    namespace = {"saved": saved, "load_results": lambda: load_results(folder), "viz": viz, "describe": describe}
    exec(compile(notebook_cell(notebook, marker), f"{notebook}.py", "exec"), namespace)  # noqa: S102
    return shown


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    """A results folder holding smoke-sized curriculum and drafters results, made by the CLI."""
    from tinymtp.cli.main import main

    out = tmp_path_factory.mktemp("results")
    for experiment in CELLS:
        assert main(["experiment", experiment, "--smoke", "--seeds", "2", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("experiment", sorted(CELLS))
def test_a_missing_result_is_said_in_one_line(experiment, tmp_path, monkeypatch, capsys):
    shown = run_cell(experiment, tmp_path, monkeypatch)
    printed = capsys.readouterr().out.strip().splitlines()
    assert shown == [] and len(printed) == 1
    assert printed[0].startswith(f"no saved {experiment} result in results/ yet")


@pytest.mark.slow  # two experiments, smoke-sized
@pytest.mark.parametrize("experiment", sorted(CELLS))
def test_a_saved_result_is_printed_with_its_findings_and_drawn(experiment, smoke_results, monkeypatch, capsys):
    shown = run_cell(experiment, smoke_results, monkeypatch)
    printed = capsys.readouterr().out
    result = load_results(smoke_results)[0][experiment]
    assert f"{result['title']}  ({result['command']})" in printed
    assert result["findings"] and all(f"  - {finding}" in printed for finding in result["findings"])
    assert "no saved" not in printed
    assert len(shown) == 1 and shown[0].data  # the experiment's own figure, with its traces
