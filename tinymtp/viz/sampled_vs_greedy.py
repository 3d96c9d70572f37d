"""The repetition trap, side by side: how many tokens a forward pass yields, and on what text.

Greedy continuations of a model this small fall into loops (mostly runs of spaces), and inside a
loop every draft is easy, so greedy's tokens per forward is mostly the loop's. Exact speculative
sampling at temperature 1 writes text with the corpus's own statistics, which is the text a
drafting figure should be quoted on. `trap_figure` puts the two next to each other from one
`speedup.measure_decoding` result (a plan with `temperatures=(1.0,)`): left, tokens per forward
(greedy's before its loops too); right, the share of distinct 8-character pieces of each text
and, as the yardstick, of the corpus's own continuations of the same prompts
(`speedup.corpus_reference`).

Left out: the speed-up (decoding.speedup_vs_heads draws it). Explained in
notebooks/06_self_speculative_decoding.ipynb ("the repetition trap").
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import REJECTED, layout

SAMPLED, GREEDY, CORPUS = "#0072B2", "#888888", "#009E73"


def trap_rows(measurement: dict) -> list:
    """(label, row, colour) for the figure (labels may hold <br>): exact speculative sampling at the
    plan's first temperature, then greedy self-speculative decoding with every head drafting."""
    chosen = []
    sampled = measurement.get("sampled")
    if sampled:
        chosen.append((f"sampled<br>T={sampled['temperature']:g}", sampled, SAMPLED))
    greedy = measurement["modes"]["speculative"]
    chosen.append((f"greedy<br>draft_len {greedy['draft_len']}", greedy, GREEDY))
    return chosen


def trap_figure(measurement: dict, reference: dict | None = None,
                title: str = "Greedy and sampled text side by side: drafting and repetition") -> go.Figure:
    """Left: tokens per forward of speculative decoding on sampled and on greedy text (greedy's
    before its loops hatched beside it). Right: distinct 8-character pieces of each text, and of
    the corpus's own text when `reference` (pooled_statistics) is given."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.16,
                        subplot_titles=["characters per forward pass", "distinct 8-character pieces"])
    rows = trap_rows(measurement)
    for label, row, colour in rows:
        error = row.get("standard_error")
        fig.add_trace(go.Bar(x=[label], y=[row["tokens_per_forward"]], marker=dict(color=colour), showlegend=False,
                             error_y=dict(type="data", array=[error]) if error else None,
                             text=[f"{row['tokens_per_forward']:.2f}"], textposition="outside"), row=1, col=1)
        if row.get("tokens_per_forward_before_loop") is not None and row.get("looping"):
            before = row["tokens_per_forward_before_loop"]
            fig.add_trace(go.Bar(x=["greedy,<br>before loops"], y=[before], showlegend=False,
                                 marker=dict(color="white", line=dict(color=colour, width=2), pattern_shape="/",
                                             pattern_fgcolor=colour),
                                 text=[f"{before:.2f}"], textposition="outside"), row=1, col=1)
    texts = [(label, row.get("distinct_8"), colour, row.get("looping")) for label, row, colour in rows]
    if reference is not None:
        texts.insert(0, ("the corpus's<br>own text", reference.get("distinct_8"), CORPUS, reference.get("looping")))
    for label, share, colour, looping in texts:
        note = f"{share:.0%}" if share is not None else "–"
        if looping:
            note += f"<br>{looping:.0%} loop"
        fig.add_trace(go.Bar(x=[label], y=[share or 0], marker=dict(color=REJECTED if looping and looping >= 0.5
                                                                    else colour),
                             showlegend=False, text=[note], textposition="outside"), row=1, col=2)
    top = max([r["tokens_per_forward"] for _, r, _ in rows] + [1.0])
    fig.update_yaxes(range=[0, top * 1.3], row=1, col=1)
    fig.update_yaxes(range=[0, 1.25], tickformat=".0%", row=1, col=2)
    fig.update_xaxes(tickangle=0)
    return layout(fig, title, height=380, margin=dict(l=10, r=10, t=20, b=10))
