"""Figures of what the model computes: each head's guesses over a text, top-k bars, the two
accuracies, attention weights, and distributions side by side.

Explained in notebooks/02_trunk.ipynb, 05_what_the_heads_know.ipynb and 07_speculative_sampling.ipynb.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import ACCEPTED, MARK_EDGE, MONO, head_colour, layout, plot_text, show_char

# the Heads grid's cells, white (unsure) to blue (sure): light enough that dark text and the
# MARK_EDGE outline of the match marks keep 4.5:1 on every one (tests/test_viz_stage.py)
GRID_COLOURS = [[0, "#FFFFFF"], [0.5, "#C6DBEF"], [1, "#5B9BD5"]]


def head_grid(pred, title: str | None = "Each head's top guess", last: int | None = None) -> go.Figure:
    """The Heads grid: columns are the prompt's positions t, rows heads 1..n (head 1 on top).

    Cell (k, t) shows head k's top-1 guess for x[t+k], shaded by its probability. A green
    circle marks a guess that matches the real text x[t+k]; an orange diamond one that matches
    what head 1 would generate k steps after x[0..t] (what speculative decoding checks).
    `last` draws only the prompt's last `last` positions (cells wide enough for large text).
    """
    T, n = pred.length, pred.n_heads
    first_t = max(0, T - last) if last else 0
    z, text, hover = [], [], []
    for k in range(1, n + 1):
        z_row, text_row, hover_row = [], [], []
        for t in range(first_t, T):
            guess, p = pred.top_chars[t][k - 1][0], pred.top_probs[t][k - 1][0]
            real = pred.real[t][k - 1]
            real_txt = "past the prompt" if real is None else repr(show_char(pred.chars[t + k]))
            z_row.append(p)
            text_row.append(plot_text(guess))
            hover_row.append(
                f"after {plot_text(repr(''.join(pred.chars[max(0, t - 11): t + 1])))} (t={t})<br>"
                f"head {k} guesses {plot_text(repr(show_char(guess)))} for t+{k} with p={p:.2f}<br>"
                f"real text: {plot_text(real_txt)}<br>"
                f"head 1 would generate: {plot_text(repr(show_char(pred.greedy_chars[t][k - 1])))}")
        z.append(z_row)
        text.append(text_row)
        hover.append(hover_row)
    fig = go.Figure(go.Heatmap(
        z=z, x=list(range(first_t, T)), y=list(range(1, n + 1)), text=text, texttemplate="%{text}",
        textfont=dict(family=MONO, size=16), customdata=hover, hovertemplate="%{customdata}<extra></extra>",
        colorscale=GRID_COLOURS, zmin=0, zmax=1, xgap=2, ygap=2,
        colorbar=dict(title=dict(text="probability", side="right"), thickness=12, len=0.9)))
    for label, symbol, colour, dx, dy, test in (
            ("matches the real text x[t+k]", "circle", ACCEPTED, 0.3, -0.28, lambda t, k: pred.matches_text(t, k)),
            ("matches what head 1 would generate", "diamond", "#E69F00", 0.3, 0.28,
             lambda t, k: pred.matches_greedy(t, k))):
        first = 2 if symbol == "diamond" else 1  # head 1 always matches its own generation: no marks
        xs = [t + dx for k in range(first, n + 1) for t in range(first_t, T) if test(t, k)]
        ys = [k + dy for k in range(first, n + 1) for t in range(first_t, T) if test(t, k)]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=label, hoverinfo="skip",  # outlined: seen on any cell
                                 marker=dict(symbol=symbol, size=10, color=colour, line=dict(color=MARK_EDGE, width=2))))
    fig.update_xaxes(tickvals=list(range(first_t, T)), ticktext=[plot_text(c) for c in pred.chars[first_t:]], tickangle=0,
                     tickfont=dict(family=MONO, size=13), title="the prompt, position t (the character just read)",
                     showgrid=False, zeroline=False, range=[first_t - 0.5, T - 0.5])
    fig.update_yaxes(tickvals=list(range(1, n + 1)), autorange="reversed", showgrid=False, zeroline=False,
                     ticktext=[f"head {k} → t+{k}" for k in range(1, n + 1)])
    return layout(fig, title, height=190 + 58 * n, legend=dict(orientation="h"))


def topk_bars(pred, t: int, title: str | None = None) -> go.Figure:
    """Every head's top-k guesses at position t, one panel per head; the bar matching the real text
    has a green outline and a ✓ in its label, the one matching head 1's generation a ◆."""
    n = pred.n_heads
    fig = make_subplots(rows=1, cols=n, shared_yaxes=False, horizontal_spacing=0.06,
                        subplot_titles=[f"head {k}: x[t+{k}]" for k in range(1, n + 1)])
    for k in range(1, n + 1):
        chars = pred.top_chars[t][k - 1]
        probs = pred.top_probs[t][k - 1]
        ids = pred.top_tokens[t][k - 1]
        real, greedy = pred.real[t][k - 1], pred.greedy[t][k - 1]
        labels, outlines = [], []
        for ch, tok in zip(chars, ids, strict=True):
            marks = (" ✓" if tok == real else "") + (" ◆" if tok == greedy else "")
            labels.append(f"{plot_text(repr(show_char(ch)))}{marks}")
            outlines.append(ACCEPTED if tok == real else "rgba(0,0,0,0)")
        fig.add_trace(go.Bar(x=probs[::-1], y=labels[::-1], orientation="h", marker=dict(
            color=head_colour(k), line=dict(color=outlines[::-1], width=3)), showlegend=False,
            text=[f"{p:.2f}" for p in probs[::-1]], textposition="auto",
            hovertemplate="%{y}: p=%{x:.3f}<extra>head " + str(k) + "</extra>"), row=1, col=k)
        fig.update_xaxes(range=[0, 1], row=1, col=k, showgrid=True)
        fig.update_yaxes(tickfont=dict(family=MONO), row=1, col=k)
    title = title or (f"Top guesses after {plot_text(repr(''.join(pred.chars[max(0, t - 15): t + 1])))} "
                      f"(t={t}) · ✓ real text · ◆ head 1 would generate")
    return layout(fig, title, height=280, margin=dict(l=10, r=10, t=80, b=10))


def head_accuracy(rows: list, title: str = "Accuracy per head: two meanings") -> go.Figure:
    """Both accuracies against the distance k a head looks ahead (rows from `accuracy_rows`)."""
    heads = [r["head"] for r in rows]
    fig = go.Figure()
    for key, name, colour, pattern in (
            ("text_accuracy", "matches the real text", ACCEPTED, ""),
            ("greedy_accuracy", "matches what head 1 would generate (predicts speed-up)", "#E69F00", "/")):
        values = [r[key] for r in rows]
        fig.add_trace(go.Bar(x=heads, y=values, name=name, marker=dict(color=colour, pattern_shape=pattern),
                             text=["–" if v is None else f"{v:.0%}" for v in values], textposition="outside"))
    fig.update_xaxes(title="head k (looks k tokens ahead)", tickvals=heads, ticktext=[f"head {k}" for k in heads])
    fig.update_yaxes(title="top-1 accuracy", range=[0, 1.15], tickformat=".0%")
    return layout(fig, title, height=320, barmode="group", legend=dict(orientation="h", y=-0.25))



def attention_map(weights, chars: list, title: str | None = "Attention weights") -> go.Figure:
    """One attention head's weights (T queries x S keys, a tensor or nested list) as a heatmap,
    with the characters on both axes: row t shows how much query t looks at each key s."""
    rows = weights.tolist() if hasattr(weights, "tolist") else [list(r) for r in weights]
    T, S = len(rows), len(rows[0]) if rows else 0
    keys = [plot_text(c) for c in chars[-S:]] if S else []
    fig = go.Figure(go.Heatmap(
        z=rows, x=list(range(S)), y=list(range(T)), colorscale="Blues", zmin=0, zmax=1, xgap=1, ygap=1,
        hovertemplate="query %{y} looks at key %{x}: weight %{z:.3f}<extra></extra>",
        colorbar=dict(title=dict(text="weight", side="right"), thickness=12)))
    fig.update_xaxes(tickvals=list(range(S)), ticktext=keys, tickangle=0, side="top", title="key s (looked at)",
                     tickfont=dict(family=MONO, size=12), showgrid=False, zeroline=False)
    fig.update_yaxes(tickvals=list(range(T)), ticktext=[plot_text(c) for c in chars[-T:]], autorange="reversed",
                     title="query t (looking)", tickfont=dict(family=MONO, size=12), showgrid=False, zeroline=False)
    side = 24 * max(T, 4) + 120
    return layout(fig, title, height=min(side, 720), margin=dict(l=10, r=10, t=90 if title else 60, b=10))


def distributions(named: dict, labels: list, title: str | None = "Distributions") -> go.Figure:
    """Grouped bars, one group per outcome in `labels`, one bar colour per named distribution:
    {"p (the target)": [...], "observed": [...]} (each a list of probabilities in label order)."""
    palette = ["#888888", "#0072B2", "#D55E00", "#009E73", "#CC79A7"]
    fig = go.Figure()
    for i, (name, probs) in enumerate(named.items()):
        values = [float(p) for p in probs]
        fig.add_trace(go.Bar(x=[plot_text(str(lab)) for lab in labels], y=values, name=name,
                             marker=dict(color=palette[i % len(palette)]), text=[f"{v:.2f}" for v in values],
                             textposition="outside"))
    top = max([float(p) for probs in named.values() for p in probs] + [0.1])
    fig.update_yaxes(title="probability", range=[0, min(1.0, top * 1.25) + 0.05])
    fig.update_xaxes(title="outcome", tickfont=dict(family=MONO))
    return layout(fig, title, height=320, barmode="group", legend=dict(orientation="h", y=-0.3))
