"""Figures of speculative decoding: one round's drafts and verdicts, the committed text, acceptance,
tokens per forward, greedy and speculative lanes, and the measured speed-ups.

Explained in notebooks/06_self_speculative_decoding.ipynb.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..decoding.decode import drafter_name
from .style import (
    ACCEPT_MARK,
    ACCEPTED,
    MONO,
    REJECT_MARK,
    REJECTED,
    ROUND_COLOURS,
    head_colour,
    layout,
    plot_text,
    show_char,
)


def _chars(tokenizer, ids) -> str:
    return tokenizer.decode(ids) if ids else ""


def _checked(rnd, check) -> bool:
    """Was this draft tested? Only while every earlier draft of its round was accepted."""
    return bool(getattr(check, "checked", check.offset <= rnd.accepted + 1))


def round_rows(rnd, mode: str | None = None) -> list:
    """One round as table rows (for st.dataframe or pandas): one row per drafted token."""
    rows = []
    for c in rnd.checks:
        used = _checked(rnd, c)
        verdict = (f"{ACCEPT_MARK} accepted" if c.accepted else f"{REJECT_MARK} rejected") if used else "· not checked"
        row = {"position": f"+{c.offset}", "drafted by": drafter_name(c.drafter, mode), "draft": show_char(c.char), "q (drafter)": round(c.q, 4),
               "verifier": show_char(c.verifier_char), "verifier prob": round(c.verifier_prob, 4),
               "p (draft under verifier)": round(c.p, 4), "verdict": verdict}
        if c.uniform is not None:
            row["u"] = round(c.uniform, 4)
            row["min(1, p/q)"] = round(min(1.0, c.p / c.q) if c.q > 0 else 0.0, 4)
        row["rule"] = c.rule
        rows.append(row)
    return rows


def speculative_round(rnd, tokenizer, mode: str | None = None, title: str | None = None) -> go.Figure:
    """One verify round: the fed tokens (sure token + drafts), the verifier's token at each
    position, and the verdict, accepted (green ✓) or rejected (vermillion ✗), then the corrected
    or bonus token the verifier adds."""
    cells = []  # (column, row, main text, small text, fill, font colour)
    fed = list(rnd.fed)
    checks = {c.offset: c for c in rnd.checks}
    columns = len(fed) + (1 if rnd.next_kind == "bonus" else 0)
    labels = []
    for i in range(len(fed)):
        ch = _chars(tokenizer, [fed[i]])
        if i == 0 or i not in checks:
            labels.append("sure<br>token" if i == 0 else f"+{i}")
            cells.append((i, 0, plot_text(ch), "", "#E8EEF6", "#1B2A41"))
            cells.append((i, 1, "", "", "#FFFFFF", "#1B2A41"))
            cells.append((i, 2, "kept", "", "#E8EEF6", "#1B2A41"))
            continue
        c = checks[i]
        who = drafter_name(c.drafter, mode)
        labels.append(f"+{i}<br>{who}")
        cells.append((i, 0, plot_text(c.char), f"q={c.q:.2f}", "#FFF6E0", "#1B2A41"))  # who: the column says
        used = _checked(rnd, c)
        numbers = f"p={c.p:.2f}" + (f" · u={c.uniform:.2f}" if c.uniform is not None else "")
        cells.append((i, 1, plot_text(c.verifier_char), numbers if used else "", "#F3F3F3" if used else "#FAFAFA",
                      "#1B2A41" if used else "#999999"))
        if not used:
            cells.append((i, 2, "·", "not checked", "#F5F5F5", "#888888"))
        elif c.accepted:
            cells.append((i, 2, ACCEPT_MARK, "accepted", ACCEPTED, "white"))
        else:
            corrected = _chars(tokenizer, [rnd.next_token]) if rnd.next_token is not None else "?"
            cells.append((i, 2, f"{REJECT_MARK} → {plot_text(corrected)}", "corrected", REJECTED, "white"))
    if rnd.next_kind == "bonus":
        i = len(fed)
        labels.append("bonus")
        bonus = _chars(tokenizer, [rnd.next_token]) if rnd.next_token is not None else "?"
        cells.append((i, 0, "", "", "#FFFFFF", "#1B2A41"))
        cells.append((i, 1, plot_text(bonus), "head 1", "#F3F3F3", "#1B2A41"))
        cells.append((i, 2, f"+ {plot_text(bonus)}", "bonus", "#0072B2", "white"))
    fig = go.Figure()
    shapes, notes = [], []  # set in one update: adding them one by one re-checks the list every time
    for col, row, main, small, fill, font_colour in cells:
        shapes.append(dict(type="rect", x0=col - 0.46, x1=col + 0.46, y0=row - 0.42, y1=row + 0.42,
                           fillcolor=fill, line=dict(color="#CCCCCC", width=1), layer="below"))
        if main:
            notes.append(dict(x=col, y=row - (0.1 if small else 0), text=main, showarrow=False,
                              font=dict(family=MONO, size=17, color=font_colour)))
        if small:
            notes.append(dict(x=col, y=row + 0.26, text=small, showarrow=False, font=dict(size=12, color=font_colour)))
    fig.update_layout(shapes=shapes, annotations=notes)
    # an invisible trace so the axes exist and the figure has data to hover
    fig.add_trace(go.Scatter(x=[c[0] for c in cells], y=[c[1] for c in cells], mode="markers",
                             marker=dict(opacity=0), hoverinfo="skip", showlegend=False))
    fig.update_xaxes(tickvals=list(range(columns)), ticktext=labels, range=[-0.55, columns - 0.45],
                     showgrid=False, zeroline=False, side="top", tickangle=0)
    fig.update_yaxes(tickvals=[0, 1, 2], ticktext=["fed (drafts)", "verifier (head 1)", "verdict"],
                     autorange="reversed", range=[2.5, -0.5], showgrid=False, zeroline=False)
    title = title or (f"Round {rnd.index}: {rnd.accepted} of {len(rnd.checks)} drafts accepted · "
                      f"KV cache {rnd.cache_before} → {rnd.cache_after}")
    return layout(fig, title, height=290, margin=dict(l=10, r=10, t=20, b=10))


def committed_text_html(prompt: str, trace, tokenizer, rounds: int | None = None, loop_round: int | None = None,
                        max_height_em: float | None = 9.5) -> str:
    """The prompt followed by the generated text, each round's tokens on their own background.

    Every character is HTML-escaped, so a prompt like `<img src=x onerror=...>` shows as text.
    Newlines are kept (white-space: pre-wrap). `rounds` limits the output to the first rounds.
    `loop_round` (repetition.loop_round) puts a "loop" mark before the round whose text starts the
    loop the run ends in. The box is at most `max_height_em` tall and keeps its end in view (a
    column laid out from the bottom), so a long run never pushes the page's figures down.
    """
    shown = trace.rounds if rounds is None else trace.rounds[:rounds]
    parts = [f'<span style="color:#555">{html.escape(prompt)}</span>']
    colour_index = 0
    for i, rnd in enumerate(shown):
        if not rnd.committed:
            continue
        if i == loop_round:
            parts.append(f'<span class="tinymtp-loop" style="color:#fff;background:{REJECTED};border-radius:3px;'
                         'padding:0 .3em;font-family:sans-serif;font-size:12px">loop from here ⟳</span>')
        text = html.escape(_chars(tokenizer, rnd.committed))
        colour = ROUND_COLOURS[colour_index % len(ROUND_COLOURS)]
        colour_index += 1
        tip = html.escape(f"round {rnd.index}: {len(rnd.committed)} token(s)", quote=True)
        parts.append(f'<span title="{tip}" style="background:{colour};border-radius:3px;'
                     f'box-shadow:inset 0 -2px 0 rgba(0,0,0,0.12)">{text}</span>')
    cap = (f"max-height:{max_height_em}em;overflow-y:auto;display:flex;flex-direction:column-reverse;"
           if max_height_em else "")
    return ('<div class="tinymtp-committed" style="font-family:' + MONO.replace('"', "") + ';' + cap +
            'line-height:1.6;font-size:15px;padding:0.6em 0.8em;border:1px solid #ddd;border-radius:6px;'
            'background:#fcfcfc;color:#1B2A41"><div style="white-space:pre-wrap">' + "".join(parts) + "</div></div>")


def acceptance_per_head(trace_or_rows, title: str = "Acceptance per drafting head: share of rounds") -> go.Figure:
    """Bars: per drafter, the share of the rounds that drafted in which its draft was kept
    (`rate`, see trace.py; a Trace or its summary rows)."""
    rows = trace_or_rows.acceptance_per_head() if hasattr(trace_or_rows, "acceptance_per_head") else trace_or_rows
    heads = [r["head"] for r in rows]
    rates = [r["rate"] or 0.0 for r in rows]
    fig = go.Figure(go.Bar(
        x=[f"head {h}" for h in heads], y=rates, marker=dict(color=[head_colour(h) for h in heads]),
        text=[f"{r['accepted']}/{r['rounds']} rounds" if r["rounds"] else "no drafts yet" for r in rows],
        textposition="outside", hovertemplate="%{x}: kept in %{y:.0%} of the rounds<extra></extra>"))
    fig.update_yaxes(range=[0, 1.15], tickformat=".0%", title="rounds that kept its draft")
    return layout(fig, title, height=280)


def tokens_per_forward(trace, n_heads: int | None = None, greedy_trace=None,
                       title: str | None = None) -> go.Figure:
    """Tokens produced against forward passes: speculative (steps up to n per pass) and greedy (1)."""
    fig = go.Figure()

    def cumulative(tr):
        xs, ys, total = [0], [0], 0
        for i, r in enumerate(tr.rounds, start=1):
            total += len(r.committed)
            xs.append(i)
            ys.append(total)
        return xs, ys

    xs, ys = cumulative(trace)
    if greedy_trace is not None:
        gx, gy = cumulative(greedy_trace)
        fig.add_trace(go.Scatter(x=gx, y=gy, mode="lines", name="greedy (1 token per pass)",
                                 line=dict(color="#888888", dash="dash")))
    if n_heads:
        last = max(xs[-1], 1)
        fig.add_trace(go.Scatter(x=[0, last], y=[0, n_heads * last], mode="lines", name=f"ceiling ({n_heads} per pass)",
                                 line=dict(color="#BBBBBB", dash="dot")))
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=trace.mode, line=dict(color="#0072B2", width=3,
                                                                                         shape="hv")))
    forwards = len(trace.rounds)
    rate = ys[-1] / forwards if forwards else 0.0
    fig.update_xaxes(title="forward passes of the model")
    fig.update_yaxes(title="tokens produced")
    return layout(fig, title or f"Tokens per forward pass: {rate:.2f}", height=300,
                   legend=dict(orientation="h", y=-0.3))


def wall_clock(seconds: dict, title: str = "Wall-clock time, same prompt") -> go.Figure:
    """Horizontal bars of seconds per decoding mode, e.g. {"greedy": 0.41, "speculative": 0.22}."""
    names = list(seconds)
    values = [seconds[k] for k in names]
    colours = ["#888888"] + ["#0072B2"] * (len(names) - 1)  # the first entry is the baseline
    base = seconds.get(names[0]) or 0.0
    text = [f"{v:.3f} s" + (f" · speed-up {base / v:.2f}×" if i and v and base else "") for i, v in enumerate(values)]
    fig = go.Figure(go.Bar(x=values, y=names, orientation="h", marker=dict(color=colours), text=text,
                           textposition="auto"))
    fig.update_xaxes(title="seconds")
    fig.update_yaxes(autorange="reversed")
    return layout(fig, title, height=80 + 45 * len(names))


LANE_FILLS = ["#CFCFCF", "#9CC3E6", "#5AA0D8", "#2E7FC0", "#1B5E96"]  # speculative boxes, by tokens added (0..4+)


def lanes(greedy_trace, speculative_trace, tokenizer, forwards: int | None = None, min_width: int = 24,
          title: str = "Lanes: one box per forward pass", names=("greedy", "speculative"),
          loop_rounds: tuple | None = None, window: int | None = None) -> go.Figure:
    """Plain greedy and speculative decoding side by side on a shared axis of forward passes.

    Each box is one forward pass, labelled with the characters it added; greedy adds one per
    pass, speculative up to n (`names` labels the two lanes). `forwards` shows only the first
    passes of both lanes; the axis spans at least `min_width` passes (or the whole greedy run, if
    shorter) so the boxes keep their size while rounds are revealed. `window` keeps only the last
    `window` of the passes shown (the app's page: a figure that costs the same at pass 60 as at
    pass 2). `loop_rounds` (greedy's, speculative's; repetition.loop_round) marks the pass from
    which each lane's text loops.

    The boxes are one bar trace per lane, not a shape per pass: plotly re-checks the whole shape
    list on every shape added, so a figure of shapes took quadratic time (2.5 s at 78 passes).
    """
    fig = go.Figure()
    end = max(len(greedy_trace.rounds), len(speculative_trace.rounds)) if forwards is None else forwards
    start = max(0, end - window) if window else 0
    longest = 0
    for (name, tr, y), loop in zip(((names[0], greedy_trace, 1), (names[1], speculative_trace, 0)),
                                   loop_rounds or (None, None)):
        rounds = tr.rounds[start:end]
        longest = max(longest, start + len(rounds))
        fills, labels, hovers, ink = [], [], [], []
        for i, r in enumerate(rounds, start=start):
            text = _chars(tokenizer, r.committed)
            if r.kind == "prefill":
                fill = "#E8EEF6"
            elif y == 1:  # the plain lane: one token per pass
                fill = LANE_FILLS[0]
            else:
                fill = LANE_FILLS[min(len(r.committed), 4)] if r.committed else "#EEEEEE"
            fills.append(fill)
            ink.append("white" if fill in LANE_FILLS[3:] else "#10253F")  # readable on dark boxes
            labels.append(plot_text(text))
            hovers.append(f"{name} pass {i + 1} ({r.kind}): +{len(r.committed)} token(s) {plot_text(repr(text))}")
        fig.add_trace(go.Bar(
            x=[0.92] * len(rounds), base=[i + 0.04 for i in range(start, start + len(rounds))], y=[y] * len(rounds),
            orientation="h", width=0.76, marker=dict(color=fills, line=dict(color="white", width=1)), name=name,
            text=labels, textposition="inside", insidetextanchor="middle", cliponaxis=False, showlegend=False,
            textfont=dict(family=MONO, size=12, color=ink), customdata=hovers,
            hovertemplate="%{customdata}<extra></extra>"))
        if loop is not None and start <= loop < start + len(rounds):
            fig.add_shape(type="line", x0=loop, x1=loop, y0=y - 0.48, y1=y + 0.48, line=dict(color=REJECTED, width=3))
            fig.add_annotation(x=loop, y=y + 0.5, text="loop from here", showarrow=False, xanchor="left",
                               yanchor="bottom", font=dict(size=11, color=REJECTED))
    width = max(longest - start, min(min_width, len(greedy_trace.rounds)), 1)
    fig.update_xaxes(range=[start, start + width], title="forward passes →", showgrid=False, zeroline=False)
    fig.update_yaxes(tickvals=[0, 1], ticktext=[names[1], names[0]], range=[-0.6, 1.8], showgrid=False,
                     zeroline=False)
    return layout(fig, title, height=220, barmode="overlay")


def speedup_vs_heads(measurement: dict, title: str = "Speed-up and tokens per forward vs draft_len") -> go.Figure:
    """From `speedup.measure_decoding`: wall-clock speed-up (bars) and tokens per forward (line)
    against draft_len, the tokens drafted per round (0 = plain greedy, then its `draft_len_sweep`),
    with the ceiling draft_len + 1 and the draft model."""
    entries = [measurement["modes"]["greedy"]] + list(measurement["draft_len_sweep"])
    ks = [e["draft_len"] for e in entries]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=ks, y=[e["speedup"] for e in entries], name="speed-up (wall clock)",
                         marker=dict(color=["#888888"] + [head_colour(k + 1) for k in ks[1:]]),
                         text=[f"{e['speedup']:.2f}×" for e in entries], textposition="outside"), secondary_y=False)
    fig.add_trace(go.Scatter(x=ks, y=[e["tokens_per_forward"] for e in entries], mode="lines+markers",
                             name="tokens per forward", line=dict(color="#000000", width=2)), secondary_y=True)
    fig.add_trace(go.Scatter(x=ks, y=[k + 1 for k in ks], mode="lines", name="ceiling: draft_len + 1 tokens per forward",
                             line=dict(color="#999999", dash="dot")), secondary_y=True)
    draft = measurement["modes"].get("draft-model")
    if draft:
        fig.add_trace(go.Scatter(x=[ks[-1] + 0.6], y=[draft["speedup"]], mode="markers",
                                 name=f"separate draft model: {draft['speedup']:.2f}×",
                                 marker=dict(symbol="star", size=15, color="#D55E00"),
                                 hovertemplate="draft model: %{y:.2f}×<extra></extra>"), secondary_y=False)
    top = max([e["speedup"] or 0 for e in entries] + [(draft or {}).get("speedup") or 0] + [1.0])
    fig.update_xaxes(title="draft_len: tokens drafted per round (0 = plain greedy)", tickvals=ks)
    fig.update_yaxes(title="speed-up over greedy (×)", range=[0, top * 1.3], secondary_y=False)
    fig.update_yaxes(title="tokens per forward", range=[0, max(ks) + 1.5], dtick=1, secondary_y=True,
                     showgrid=False)
    return layout(fig, title, height=360, legend=dict(orientation="h", y=-0.25))




def decoding_comparison(measurement: dict, title: str = "Self-speculative vs a separate draft model") -> go.Figure:
    """From `speedup.measure_decoding`: speed-up and tokens per forward for greedy, speculative
    with the most heads measured, and the draft model."""
    modes = measurement["modes"]
    best = modes["speculative"]
    rows = [("greedy", modes["greedy"]), (f"self-speculative (draft_len {best['draft_len']})", best)]
    if modes.get("draft-model"):
        rows.append(("separate draft model", modes["draft-model"]))
    names = [r[0].replace(" (", "<br>(") for r in rows]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14,
                        subplot_titles=["speed-up over greedy (×)", "tokens per forward"])
    colours = ["#888888", "#0072B2", "#D55E00"][: len(rows)]
    fig.add_trace(go.Bar(x=names, y=[r[1]["speedup"] for r in rows], marker=dict(color=colours), showlegend=False,
                         text=[f"{r[1]['speedup']:.2f}×" for r in rows], textposition="outside"), row=1, col=1)
    fig.add_trace(go.Bar(x=names, y=[r[1]["tokens_per_forward"] for r in rows], marker=dict(color=colours),
                         showlegend=False, text=[f"{r[1]['tokens_per_forward']:.2f}" for r in rows],
                         textposition="outside"), row=1, col=2)
    fig.update_yaxes(rangemode="tozero")
    fig.update_yaxes(range=[0, max([r[1]["speedup"] or 0 for r in rows] + [1]) * 1.3], row=1, col=1)
    fig.update_yaxes(range=[0, max(r[1]["tokens_per_forward"] for r in rows) * 1.3], row=1, col=2)
    return layout(fig, title, height=360, margin=dict(l=10, r=10, t=90, b=10))
