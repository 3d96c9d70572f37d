"""Plotly figures of the experiments, drawn from their results JSON alone.

`experiment_figure(result)` picks the figure for `result["experiment"]`, so a saved
`results/NAME.json` can be drawn anywhere (the app's Compare page, notebook 08). Seeds are shown, not hidden: bars and lines are means, error bars and
bands the spread across seeds (standard deviation for bars, min to max for bands). Same look as
tinymtp/viz/: its template, fonts and `layout`; n = 1 is always grey.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import layout

N_COLOURS = {1: "#888888", 2: "#0072B2", 3: "#009E73", 4: "#D55E00"}
TYPE_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"]



def n_colour(n: int) -> str:
    return N_COLOURS.get(n, "#CC79A7")


def type_colour(result: dict, head_type: str) -> str:
    types = result["settings"].get("head_types") or [head_type]
    index = types.index(head_type) if head_type in types else len(types)
    return TYPE_COLOURS[index % len(TYPE_COLOURS)]


def _bar(x, stats: list, name: str, colour: str, showlegend: bool = True, digits: int = 3) -> go.Bar:
    return go.Bar(x=x, y=[s["mean"] for s in stats], name=name, legendgroup=name, showlegend=showlegend,
                  marker=dict(color=colour), error_y=dict(type="data", array=[s["std"] for s in stats]),
                  text=[f"{s['mean']:.{digits}f}" for s in stats], textposition="outside",
                  hovertemplate="%{x}: %{y:.4f}<extra>" + name + "</extra>")


def _band(fig, steps, curve, name, colour, row=1, col=1, showlegend=True):
    """A mean line with a shaded min-max band across seeds."""
    fig.add_trace(go.Scatter(x=steps + steps[::-1], y=[p["max"] for p in curve] + [p["min"] for p in curve][::-1],
                             fill="toself", fillcolor=colour, opacity=0.15, line=dict(width=0), hoverinfo="skip",
                             showlegend=False, legendgroup=name), row=row, col=col)
    fig.add_trace(go.Scatter(x=steps, y=[p["mean"] for p in curve], mode="lines+markers", name=name,
                             legendgroup=name, showlegend=showlegend, line=dict(color=colour, width=2),
                             marker=dict(size=5)), row=row, col=col)


def ntp_vs_mtp_figure(result: dict, title: str | None = None) -> go.Figure:
    """Head 1's val loss and accuracy per corpus, one bar per n."""
    rows = result["summary"]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=["head-1 val loss (lower is better)", "head-1 val accuracy"])
    corpora = list(dict.fromkeys(r["corpus"] for r in rows))
    for n in dict.fromkeys(r["n_heads"] for r in rows):
        group = [next(r for r in rows if r["corpus"] == c and r["n_heads"] == n) for c in corpora]
        name = f"n={n}" + (" (next-token only)" if n == 1 else "")
        fig.add_trace(_bar(corpora, [g["head1_val_loss"] for g in group], name, n_colour(n)), row=1, col=1)
        fig.add_trace(_bar(corpora, [g["head1_val_accuracy"] for g in group], name, n_colour(n), False), row=1, col=2)
    top = max(r["head1_val_loss"]["max"] for r in rows)
    fig.update_yaxes(range=[0, top * 1.2], row=1, col=1)
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%", row=1, col=2)
    minutes = result["settings"]["budget_seconds_per_run"] / 60
    return layout(fig, title or f"{result['title']} ({minutes:g} min per run)", height=400, barmode="group",
                   legend=dict(orientation="h", y=-0.15), margin=dict(l=10, r=10, t=90, b=10))


def curves_figure(result: dict, metric_label: str, title: str | None = None, chance: float | None = None) -> go.Figure:
    """One panel per model size: the score against training steps, one line per n."""
    rows = result["summary"]
    sizes = list(dict.fromkeys(r["size"] for r in rows))
    fig = make_subplots(rows=1, cols=len(sizes), subplot_titles=sizes, shared_yaxes=True, horizontal_spacing=0.05)
    for col, size in enumerate(sizes, start=1):
        for row in [r for r in rows if r["size"] == size]:
            n = row["n_heads"]
            _band(fig, [p["step"] for p in row["curve"]], row["curve"], f"n={n}", n_colour(n), col=col,
                  showlegend=col == 1)
        if chance is not None:
            label = dict(annotation_text="chance", annotation_position="top left") if col == 1 else {}
            fig.add_hline(y=chance, line=dict(color="#999999", dash="dot"), row=1, col=col, **label)
        fig.update_xaxes(title="training step", row=1, col=col)
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    fig.update_yaxes(title=metric_label, row=1, col=1)
    return layout(fig, title or result["title"], height=400, legend=dict(orientation="h", y=-0.2),
                   margin=dict(l=10, r=10, t=90, b=10))


def induction_figure(result: dict, title: str | None = None) -> go.Figure:
    return curves_figure(result, "second-copy accuracy (head 1)", title, chance=result["settings"].get("chance"))


def addition_figure(result: dict, title: str | None = None) -> go.Figure:
    """Left: exact match against steps; right: the final accuracy of each answer digit."""
    rows = result["summary"]
    size = rows[0]["size"]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1, column_widths=[0.55, 0.45],
                        subplot_titles=[f"exact match ({size})", "final accuracy per answer digit"])
    for row in [r for r in rows if r["size"] == size]:
        n = row["n_heads"]
        _band(fig, [p["step"] for p in row["curve"]], row["curve"], f"n={n}", n_colour(n))
        digits = [f"digit {i}" for i in range(1, len(row["digit_accuracy"]) + 1)]
        fig.add_trace(_bar(digits, row["digit_accuracy"], f"n={n}", n_colour(n), False, digits=2), row=1, col=2)
    fig.update_yaxes(range=[0, 1.1], tickformat=".0%")
    fig.update_xaxes(title="training step", row=1, col=1)
    return layout(fig, title or result["title"], height=400, barmode="group", legend=dict(orientation="h", y=-0.2),
                   margin=dict(l=10, r=10, t=90, b=10))


def how_many_heads_figure(result: dict, title: str | None = None) -> go.Figure:
    """Speed-up and tokens per forward against K, one line per head type, with the ceiling K."""
    rows = result["summary"]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=["speed-up over greedy (wall clock)", "tokens per forward"])
    ks = sorted({r["heads"] for r in rows})
    for head_type in dict.fromkeys(r["head_type"] for r in rows):
        sweep = [r for r in rows if r["head_type"] == head_type]
        colour = type_colour(result, head_type)
        for col, key in ((1, "speedup"), (2, "tokens_per_forward")):
            fig.add_trace(go.Scatter(x=[r["heads"] for r in sweep], y=[r[key]["mean"] for r in sweep],
                                     error_y=dict(type="data", array=[r[key]["std"] for r in sweep]),
                                     mode="lines+markers", name=head_type, legendgroup=head_type,
                                     showlegend=col == 1, line=dict(color=colour, width=2), marker=dict(size=8)),
                          row=1, col=col)
    fig.add_trace(go.Scatter(x=ks, y=ks, mode="lines", name="ceiling: K tokens per forward",
                             line=dict(color="#999999", dash="dot")), row=1, col=2)
    fig.add_hline(y=1, line=dict(color="#999999", dash="dot"), row=1, col=1)
    fig.update_xaxes(title="K (heads 2..K draft)", tickvals=ks)
    fig.update_yaxes(rangemode="tozero")
    return layout(fig, title or result["title"], height=400, legend=dict(orientation="h", y=-0.2),
                   margin=dict(l=10, r=10, t=90, b=10))


def head_types_figure(result: dict, title: str | None = None) -> go.Figure:
    """Head 1's val loss, each head's accuracy against k, and the speed-up, per head type."""
    rows = result["summary"]
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08, column_widths=[0.34, 0.36, 0.30],
                        subplot_titles=["head-1 val loss (lower is better)", "val accuracy per head",
                                        "speed-up, all heads drafting"])
    for row in rows:
        colour = n_colour(1) if row["n_heads"] == 1 else type_colour(result, row["head_type"])
        name = row["label"]
        fig.add_trace(_bar([name], [row["head1_val_loss"]], name, colour), row=1, col=1)
        fig.add_trace(go.Scatter(x=list(range(1, row["n_heads"] + 1)), y=[s["mean"] for s in row["head_accuracy"]],
                                 error_y=dict(type="data", array=[s["std"] for s in row["head_accuracy"]]),
                                 mode="lines+markers", name=name, legendgroup=name, showlegend=False,
                                 line=dict(color=colour, width=2), marker=dict(size=8)), row=1, col=2)
        if "speedup" in row:
            fig.add_trace(_bar([name], [row["speedup"]], name, colour, False, digits=2), row=1, col=3)
        elif "decoding_error" in row:  # a head type the decoders could not run: say so in place of a bar
            fig.add_trace(go.Bar(x=[name], y=[0], marker=dict(color=colour), showlegend=False, text=["not measured"],
                                 textposition="outside", hovertext=[row["decoding_error"]], hoverinfo="text"),
                          row=1, col=3)
    fig.update_yaxes(range=[0, max(r["head1_val_loss"]["max"] for r in rows) * 1.2], row=1, col=1)
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%", row=1, col=2)
    fig.update_xaxes(title="head k", dtick=1, row=1, col=2)
    fig.update_xaxes(showticklabels=False, row=1, col=1)
    fig.update_xaxes(showticklabels=False, row=1, col=3)
    return layout(fig, title or result["title"], height=420, legend=dict(orientation="h", y=-0.1),
                   margin=dict(l=10, r=10, t=90, b=10))


def loss_weights_figure(result: dict, title: str | None = None) -> go.Figure:
    """Head-1 val loss against tokens per forward, one point per recipe (after distillation, with an
    arrow from before), the n = 1 model's loss as a line, and the frontier through the best recipes."""
    rows = [r for r in result["summary"] if "after_distill" in r]
    fig = go.Figure()
    for i, row in enumerate(rows):
        colour, loss, before, after = TYPE_COLOURS[i % len(TYPE_COLOURS)], row["head1_val_loss"], \
            row["before_distill"], row["after_distill"]
        fig.add_trace(go.Scatter(x=[before["mean"], after["mean"]], y=[loss["mean"]] * 2, mode="lines+markers",
                                 name=row["recipe"], legendgroup=row["recipe"], line=dict(color=colour, width=1, dash="dot"),
                                 marker=dict(size=[7, 12], color=colour, symbol=["circle-open", "circle"]),
                                 error_x=dict(type="data", array=[before["std"], after["std"]]),
                                 error_y=dict(type="data", array=[loss["std"]] * 2),
                                 hovertemplate="%{x:.2f} tokens per forward, head-1 loss %{y:.4f}<extra>"
                                               + row["recipe"] + " (open: before distillation)</extra>"))
    front = [next(r for r in rows if r["recipe"] == name) for name in result.get("frontier", [])]
    if len(front) > 1:
        fig.add_trace(go.Scatter(x=[r["after_distill"]["mean"] for r in front],
                                 y=[r["head1_val_loss"]["mean"] for r in front], mode="lines", name="frontier",
                                 line=dict(color="#444444", width=2), hoverinfo="skip"))
    base = next((r for r in result["summary"] if r["recipe"] == "n=1"), None)
    if base is not None:
        fig.add_hline(y=base["head1_val_loss"]["mean"], line=dict(color=n_colour(1), dash="dash"),
                      annotation_text="n=1 (next-token only)", annotation_position="top left")
    fig.update_xaxes(title="tokens per forward (greedy self-speculative, heads 2..4 draft; open: before distillation)")
    fig.update_yaxes(title="head-1 val loss (lower is better)")
    return layout(fig, title or result["title"], height=440, legend=dict(orientation="h", y=-0.25),
                   margin=dict(l=10, r=10, t=90, b=10))


def drafters_figure(result: dict, title: str | None = None) -> go.Figure:
    """Tokens per forward and speed-up per drafter, on sampled text (temperature 1) beside greedy's."""
    rows = result["summary"]
    drafters = list(dict.fromkeys(r["drafter"] for r in rows))
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=["tokens per forward", "speed-up over the plain decoder (x)"])
    for text, name in (("T=1", "exact sampling, temperature 1 (corpus-like text)"), ("greedy", "greedy (its text loops)")):
        group = [next(r for r in rows if r["drafter"] == d and r["text"] == text) for d in drafters]
        colour = TYPE_COLOURS[0] if text == "T=1" else "#AAAAAA"
        fig.add_trace(_bar(drafters, [g["tokens_per_forward"] for g in group], name, colour, digits=2), row=1, col=1)
        fig.add_trace(_bar(drafters, [g["speedup"] for g in group], name, colour, False, digits=2), row=1, col=2)
    fig.add_hline(y=1.0, line=dict(color="#444444", dash="dot"), row=1, col=2)
    return layout(fig, title or result["title"], height=420, legend=dict(orientation="h", y=-0.2),
                  margin=dict(l=10, r=10, t=90, b=10))


RECIPE_COLOURS = {"n=1": N_COLOURS[1], "equal": "#0072B2", "lambda=0.1": "#E69F00", "forward": "#009E73",
                  "reverse": "#CC79A7"}


def curriculum_figure(result: dict, title: str | None = None) -> go.Figure:
    """Left: heads in the loss over the run, per recipe; middle: head-1 val loss (n = 1's as a dashed
    line, the target band 0.02 above it); right: tokens per forward, exact sampling at T=1 (solid)
    and greedy (pale, its text loops), with the target 2.0 dotted."""
    rows = result["summary"]
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08, column_widths=[0.28, 0.36, 0.36],
                        subplot_titles=["heads in the loss as training goes", "head-1 val loss (lower is better)",
                                        "tokens per forward: T=1 (solid), greedy (pale)"])
    stages = result["settings"]["heads_in_loss_per_stage"]
    colours = [RECIPE_COLOURS.get(r["recipe"], "#56B4E9") for r in rows]
    for i, (row, colour) in enumerate(zip(rows, colours)):
        heads = [m + 0.05 * (i - (len(rows) - 1) / 2) for m in stages[row["recipe"]]]  # nudged apart: equal lines overlap
        fig.add_trace(go.Scatter(x=[j / len(heads) for j in range(len(heads) + 1)], y=heads + heads[-1:],
                                 mode="lines", line=dict(color=colour, width=3, shape="hv"), name=row["recipe"],
                                 hovertemplate="from %{x:.0%} of the run<extra>" + row["recipe"] + "</extra>"),
                      row=1, col=1)
    names, losses = [r["recipe"] for r in rows], [r["head1_val_loss"] for r in rows]
    fig.add_trace(go.Bar(x=names, y=[s["mean"] for s in losses], marker=dict(color=colours), showlegend=False,
                         error_y=dict(type="data", array=[s["std"] for s in losses]),
                         text=[f"{s['mean']:.3f}" for s in losses], textposition="outside",
                         hovertemplate="%{x}: %{y:.4f} (mean of the seeds)<extra></extra>"), row=1, col=2)
    drafting = [(r, c) for r, c in zip(rows, colours) if "sampled" in r]
    for text, opacity in (("sampled", 1.0), ("greedy", 0.35)):
        stats = [r[text]["tokens_per_forward"] for r, _ in drafting]
        fig.add_trace(go.Bar(x=[r["recipe"] for r, _ in drafting], y=[s["mean"] for s in stats], showlegend=False,
                             marker=dict(color=[c for _, c in drafting], opacity=opacity),
                             error_y=dict(type="data", array=[s["std"] for s in stats]),
                             text=[f"{s['mean']:.2f}" for s in stats], textposition="outside",
                             hovertemplate="%{x}: %{y:.2f} tokens per forward<extra>" +
                                           ("exact sampling, T=1" if text == "sampled" else "greedy") + "</extra>"),
                      row=1, col=3)
    target = result["settings"].get("target", {})
    base = next((r for r in rows if r["recipe"] == "n=1"), None)
    if base is not None:
        loss = base["head1_val_loss"]["mean"]
        fig.add_hline(y=loss, line=dict(color=n_colour(1), dash="dash"), row=1, col=2)
        fig.add_hrect(y0=loss, y1=loss + target.get("head1_gap", 0.02), fillcolor="#009E73", opacity=0.15,
                      line_width=0, row=1, col=2)
    fig.add_hline(y=target.get("tokens_per_forward", 2.0), line=dict(color="#444444", dash="dot"), row=1, col=3)
    low, high = min(s["min"] for s in losses), max(s["max"] for s in losses)
    pad = 0.3 * (high - low + 0.01)
    fig.update_yaxes(range=[low - pad, high + pad], row=1, col=2)
    fig.update_yaxes(title="heads 1..m in the loss", tickvals=[1, 2, 3, 4], row=1, col=1)
    fig.update_xaxes(title="share of the run", tickformat=".0%", row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=1, col=3)
    minutes = result["settings"]["budget_seconds_per_run"] / 60
    corpus = result["settings"]["corpus"].replace("\\", "/").split("/")[-1]
    return layout(fig, title or f"Curricula on {corpus}, {minutes:g} min per run", height=440, barmode="group",
                  legend=dict(orientation="h", y=-0.2), margin=dict(l=10, r=10, t=90, b=10))


FIGURES = {"ntp-vs-mtp": ntp_vs_mtp_figure, "induction": induction_figure, "addition": addition_figure,
           "how-many-heads": how_many_heads_figure, "head-types": head_types_figure,
           "loss-weights": loss_weights_figure, "drafters": drafters_figure, "curriculum": curriculum_figure}


def experiment_figure(result: dict, title: str | None = None) -> go.Figure:
    """The figure of any experiment's result dict (as saved in results/NAME.json)."""
    name = result.get("experiment")
    if name not in FIGURES:
        raise ValueError(f"no figure for experiment {name!r} (known: {', '.join(FIGURES)})")
    return FIGURES[name](result, title)
