"""The pieces every page draws with: the explanation boxes, errors, figures, example prompts
and the tab icon. The look of the figures themselves is tinymtp.viz's; this file only places
them on the page.
"""

from __future__ import annotations

import streamlit as st
from models import ModelEntry, builtin_corpus

from tinymtp import viz
from tinymtp.files.paths import REPO_ROOT

NOTEBOOK_DIR = "notebooks"

EXAMPLES = [  # (text, kind), short: the Heads grid draws one column per character
    ("def __init__(self, name):\n        self.name = name", "code"),
    ("for i in range(len(items)):\n    if items[i] is None:", "code"),
    ("import os\nimport sys\n\ndef main():\n    return 0", "code"),
    ("class Point:\n    def __init__(self, x, y):", "code"),
    ("Once upon a time, there was a little cat named Tom.", "English"),
    ("One day, Lily went to the park. She found a red ball.", "English"),
]
CORPUS_KINDS = {"python-stdlib": "code", "stories": "English"}  # what each built-in corpus is written in
LEFT_SHARE = 0.55  # the width of explained()'s left column, as a share of the page (3 of 5, less the gap)
PRESENT_KEY = "present"  # the sidebar's presentation toggle, the same on every page
# Presentation mode: larger prose and widgets, for a projector. The sidebar stays (navigation is
# reachable; collapse it with its arrow); figures are enlarged by tinymtp.viz.projector in plot().
PRESENTATION_CSS = """<style>
[data-testid="stMainBlockContainer"] p, [data-testid="stMainBlockContainer"] li,
[data-testid="stMainBlockContainer"] label {font-size: 1.35rem; line-height: 1.45;}
[data-testid="stMainBlockContainer"] button p {font-size: 1.1rem;}
[data-testid="stMainBlockContainer"] h1 {font-size: 2.2rem;}
[data-testid="stMainBlockContainer"] h2, [data-testid="stMainBlockContainer"] h3 {font-size: 1.9rem;}
[data-testid="stMainBlockContainer"] h5 {font-size: 1.4rem;}
[data-testid="stMetricValue"] {font-size: 2.2rem;}
.tinymtp-committed {font-size: 21px !important;}
</style>"""
# Every page: less empty space above the title, so a page's controls and its figure share one screen.
PAGE_CSS = """<style>
[data-testid="stMainBlockContainer"] {padding-top: 3rem; padding-bottom: 3rem;}
</style>"""


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
    """The pages' layout: the demo in a wide left column (LEFT_SHARE of the page: pass it to plot),
    the explanation box on the right. In presentation mode the demo takes the width and the
    explanation folds into an expander under it (the instructor says it; the screen shows the demo).
    Returns (left, right): where the demo goes, where more explanation goes."""
    if presenting():
        left = st.container()
        right = st.expander("What am I looking at?", icon=":material/help:")
    else:
        left, right = st.columns([3, 2], gap="large")
    with right:
        explain(markdown, notebook=notebook)
    return left, right


def plural(count: int, word: str) -> str:
    """"1 character", "3 characters": the count and the word that agrees with it."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def show_error(exc: Exception) -> None:
    """A user's mistake as one clear line on the page (never a traceback)."""
    st.error(str(exc), icon=":material/error:")


def presentation_toggle() -> None:
    """The sidebar's Presentation mode switch (drawn on every page, so it holds across pages), and
    the page's look for it."""
    st.sidebar.toggle("Presentation mode", key=PRESENT_KEY,
                      help="For a projector: larger text and figures (every plot text 16 px or more) on every "
                           "page. The navigation stays in the sidebar; collapse it with its arrow.")
    st.html(PAGE_CSS + (PRESENTATION_CSS if presenting() else ""))


def presenting() -> bool:
    return bool(st.session_state.get(PRESENT_KEY, False))


def plot(fig, key: str | None = None, share: float = 1.0) -> None:
    """Draw a tinymtp.viz figure with the project's own styling (plotly.js ships with Streamlit).
    `share`: the part of the page's width it gets (0.5 in one of two columns), so its title wraps
    before it would be cut. In presentation mode the figure is enlarged for a projector (changed in
    place: pass a fresh one) and gets the full width (see side_by_side)."""
    if presenting():
        viz.projector(fig)
    elif share < 1:
        viz.fit_title(fig, int(viz.TITLE_CHARS * share))
    st.plotly_chart(fig, theme=None, key=key, config={"displaylogo": False, "displayModeBar": False})


def side_by_side(spec, **kwargs) -> list:
    """st.columns(spec), except in presentation mode: one full-width block per column, one under
    the other, so every figure and its words stay large enough to read from the back of a room."""
    if presenting():
        count = spec if isinstance(spec, int) else len(spec)
        return [st.container() for _ in range(count)]
    return st.columns(spec, **kwargs)


def corpus_kind(entry: ModelEntry) -> str | None:
    """"code" or "English" for a model trained on a built-in corpus, else None (unknown text)."""
    return CORPUS_KINDS.get(str(entry.metadata.get("corpus")))


def examples_for(tokenizer, entry: ModelEntry | None = None) -> list:
    """The example prompts this model's vocabulary can read; those written like its training text
    first when the model's corpus is known."""
    usable = [(text, kind) for text, kind in EXAMPLES if not tokenizer.unknown_characters(text)]
    kind = corpus_kind(entry) if entry is not None else None
    return [text for text, k in sorted(usable, key=lambda e: kind is not None and e[1] != kind)]


def example_note(entry: ModelEntry, text: str) -> str:
    """" (English: not in this model's training text, python-stdlib)" for an example of another
    kind than the model's corpus; "" when it matches or the corpus is unknown."""
    kind, corpus = corpus_kind(entry), entry.metadata.get("corpus")
    theirs = next((k for t, k in EXAMPLES if len(text) >= 8 and t.startswith(text)), None)  # cut to fit, too
    if kind is None or theirs is None or theirs == kind:
        return ""
    return f" ({theirs}: not in this model's training text, {corpus})"


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
