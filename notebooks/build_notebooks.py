"""Build the learner's notebooks (notebooks/*.ipynb) from their sources in notebooks/sources/.

Each source is a plain text file of cells. A line `%% md` starts a markdown cell, `%% code` a
code cell; everything up to the next marker is the cell. Edit the source, then run

    .venv/bin/python notebooks/build_notebooks.py          # rewrite the .ipynb files
    .venv/bin/python notebooks/build_notebooks.py --check  # exit 1 if any .ipynb is out of date

The notebooks are written without outputs, with fixed cell ids, so rebuilding an unchanged
source gives a byte-identical file (tests/test_notebooks.py checks they are in sync).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "sources"
METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


def parse(text: str) -> list[tuple[str, str]]:
    """A source file -> [(kind, source)] with kind "md" or "code"."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.strip() in ("%% md", "%% code"):
            cells.append((line.strip()[3:], []))
        elif cells:
            cells[-1][1].append(line)
        elif line.strip():
            raise ValueError(f"text before the first cell marker: {line!r}")
    return [(kind, "\n".join(lines).strip("\n")) for kind, lines in cells]


def build(source: Path) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(metadata=METADATA)
    for i, (kind, text) in enumerate(parse(source.read_text(encoding="utf-8"))):
        make = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
        nb.cells.append(make(text, id=f"{source.stem[:2]}-{i:03d}"))
    nbformat.validate(nb)
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the notebooks are up to date")
    args = parser.parse_args()
    stale = []
    for source in sorted(SOURCES.glob("*.txt")):
        target = HERE / f"{source.stem}.ipynb"
        text = render(build(source))
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if text != current:
            stale.append(target.name)
            if not args.check:
                target.write_text(text, encoding="utf-8")
    verb = "out of date" if args.check else "rebuilt"
    print(f"{verb}: {', '.join(stale)}" if stale else "all notebooks up to date")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
