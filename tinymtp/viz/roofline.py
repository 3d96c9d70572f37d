"""Why extra tokens are nearly free on a GPU and not on this CPU: the cost of a forward as tokens are fed.

`roofline_figure` puts two curves on one pair of log axes: the roofline's cost ratio (a forward
feeding T tokens over one feeding 1) for a model of P parameters on a chip with a given FLOP/s and
memory bandwidth (analysis.cost_model.roofline_cost_ratio: flat while reading the weights dominates,
rising once the arithmetic does, past the ridge point), and the same ratio measured on this machine
(cost_model.fed_token_costs). The roofline is a lower bound on time, not a measurement: real GPU
kernels, attention over the cache and per-round overhead make extra tokens cost something before the
ridge. Left out: batch sizes above 1. Explained in notebooks/10_mtp_at_scale.ipynb.
"""

from __future__ import annotations

import plotly.graph_objects as go

from ..analysis.cost_model import roofline_cost_ratio, roofline_time
from .style import HEAD_COLOURS, layout

TOKENS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def roofline_figure(parameters: float, flops_per_second: float, bytes_per_second: float, chip: str,
                    measured: dict | None = None, measured_name: str = "this machine, measured",
                    title: str = "What feeding more tokens costs: a GPU's roofline and this CPU") -> go.Figure:
    """The roofline cost ratio against tokens fed (log axes), its ridge point marked, and the
    measured ratios ({T: ratio}, e.g. fed_token_costs(...)["ratio"]) when given."""
    ratios = [roofline_cost_ratio(parameters, t, flops_per_second, bytes_per_second) for t in TOKENS]
    ridge = roofline_time(parameters, 1, flops_per_second, bytes_per_second)["ridge"]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(TOKENS), y=ratios, mode="lines+markers", name=f"roofline bound, {chip}",
                             line=dict(color=HEAD_COLOURS[0], width=3),
                             hovertemplate="%{x} tokens: %{y:.2f}x a 1-token forward<extra>roofline</extra>"))
    if measured:
        shown = sorted(measured)
        fig.add_trace(go.Scatter(x=shown, y=[measured[t] for t in shown], mode="lines+markers", name=measured_name,
                                 line=dict(color=HEAD_COLOURS[1], width=3),
                                 hovertemplate="%{x} tokens: %{y:.2f}x a 1-token forward<extra>measured</extra>"))
    fig.add_vline(x=ridge, line=dict(color="#444444", dash="dot"),
                  annotation_text=f"ridge: {ridge:.0f} tokens", annotation_position="top left")
    fig.update_xaxes(title="tokens fed in one forward (batch 1)", type="log", tickvals=list(TOKENS))
    fig.update_yaxes(title="cost over a 1-token forward (x)", type="log")
    return layout(fig, title, height=380, legend=dict(orientation="h", y=-0.3))
