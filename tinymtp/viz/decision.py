"""The sampling decision, drawn: why speculative sampling kept or rejected each draft of a round.

Exact speculative sampling keeps a draft x ~ q when a uniform draw u falls below min(1, p(x)/q(x))
(sampling.py). Written as numbers in a table, "u = 0.94, p = 0.87: accepted" looks like a bug until
one computes p/q > 1. Drawn, it is seen: one 0-1 line per draft, green up to the threshold
min(1, p/q) (the chance of keeping it) and vermillion after; u is a dot on the line, so a dot in
the green part is kept. On a rejection a second panel shows, for the likeliest characters, head
1's p, the drafter's q and the residual norm(max(0, p - q)) the corrected character is drawn from,
with that character's residual probability (not its probability under p).

It reads the numbers a sampling round keeps in its trace (trace.DraftCheck: `top`,
`residual_mass`, `residual_prob`). Greedy rounds are drawn by decoding.speculative_round.
Left out: tree rounds (tree decoding is greedy only). Explained in notebooks/07_speculative_sampling.ipynb.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..decoding.decode import drafter_name
from .style import ACCEPT_MARK, MARK_EDGE, MONO, REJECT_MARK, REJECTED, UNUSED, layout, plot_text, show_char

KEEP_ZONE, REJECT_ZONE = "#B8E3D2", "#F6C9B3"  # pale green and vermillion: the dot and its outline stay readable
P_COLOUR, Q_COLOUR, RESIDUAL_COLOUR = "#0072B2", "#E69F00", REJECTED
BARS_SHOWN = 6  # characters in the residual panel
ROW_PX = 80  # one draft's line with its two labels, clear of the next line's


def number(x: float) -> str:
    """A probability as a label: two decimals, more when it is small (0.0021, not 0.00)."""
    return f"{x:.2f}" if x >= 0.01 or x == 0 else f"{x:.2g}"


def threshold(check) -> float:
    """min(1, p(x)/q(x)): the chance the rule keeps this draft (q(x) > 0, since x was drawn from q)."""
    return min(1.0, check.p / check.q) if check.q > 0 else 0.0


def residual_rows(check, corrected: int | None) -> list:
    """(token, p, q, residual) for the characters the residual panel shows: the most likely under the
    residual first, the corrected token always among them."""
    mass = check.residual_mass or 0.0
    rows = [(t, p, q, (max(0.0, p - q) / mass) if mass > 0 else p) for t, p, q in (check.top or [])]
    rows.sort(key=lambda row: (row[0] != corrected, -row[3], -row[1]))
    shown = rows[:BARS_SHOWN]
    if corrected is not None and all(row[0] != corrected for row in shown) and check.residual_prob is not None:
        shown[-1:] = [(corrected, None, None, check.residual_prob)]  # outside both top lists: its residual only
    return sorted(shown, key=lambda row: -row[3])


def sampling_decision(rnd, tokenizer, mode: str | None = None, title: str | None = None) -> go.Figure:
    """One sampling round's decisions (see the module docstring)."""
    checks = list(rnd.checks)
    rejected = next((c for c in checks if c.checked and not c.accepted), None)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.56, 0.44], horizontal_spacing=0.14) if rejected \
        else go.Figure()
    shapes, notes = [], []
    for row, check in enumerate(checks):
        _decision_line(check, row, shapes, notes)
    fig.update_layout(shapes=shapes, annotations=notes)
    fig.add_trace(go.Scatter(x=[c.uniform for c in checks if c.checked], y=[i for i, c in enumerate(checks) if c.checked],
                             mode="markers", showlegend=False, hovertemplate="u = %{x:.3f}<extra></extra>",
                             marker=dict(size=15, color="white", line=dict(color=MARK_EDGE, width=3)),
                             cliponaxis=False))  # a dot at u near 0 or 1 is drawn whole
    axes = dict(row=1, col=1) if rejected else {}
    fig.update_xaxes(range=[-0.02, 1.02], tickvals=[0, 0.5, 1], showgrid=False, zeroline=False, **axes)
    fig.update_yaxes(tickvals=list(range(len(checks))), ticktext=[_row_label(c, rnd, tokenizer, mode) for c in checks],
                     range=[len(checks) - 0.4, -0.9], tickfont=dict(family=MONO, size=14), showgrid=False,
                     zeroline=False, **axes)
    if rejected:
        _residual_panel(fig, rejected, rnd, tokenizer)
    title = title or (f"Round {rnd.index}: {rnd.accepted} of {len(checks)} drafts kept · kept when the dot u "
                      "falls in the green part, below min(1, p/q)")
    return layout(fig, title, height=120 + ROW_PX * len(checks), margin=dict(l=10, r=10, t=20, b=20),
                  legend=dict(orientation="h") if rejected else None)


def _row_label(check, rnd, tokenizer, mode: str | None) -> str:
    """The draft, who drafted it and the verdict, left of its line."""
    who = f"+{check.offset} {drafter_name(check.drafter, mode)}: {plot_text(check.char)}"
    if not check.checked:
        return f"{who} · not checked"
    numbers = f"<br>p = {number(check.p)} · q = {number(check.q)}"
    if check.accepted:
        return f"{who} {ACCEPT_MARK} kept{numbers}"
    corrected = plot_text(tokenizer.decode([rnd.next_token])) if rnd.next_token is not None else "?"
    return f"{who} {REJECT_MARK} → {corrected}{numbers}"


def _decision_line(check, row: int, shapes: list, notes: list) -> None:
    """One draft's 0-1 line: the keep zone up to the threshold, the threshold and u labelled (the dot
    u itself is a trace). An unchecked draft gets a grey line."""
    if not check.checked:
        shapes.append(dict(type="line", x0=0, x1=1, y0=row, y1=row, line=dict(color=UNUSED, width=10)))
        return
    t = threshold(check)
    shapes.append(dict(type="line", x0=0, x1=t, y0=row, y1=row, line=dict(color=KEEP_ZONE, width=14)))
    if t < 1:
        shapes.append(dict(type="line", x0=t, x1=1, y0=row, y1=row, line=dict(color=REJECT_ZONE, width=14)))
    shapes.append(dict(type="line", x0=t, x1=t, y0=row - 0.3, y1=row + 0.3, line=dict(color=MARK_EDGE, width=3)))
    side = lambda x: "left" if x < 0.5 else "right"  # labels grow away from the nearer edge, never cut
    notes.append(dict(x=t, y=row - 0.22, yanchor="bottom", xanchor=side(t), showarrow=False,
                      font=dict(size=13, color=MARK_EDGE),
                      text=f"min(1, p/q) = {number(t)}"))
    notes.append(dict(x=check.uniform, y=row + 0.22, yanchor="top", xanchor=side(check.uniform), showarrow=False,
                      font=dict(size=13, color=MARK_EDGE), text=f"u = {number(check.uniform)}"))


def _residual_panel(fig: go.Figure, check, rnd, tokenizer) -> None:
    """Bars of p, q and the residual for the rejected draft's likeliest characters; the corrected
    character labelled with its residual probability."""
    rows = residual_rows(check, rnd.next_token)
    labels = [plot_text(show_char(tokenizer.decode([t]))) for t, *_ in rows]
    for name, values, colour in (("p: head 1", [r[1] for r in rows], P_COLOUR),
                                 ("q: the drafter", [r[2] for r in rows], Q_COLOUR),
                                 ("residual norm(max(0, p − q))", [r[3] for r in rows], RESIDUAL_COLOUR)):
        fig.add_trace(go.Bar(x=labels, y=[v if v is not None else 0 for v in values], name=name,
                             marker=dict(color=colour), hovertemplate="%{x}: %{y:.3f}<extra>" + name + "</extra>"),
                      row=1, col=2)
    fig.update_layout(barmode="group")
    fig.update_xaxes(tickfont=dict(family=MONO, size=15), row=1, col=2)
    top = max([v for r in rows for v in r[1:] if v is not None] + [0.05])
    fig.update_yaxes(range=[0, top * 1.7], tickformat=".0%", nticks=4, row=1, col=2)  # room above for the note
    if rnd.next_token is not None and check.residual_prob is not None:
        corrected = plot_text(show_char(tokenizer.decode([rnd.next_token])))
        fig.add_annotation(x=corrected, y=check.residual_prob, xref="x2", yref="y2", showarrow=True, arrowhead=2,
                           ax=0, ay=-24, text="drawn", font=dict(size=13, color=RESIDUAL_COLOUR))
        fig.add_annotation(x=1, y=1, xref="x2 domain", yref="y2 domain", xanchor="right", yanchor="top",
                           showarrow=False, align="right", font=dict(size=13, color=MARK_EDGE),
                           text=f"corrected: {corrected}<br>drawn from the<br>residual: {number(check.residual_prob)}")


def round_table(rnd, mode: str | None = None) -> list:
    """One round as table rows for the page: every row has every column, written out as text, so a
    draft that was never checked reads "–" rather than an empty cell or None. Sampling rounds say
    what the output has at each position and where it was drawn from: q for a kept draft, the
    residual (with the corrected character's probability under it) for a rejected one."""
    sampled = any(c.uniform is not None for c in rnd.checks)
    rows = []
    for c in rnd.checks:
        row = {"position": f"+{c.offset}", "drafted by": drafter_name(c.drafter, mode), "draft": show_char(c.char),
               "q (drafter)": number(c.q), "p (draft under verifier)": number(c.p)}
        if not c.checked:
            verdict, written, source = "· not checked", "–", "–"
        elif c.accepted:
            verdict, written, source = f"{ACCEPT_MARK} accepted", show_char(c.char), "the draft, kept"
        else:
            verdict, written = f"{REJECT_MARK} rejected", show_char(c.verifier_char)
            source = (f"residual norm(max(0, p − q)): {number(c.residual_prob)}" if c.residual_prob is not None
                      else f"head 1's choice: {number(c.verifier_prob)}")
        if sampled:
            row.update({"min(1, p/q)": number(threshold(c)) if c.checked else "–",
                        "u": number(c.uniform) if c.uniform is not None else "–"})
        row.update({"verdict": verdict, "head 1 wrote": written, "drawn from" if sampled else "how": source})
        rows.append(row)
    return rows
