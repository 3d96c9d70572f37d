"""The look every tinymtp figure shares: colours, fonts, visible characters, one layout.

Every function takes plain library objects (a training history dict, a `Trace`, a
`HeadPredictions`, a `measure_decoding` result) and returns a plotly `Figure`, except
`committed_text_html`, which returns an HTML string with every character escaped.

The same colours mean the same things everywhere: each head keeps its colour (HEAD_COLOURS,
the Okabe-Ito palette, readable by colour-blind viewers), accepted drafts are green with a check
mark and rejected ones vermillion with a cross (colour AND symbol). Characters are drawn with
`show_char`, which makes spaces, newlines and tabs visible.

Read at a distance: `layout` wraps titles (plotly cuts a title that does not fit) and puts
horizontal legends under the x axis, never over a title; `projector` turns a figure into its
presentation-mode version (every text at least 16 px); marks drawn on cells are outlined in
MARK_EDGE, which `contrast_ratio` (WCAG) holds at 4.5:1 or more against every cell colour.

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
MARK_EDGE = "#1B2A41"  # the outline of marks drawn on cells: >= 4.5:1 against every cell colour
LEGEND_AXIS_PX, LEGEND_ROW_PX = 62, 24  # under the plot: room for the x axis's ticks and title, then legend rows
TITLE_CHARS = 58  # a title's line, in characters, before it wraps (fits a figure 560 px wide)
# presentation mode (projector): text at least 16 px, figures a quarter taller, shorter title lines
PRESENT_MIN_PX, PRESENT_SCALE, PRESENT_HEIGHT, PRESENT_TITLE_CHARS = 16, 1.35, 1.25, 46


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


def wrap_title(title: str, width: int = TITLE_CHARS) -> str:
    """A title broken into lines of at most about `width` characters, at spaces (plotly draws a
    title on one line and cuts whatever does not fit the figure)."""
    lines, line = [], ""
    for word in title.replace("<br>", " <br> ").split(" "):
        if word == "<br>" or (line and len(_visible(line)) + 1 + len(_visible(word)) > width):
            lines.append(line)
            line = "" if word == "<br>" else word
        else:
            line = f"{line} {word}" if line else word
    return "<br>".join(lines + [line])


def _visible(text: str) -> str:
    """What a reader sees of a plotly label (HTML entities count as one character)."""
    return html.unescape(text)


def layout(fig: go.Figure, title: str | None = None, height: int | None = None, **kwargs) -> go.Figure:
    """The shared look: template, font, a left-aligned title wrapped so no line is cut and placed
    above the plot (and above anything drawn there: top ticks, subplot titles), and horizontal
    legends below the x axis, so a legend never covers a title."""
    title = wrap_title(title) if title else None
    margin = kwargs.pop("margin", dict(l=10, r=10, t=20, b=10))
    legend = kwargs.pop("legend", None)
    if legend is not None and legend.get("orientation") == "h":
        legend, margin = _legend_below(fig, legend, margin)
    if legend is not None:
        kwargs["legend"] = legend
    use_template(fig)
    fig.update_layout(font=FONT, margin=margin, height=height, **kwargs, title=_title(fig, title) if title else None)
    return fig


def _title(fig: go.Figure, text: str) -> dict:
    """A title that sits on top of the plot and pushes the top margin to fit (plotly's automargin),
    lifted over subplot titles and top tick labels; pinned to the figure's top edge instead, plotly misplaces titles
    of several lines and cuts their first line."""
    above = [_top_axis_px(axis) for axis in fig.select_xaxes() if axis.side == "top"]
    if any(a.yref == "paper" and (a.y or 0) >= 1 for a in fig.layout.annotations):  # subplot titles
        above.append(22)
    return dict(text=text, x=0, xanchor="left", y=1, yref="paper", yanchor="bottom", automargin=True,
                pad=dict(b=10 + max(above, default=0)))


def _top_axis_px(axis) -> int:
    """About how tall a top x axis's tick labels (upright: lines; turned: characters) and title stand."""
    labels = [html.unescape(str(t)) for t in axis.ticktext or [""]]
    if axis.tickangle not in (None, 0):
        ticks = 7 * max(len(t) for t in labels)
    else:
        ticks = 18 * max(1 + t.count("<br>") for t in labels)
    return ticks + (22 if axis.title.text else 0)


def _legend_below(fig: go.Figure, legend: dict, margin: dict) -> tuple[dict, dict]:
    """A horizontal legend at the bottom edge of the figure, under the x axis's ticks and title
    (placed in plot fractions, a legend lands on the axis title whenever the plot is short), with
    a bottom margin that holds both. A legend asked above the plot (y >= 1) stays there."""
    if legend.get("y", 0) >= 1:
        return legend, margin
    placed = {**legend, "yref": "container", "y": 0, "yanchor": "bottom", "x": 0, "xanchor": "left"}
    return placed, {**margin, "b": max(margin.get("b", 0), _legend_room(fig))}


def _legend_room(fig: go.Figure, per_row: int = 3, scale: float = 1.0) -> int:
    """Pixels under the plot for the x axis and a legend of about `per_row` entries a row."""
    entries = sum(1 for t in fig.data if t.showlegend is not False and t.name)
    rows = max(1, -(-entries // per_row))
    return round((LEGEND_AXIS_PX + LEGEND_ROW_PX * rows) * scale)


def fit_title(fig: go.Figure, chars: int) -> go.Figure:
    """Re-wrap `fig`'s title to lines of about `chars` characters (for a figure narrower or wider
    than a page's full width, or in bigger type); changes `fig` in place."""
    if fig.layout.title.text:
        fig.update_layout(title_text=wrap_title(fig.layout.title.text.replace("<br>", " "), chars))
    return fig


def projector(fig: go.Figure, smallest: int = PRESENT_MIN_PX, title_chars: int = PRESENT_TITLE_CHARS) -> go.Figure:
    """The same figure for a projector (presentation mode): every text at least `smallest` px
    (fonts scaled by PRESENT_SCALE, then raised to the floor), marks and the figure a little
    larger, the title wrapped to the shorter lines its bigger font fits. Changes `fig` in place."""
    grow = lambda size, floor=smallest: max(floor, round((size or FONT["size"]) * PRESENT_SCALE))
    fig.update_layout(font_size=grow(fig.layout.font.size), legend_font_size=smallest,
                      hoverlabel_font_size=smallest)
    if fig.layout.title.text:
        fit_title(fig, title_chars).update_layout(title_font_size=smallest + 4,
                                                  title_pad_b=round((fig.layout.title.pad.b or 0) * PRESENT_SCALE))
    for note in fig.layout.annotations:
        note.font.size = grow(note.font.size)
    for trace in fig.data:
        if "textfont" in trace:
            trace.textfont.size = grow(trace.textfont.size)
        if "marker" in trace and trace.type == "scatter" and isinstance(trace.marker.size, (int, float)):
            trace.marker.size = round(trace.marker.size * PRESENT_SCALE)
    fig.for_each_xaxis(lambda a: a.update(tickfont_size=grow(a.tickfont.size), title_font_size=smallest))
    fig.for_each_yaxis(lambda a: a.update(tickfont_size=grow(a.tickfont.size), title_font_size=smallest))
    if fig.layout.legend.yref == "container":  # bigger legend text: fewer entries per row, more rows
        fig.update_layout(margin_b=_legend_room(fig, per_row=2, scale=PRESENT_SCALE))
    if fig.layout.height:
        fig.update_layout(height=round(fig.layout.height * PRESENT_HEIGHT))
    return fig


def luminance(colour: str) -> float:
    """Relative luminance of a #RRGGBB colour (WCAG 2)."""
    channels = [int(colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio of two #RRGGBB colours: 1 (none) to 21 (black on white); text and
    marks need at least 4.5 to be read from the back of a room."""
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
