"""Figures of training: every head's loss curve, distilling heads 2..n, next-token-only vs
multi-token models.

Explained in notebooks/04_training.ipynb and notebooks/08_related_ideas.ipynb.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import head_colour, layout


def running_mean(values: list, smooth: int) -> list:
    """Each value averaged with up to `smooth` - 1 values before it (the start averages fewer)."""
    window = max(1, min(smooth, len(values)))
    smoothed, running = [], 0.0
    for i, v in enumerate(values):
        running += v
        if i >= window:
            running -= values[i - window]
        smoothed.append(running / min(i + 1, window))
    return smoothed


def loss_curves(history: dict, smooth: int = 10, title: str = "Loss per head") -> go.Figure:
    """Each head's training loss (thin, smoothed over `smooth` steps) and validation loss (dots).

    history: {"train": [[step, loss_head1, ..., loss_headn], ...], "eval": [{"step", "heads": [...]}]}
    """
    fig = go.Figure()
    train_rows = history.get("train") or []
    eval_rows = history.get("eval") or []
    n = max([len(r) - 1 for r in train_rows] + [len(e.get("heads") or []) for e in eval_rows] + [0])
    for k in range(1, n + 1):
        colour = head_colour(k)
        steps = [r[0] for r in train_rows if len(r) > k]
        losses = [r[k] for r in train_rows if len(r) > k]
        if losses:
            fig.add_trace(go.Scatter(x=steps, y=running_mean(losses, smooth), mode="lines", name=f"head {k} train",
                                     legendgroup=f"h{k}", line=dict(color=colour, width=1.6)))
        points = [(e["step"], h["val_loss"]) for e in eval_rows for h in e.get("heads") or [] if h["head"] == k]
        if points:
            fig.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="markers+lines",
                                     name=f"head {k} val", legendgroup=f"h{k}",
                                     line=dict(color=colour, width=1, dash="dot"),
                                     marker=dict(color=colour, size=8, symbol="circle", line=dict(color="white", width=1))))
    fig.update_xaxes(title="training step")
    fig.update_yaxes(title="cross-entropy loss (nats)")
    return layout(fig, title, height=380, legend=dict(orientation="h", y=-0.2), margin=dict(l=10, r=10, t=90, b=10))



TARGET_NAMES = {"hard": "target: greedy's token", "soft": "KL to head 1's distribution"}


def distill_curves(history: dict, smooth: int = 10, title: str = "Distilling heads 2..n",
                   target: str = "hard") -> go.Figure:
    """Left: each drafting head's distillation loss (smoothed over `smooth` steps); right: its
    greedy agreement on held-out windows at every evaluation (tinymtp.training.distill's history).

    target: the run's DistillConfig.target, which names the loss.
    history: {"train": [[step, loss_head2, ..., loss_headn], ...],
              "eval": [{"step", "heads": [{"head": k, "greedy_agreement": share}, ...]}, ...]}
    """
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=[f"distillation loss ({TARGET_NAMES.get(target, target)})", "greedy agreement, held out"])
    train_rows = history.get("train") or []
    eval_rows = history.get("eval") or []
    heads = sorted({h["head"] for e in eval_rows for h in e.get("heads") or []}
                   | set(range(2, 2 + max([len(r) - 1 for r in train_rows] + [0]))))
    for k in heads:
        colour = head_colour(k)
        column = k - 1  # train rows hold [step, head 2, head 3, ...]
        losses = [r[column] for r in train_rows if len(r) > column]
        if losses:
            fig.add_trace(go.Scatter(x=[r[0] for r in train_rows if len(r) > column], y=running_mean(losses, smooth),
                                     mode="lines", name=f"head {k} loss", legendgroup=f"h{k}",
                                     line=dict(color=colour, width=1.6)), row=1, col=1)
        points = [(e["step"], h["greedy_agreement"]) for e in eval_rows for h in e.get("heads") or [] if h["head"] == k]
        if points:
            fig.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="markers+lines",
                                     name=f"head {k} agreement", legendgroup=f"h{k}", line=dict(color=colour, width=1),
                                     marker=dict(color=colour, size=8)), row=1, col=2)
    fig.update_xaxes(title="distillation step")
    fig.update_yaxes(title="cross-entropy loss (nats)", row=1, col=1)
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%", row=1, col=2)
    return layout(fig, title, height=380, legend=dict(orientation="h", y=-0.25), margin=dict(l=10, r=10, t=90, b=10))


def model_comparison(models: dict, title: str = "Next-token only vs multi-token prediction") -> go.Figure:
    """models: {label: checkpoint metadata}; left: next-token validation loss, right: each head's
    validation accuracy (matches the real text) against how far ahead it looks."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.38, 0.62], horizontal_spacing=0.14,
                        subplot_titles=["next-token val loss", "val accuracy per head"])
    palette = ["#888888", "#0072B2", "#D55E00", "#009E73", "#CC79A7"]
    for i, (label, meta) in enumerate(models.items()):
        colour = palette[i % len(palette)]
        loss = meta.get("next_token_val_loss")
        fig.add_trace(go.Bar(x=[label.split(" (")[0]], y=[loss], marker=dict(color=colour), name=label,
                             legendgroup=label,
                             text=["–" if loss is None else f"{loss:.3f}"], textposition="outside",
                             showlegend=False), row=1, col=1)
        heads = meta.get("heads") or []
        fig.add_trace(go.Scatter(x=[h["head"] for h in heads], y=[h["val_accuracy"] for h in heads],
                                 mode="lines+markers", name=label, legendgroup=label,
                                 line=dict(color=colour, width=2), marker=dict(size=10)), row=1, col=2)
    losses = [m.get("next_token_val_loss") or 0 for m in models.values()]
    fig.update_yaxes(range=[0, max(losses + [1]) * 1.25], title="lower is better", row=1, col=1)
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%", row=1, col=2)
    fig.update_xaxes(title="head k (looks k tokens ahead)", dtick=1, row=1, col=2)
    return layout(fig, title, height=380, legend=dict(orientation="h", y=-0.2), margin=dict(l=10, r=10, t=90, b=10))
