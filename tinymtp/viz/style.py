"""The look every tinymtp figure shares: colours, fonts, visible characters, one layout.

Every function takes plain library objects (a training history dict, a `Trace`, a
`HeadPredictions`, a `measure_decoding` result) and returns a plotly `Figure`, except
`committed_text_html`, which returns an HTML string with every character escaped.

The same colours mean the same things everywhere: each head keeps its colour (HEAD_COLOURS,
the Okabe-Ito palette, readable by colour-blind viewers), accepted drafts are green with a check
mark and rejected ones vermillion with a cross (colour AND symbol). Characters are drawn with
`show_char`, which makes spaces, newlines and tabs visible.

Explained in notebooks/05_what_the_heads_know.ipynb and notebooks/06_self_speculative_decoding.ipynb.
"""

from __future__ import annotations

import functools
import html

import plotly.graph_objects as go
import plotly.io as pio

HEAD_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#8C6D31", "#000000"]
ACCEPTED, REJECTED, UNUSED = "#009E73", "#D55E00", "#BBBBBB"
ACCEPT_MARK, REJECT_MARK = "✓", "✗"
# pale backgrounds for the text each round committed (cycled), dark enough to tell apart
ROUND_COLOURS = ["#DCEBFA", "#FDE8C8", "#D7F0E5", "#F6DCEB", "#E8E2F7", "#FBE0D5", "#E9EFC9", "#D9EEF4"]
TEMPLATE = "plotly_white"
FONT = dict(family="Source Sans Pro, Helvetica Neue, Arial, sans-serif", size=13)
MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace"

_VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}


def head_colour(k: int) -> str:
    """Head k's colour (1-based); the same in every figure."""
    return HEAD_COLOURS[(k - 1) % len(HEAD_COLOURS)]


def show_char(ch: str) -> str:
    """A character as a label: whitespace made visible, other control characters as \\xNN."""
    if ch in _VISIBLE:
        return _VISIBLE[ch]
    if len(ch) == 1 and (ord(ch) < 32 or ord(ch) == 127):
        return f"\\x{ord(ch):02x}"
    return ch


def plot_text(text: str) -> str:
    """Text for a plotly label: visible whitespace, and <, >, & escaped (plotly reads some HTML)."""
    return html.escape("".join(show_char(c) for c in text), quote=False)


@functools.cache
def template_object() -> go.layout.Template:
    """TEMPLATE as plotly's Template object, looked up once per process."""
    return pio.templates[TEMPLATE]


def use_template(fig: go.Figure) -> go.Figure:
    """Give `fig` the shared template without rebuilding it.

    `fig.update_layout(template=...)` validates the template by constructing a fresh copy of
    every one of its hundreds of settings: about 20 ms per figure, most of a small figure's
    cost, paid again on every figure the app redraws. The template is plotly's own, already
    valid, so it is assigned unvalidated, as plotly itself assigns its default template
    (BaseFigure._initialize_layout_template); the figure still gets its own copy, and its
    content is the same as with update_layout (tests/test_app_speed.py checks it).
    """
    fig.layout._validate = False
    try:
        fig.layout.template = template_object()
    finally:
        fig.layout._validate = True
    return fig


def layout(fig: go.Figure, title: str | None = None, height: int | None = None, **kwargs) -> go.Figure:
    margin = kwargs.pop("margin", dict(l=10, r=10, t=50 if title else 20, b=10))
    use_template(fig)
    fig.update_layout(font=FONT, title=dict(text=title, x=0, xanchor="left") if title else None,
                      margin=margin, height=height, **kwargs)
    return fig
