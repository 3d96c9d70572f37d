"""The teaching diagrams in docs/ (embedded in the notebooks): valid SVG, self-contained, on a white
background, in the project's colour-blind-safe head colours, and embedded where the notebooks say."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIAGRAMS = {"fan-of-heads.svg": ["00_tour", "03_heads_and_loss"], "causal-chain.svg": ["03_heads_and_loss"],
            "attention-arithmetic.svg": ["02_trunk"]}
HEAD_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7"]
SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("name", sorted(DIAGRAMS))
def test_diagram_is_a_self_contained_svg_on_white(name):
    text = (ROOT / "docs" / name).read_text(encoding="utf-8")
    root = ET.fromstring(text)  # raises on malformed XML
    assert root.tag == f"{SVG}svg"
    assert root.find(f"{SVG}title") is not None, "a title, for screen readers"
    # nothing fetched to draw it: no external links, images, web fonts or stylesheets
    assert not re.search(r"(xlink:)?href\s*=\s*[\"'](?!#)", text), "an external reference"
    assert not re.search(r"<image|@import|@font-face|url\((?!#)", text), "an external resource"
    background = root.find(f"{SVG}rect")
    assert background.get("fill") == "#ffffff" and background.get("width") == root.get("width")
    colours = {c.upper() for c in re.findall(r"#[0-9A-Fa-f]{6}", text)}
    heads_drawn = 4 if name == "fan-of-heads.svg" else 3
    assert {c.upper() for c in HEAD_COLOURS[:heads_drawn]} <= colours


@pytest.mark.parametrize("name", sorted(DIAGRAMS))
def test_diagram_is_embedded_in_its_notebooks(name):
    for notebook in DIAGRAMS[name]:
        source = (ROOT / "notebooks" / f"{notebook}.py").read_text(encoding="utf-8")
        assert f"](../docs/{name})" in source, f"{notebook} does not show docs/{name}"
