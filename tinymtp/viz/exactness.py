"""Is speculative sampling exact? The distance to the exact law as runs grow, against chance's band.

`exactness_figure` draws one `analysis.exactness.second_token_check` result: for each sampler, the
total variation distance between its counted second tokens and their exact distribution after N
runs (log-log axes, so 1 / sqrt(N) is a straight line), over the band chance alone gives an exact
sampler (its mean as a dotted line, shaded up to the 99th percentile). An exact sampler's line
falls inside the band; a wrong rule's flattens above it. `acceptance_by_temperature` draws the
sampled rows of a `measure_decoding` run with several temperatures: tokens per forward and each
drafting head's conditional acceptance against the temperature, greedy's as a reference line.
Left out: the tokens after the second. Explained in notebooks/07_speculative_sampling.ipynb.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import HEAD_COLOURS, REJECTED, head_colour, layout

BAND = "rgba(0, 114, 178, 0.15)"


def exactness_figure(check: dict, title: str = "Distance to the exact law as the runs grow") -> go.Figure:
    """check: second_token_check's result. Lines per sampler; the chance band (mean, up to p99) shaded."""
    runs, chance = check["runs"], check["chance"]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=runs + runs[::-1], y=[c["p99"] for c in chance] + [0.0] * len(runs), fill="toself",
                             fillcolor=BAND, line=dict(width=0), hoverinfo="skip",
                             name="chance alone: an exact sampler lands here 99 times in 100"))
    fig.add_trace(go.Scatter(x=runs, y=[c["mean"] for c in chance], mode="lines", name="chance alone: the mean",
                             line=dict(color=HEAD_COLOURS[0], dash="dot")))
    palette = ["#444444", HEAD_COLOURS[2], REJECTED, HEAD_COLOURS[3], HEAD_COLOURS[1]]
    for i, (name, distances) in enumerate(check["distance"].items()):
        fig.add_trace(go.Scatter(x=runs, y=distances, mode="lines+markers", name=name,
                                 line=dict(color=palette[i % len(palette)], width=3),
                                 hovertemplate="%{x} runs: %{y:.3f}<extra>" + name + "</extra>"))
    fig.update_xaxes(title="runs (seeds 0 .. N-1)", type="log", tickvals=runs)
    fig.update_yaxes(title="total variation from the exact law", type="log")
    return layout(fig, title, height=380, legend=dict(orientation="h", y=-0.3))


def acceptance_by_temperature(measurement: dict, title: str = "Sampling's acceptance against the temperature") -> go.Figure:
    """Left: tokens per forward of exact speculative sampling per temperature (greedy's as a dashed
    line); right: each drafting head's conditional acceptance per temperature."""
    rows = sorted((r for r in measurement["sampled_sweep"] if r["mode"] == "speculative-sample"),
                  key=lambda r: r["temperature"])
    temperatures = [r["temperature"] for r in rows]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14,
                        subplot_titles=["tokens per forward", "conditional acceptance per head"])
    fig.add_trace(go.Scatter(x=temperatures, y=[r["tokens_per_forward"] for r in rows], mode="lines+markers",
                             name="exact speculative sampling", line=dict(color=HEAD_COLOURS[0], width=3),
                             error_y=dict(type="data", array=[r.get("standard_error") or 0 for r in rows])),
                  row=1, col=1)
    greedy = measurement["modes"].get("speculative")
    if greedy is not None:
        fig.add_hline(y=greedy["tokens_per_forward"], line=dict(color="#888888", dash="dash"), row=1, col=1,
                      annotation_text="greedy (its text loops)", annotation_position="bottom right")
    heads = max((len(r["acceptance_conditional"]) for r in rows), default=0)
    for k in range(heads):
        fig.add_trace(go.Scatter(x=temperatures, y=[r["acceptance_conditional"][k] for r in rows],
                                 mode="lines+markers", name=f"head {k + 2}", line=dict(color=head_colour(k + 2))),
                      row=1, col=2)
    fig.update_xaxes(title="temperature")
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%", row=1, col=2)
    return layout(fig, title, height=360, legend=dict(orientation="h", y=-0.3))
