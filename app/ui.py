"""The pieces every page draws with: the explanation boxes, errors, figures, example prompts
and the tab icon. The look of the figures themselves is tinymtp.viz's; this file only places
them on the page.
"""

from __future__ import annotations

import streamlit as st
from models import ModelEntry, builtin_corpus

from tinymtp.files.paths import REPO_ROOT

NOTEBOOK_DIR = "notebooks"

EXAMPLES = [  # short: the Heads grid draws one column per character
    "def __init__(self, name):\n        self.name = name",
    "for i in range(len(items)):\n    if items[i] is None:",
    "import os\nimport sys\n\ndef main():\n    return 0",
    "class Point:\n    def __init__(self, x, y):",
    "Once upon a time, there was a little cat named Tom.",
    "One day, Lily went to the park. She found a red ball.",
]


def favicon():
    """The tab icon, drawn here (an icon font or emoji would be fetched from the internet):
    four bars, one per head, each shorter than the last."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for k, colour in enumerate(("#0072B2", "#E69F00", "#009E73", "#CC79A7")):
        draw.rounded_rectangle([6, 6 + 14 * k, 58 - 10 * k, 16 + 14 * k], radius=4, fill=colour)
    return image


def explain(markdown: str, notebook: str | None = None, title: str = "What am I looking at?") -> None:
    """A short explanation box for learners, with the notebook that goes deeper."""
    with st.container(border=True):
        st.markdown(f"**{title}**")
        st.markdown(markdown)
        if notebook:
            st.caption(f":material/menu_book: Go deeper in the notebook `{NOTEBOOK_DIR}/{notebook}`")


def diagram(name: str, caption: str) -> None:
    """One of the notebooks' diagrams (docs/NAME.svg, drawn for the project, self-contained), inside
    a closed expander so it is there when wanted and out of the way otherwise."""
    path = REPO_ROOT / "docs" / f"{name}.svg"
    if path.is_file():  # a copy of the app without docs/ simply shows no picture
        with st.expander(f":material/schema: Picture: {caption}"):
            st.image(path.read_text(encoding="utf-8"), caption=caption, width="stretch")


def explained(markdown: str, notebook: str | None = None):
    """The pages' layout: the demo in a wide left column, the explanation box on the right.
    Returns (left, right), the two columns."""
    left, right = st.columns([3, 2], gap="large")
    with right:
        explain(markdown, notebook=notebook)
    return left, right


def show_error(exc: Exception) -> None:
    """A user's mistake as one clear line on the page (never a traceback)."""
    st.error(str(exc), icon=":material/error:")


def plot(fig, key: str | None = None) -> None:
    """Draw a tinymtp.viz figure with the project's own styling (plotly.js ships with Streamlit)."""
    st.plotly_chart(fig, theme=None, key=key, config={"displaylogo": False, "displayModeBar": False})


def examples_for(tokenizer) -> list:
    """The example prompts this model's vocabulary can read."""
    return [e for e in EXAMPLES if not tokenizer.unknown_characters(e)]


def corpus_examples(entry: ModelEntry, count: int = 4, length: int = 64) -> list:
    """A few snippets of the validation text the model was trained on (built-in corpora only)."""
    from tinymtp.data.corpora import BUILT_IN, corpus_snippets

    name = entry.metadata.get("corpus")
    if entry.corpus is not None:
        text = entry.corpus.val_text
    elif name in BUILT_IN:
        text = builtin_corpus(name).val_text
    else:
        return []
    return [s for s in corpus_snippets(text, count, length) if not entry.tokenizer.unknown_characters(s)]
