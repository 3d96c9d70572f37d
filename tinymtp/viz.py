"""Plotly figures of tinymtp's ideas, shared by the app and the notebooks.

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

import html

import plotly.graph_objects as go
from plotly.subplots import make_subplots

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


def _layout(fig: go.Figure, title: str | None = None, height: int | None = None, **kwargs) -> go.Figure:
    margin = kwargs.pop("margin", dict(l=10, r=10, t=50 if title else 20, b=10))
    fig.update_layout(template=TEMPLATE, font=FONT, title=dict(text=title, x=0, xanchor="left") if title else None,
                      margin=margin, height=height, **kwargs)
    return fig


# ---- training ----------------------------------------------------------------------------------

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
            window = max(1, min(smooth, len(losses)))
            smoothed, running = [], 0.0
            for i, v in enumerate(losses):
                running += v
                if i >= window:
                    running -= losses[i - window]
                smoothed.append(running / min(i + 1, window))
            fig.add_trace(go.Scatter(x=steps, y=smoothed, mode="lines", name=f"head {k} train",
                                     legendgroup=f"h{k}", line=dict(color=colour, width=1.6)))
        points = [(e["step"], h["val_loss"]) for e in eval_rows for h in e.get("heads") or [] if h["head"] == k]
        if points:
            fig.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="markers+lines",
                                     name=f"head {k} val", legendgroup=f"h{k}",
                                     line=dict(color=colour, width=1, dash="dot"),
                                     marker=dict(color=colour, size=8, symbol="circle", line=dict(color="white", width=1))))
    fig.update_xaxes(title="training step")
    fig.update_yaxes(title="cross-entropy loss (nats)")
    return _layout(fig, title, height=380, legend=dict(orientation="h", y=-0.2), margin=dict(l=10, r=10, t=90, b=10))


# ---- what the heads predict ---------------------------------------------------------------------

def head_grid(pred, title: str | None = "Each head's top guess") -> go.Figure:
    """The Heads grid: columns are the prompt's positions t, rows heads 1..n (head 1 on top).

    Cell (k, t) shows head k's top-1 guess for x[t+k], shaded by its probability. A green
    circle marks a guess that matches the real text x[t+k]; an orange diamond one that matches
    what head 1 would generate k steps after x[0..t] (what speculative decoding checks).
    """
    T, n = pred.length, pred.n_heads
    z, text, hover = [], [], []
    for k in range(1, n + 1):
        z_row, text_row, hover_row = [], [], []
        for t in range(T):
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
        z=z, x=list(range(T)), y=list(range(1, n + 1)), text=text, texttemplate="%{text}",
        textfont=dict(family=MONO, size=16), customdata=hover, hovertemplate="%{customdata}<extra></extra>",
        colorscale=[[0, "#FFFFFF"], [0.5, "#C6DBEF"], [1, "#5B9BD5"]], zmin=0, zmax=1, xgap=2, ygap=2,
        colorbar=dict(title=dict(text="probability", side="right"), thickness=12, len=0.9)))
    for label, symbol, colour, dx, dy, test in (
            ("matches the real text x[t+k]", "circle", ACCEPTED, 0.3, -0.28, lambda t, k: pred.matches_text(t, k)),
            ("matches what head 1 would generate", "diamond", "#E69F00", 0.3, 0.28,
             lambda t, k: pred.matches_greedy(t, k))):
        first = 2 if symbol == "diamond" else 1  # head 1 always matches its own generation: no marks
        xs = [t + dx for k in range(first, n + 1) for t in range(T) if test(t, k)]
        ys = [k + dy for k in range(first, n + 1) for t in range(T) if test(t, k)]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=label, hoverinfo="skip",
                                 marker=dict(symbol=symbol, size=8, color=colour, line=dict(color="white", width=1))))
    fig.update_xaxes(tickvals=list(range(T)), ticktext=[plot_text(c) for c in pred.chars], tickangle=0,
                     tickfont=dict(family=MONO, size=13), title="the prompt, position t (the character just read)",
                     showgrid=False, zeroline=False, range=[-0.5, T - 0.5])
    fig.update_yaxes(tickvals=list(range(1, n + 1)), autorange="reversed", showgrid=False, zeroline=False,
                     ticktext=[f"head {k} → t+{k}" for k in range(1, n + 1)])
    return _layout(fig, title, height=150 + 58 * n, legend=dict(orientation="h", y=1.02, x=1, xanchor="right",
                                                                yanchor="bottom"))


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
    return _layout(fig, title, height=280, margin=dict(l=10, r=10, t=80, b=10))


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
    return _layout(fig, title, height=320, barmode="group", legend=dict(orientation="h", y=-0.25))


# ---- speculative decoding ------------------------------------------------------------------------

def _chars(tokenizer, ids) -> str:
    return tokenizer.decode(ids) if ids else ""


def _checked(rnd, check) -> bool:
    """Was this draft tested? Only while every earlier draft of its round was accepted."""
    return bool(getattr(check, "checked", check.offset <= rnd.accepted + 1))


def drafter_name(drafter: int, mode: str | None = None) -> str:
    """'head k' for self-speculative drafts; 'draft step k' for the separate draft model."""
    return f"draft step {drafter}" if mode == "draft-model" else f"head {drafter}"


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
            labels.append("sure token" if i == 0 else f"+{i}")
            cells.append((i, 0, plot_text(ch), "from the last round", "#E8EEF6", "#1B2A41"))
            cells.append((i, 1, "", "", "#FFFFFF", "#1B2A41"))
            cells.append((i, 2, "kept", "", "#E8EEF6", "#1B2A41"))
            continue
        c = checks[i]
        who = drafter_name(c.drafter, mode)
        labels.append(f"+{i} ({who})")
        cells.append((i, 0, plot_text(c.char), f"{who} · q={c.q:.2f}", "#FFF6E0", "#1B2A41"))
        used = _checked(rnd, c)
        numbers = f"p(draft)={c.p:.2f}" + (f" · u={c.uniform:.2f}" if c.uniform is not None else "")
        cells.append((i, 1, plot_text(c.verifier_char), numbers if used else "", "#F3F3F3" if used else "#FAFAFA",
                      "#1B2A41" if used else "#999999"))
        if not used:
            cells.append((i, 2, "·", "not checked", "#F5F5F5", "#888888"))
        elif c.accepted:
            cells.append((i, 2, f"{ACCEPT_MARK} accepted", "", ACCEPTED, "white"))
        else:
            corrected = _chars(tokenizer, [rnd.next_token]) if rnd.next_token is not None else "?"
            cells.append((i, 2, f"{REJECT_MARK} rejected", f"→ {plot_text(corrected)} (corrected)", REJECTED, "white"))
    if rnd.next_kind == "bonus":
        i = len(fed)
        labels.append("bonus")
        bonus = _chars(tokenizer, [rnd.next_token]) if rnd.next_token is not None else "?"
        cells.append((i, 0, "", "", "#FFFFFF", "#1B2A41"))
        cells.append((i, 1, plot_text(bonus), "verifier's own", "#F3F3F3", "#1B2A41"))
        cells.append((i, 2, f"+ {plot_text(bonus)}", "bonus token", "#0072B2", "white"))
    fig = go.Figure()
    for col, row, main, small, fill, font_colour in cells:
        fig.add_shape(type="rect", x0=col - 0.46, x1=col + 0.46, y0=row - 0.42, y1=row + 0.42,
                      fillcolor=fill, line=dict(color="#CCCCCC", width=1), layer="below")
        if main:
            fig.add_annotation(x=col, y=row - (0.1 if small else 0), text=main, showarrow=False,
                               font=dict(family=MONO, size=17, color=font_colour))
        if small:
            fig.add_annotation(x=col, y=row + 0.24, text=small, showarrow=False,
                               font=dict(size=10, color=font_colour))
    # an invisible trace so the axes exist and the figure has data to hover
    fig.add_trace(go.Scatter(x=[c[0] for c in cells], y=[c[1] for c in cells], mode="markers",
                             marker=dict(opacity=0), hoverinfo="skip", showlegend=False))
    fig.update_xaxes(tickvals=list(range(columns)), ticktext=labels, range=[-0.55, columns - 0.45],
                     showgrid=False, zeroline=False, side="top")
    fig.update_yaxes(tickvals=[0, 1, 2], ticktext=["fed (drafts)", "verifier (head 1)", "verdict"],
                     autorange="reversed", range=[2.5, -0.5], showgrid=False, zeroline=False)
    title = title or (f"Round {rnd.index}: {rnd.accepted} of {len(rnd.checks)} drafts accepted · "
                      f"KV cache {rnd.cache_before} → {rnd.cache_after}")
    return _layout(fig, title, height=290, margin=dict(l=10, r=10, t=90, b=10))


def committed_text_html(prompt: str, trace, tokenizer, rounds: int | None = None) -> str:
    """The prompt followed by the generated text, each round's tokens on their own background.

    Every character is HTML-escaped, so a prompt like `<img src=x onerror=...>` shows as text.
    Newlines are kept (white-space: pre-wrap). `rounds` limits the output to the first rounds.
    """
    shown = trace.rounds if rounds is None else trace.rounds[:rounds]
    parts = [f'<span style="color:#555">{html.escape(prompt)}</span>']
    colour_index = 0
    for rnd in shown:
        if not rnd.committed:
            continue
        text = html.escape(_chars(tokenizer, rnd.committed))
        colour = ROUND_COLOURS[colour_index % len(ROUND_COLOURS)]
        colour_index += 1
        tip = html.escape(f"round {rnd.index}: {len(rnd.committed)} token(s)", quote=True)
        parts.append(f'<span title="{tip}" style="background:{colour};border-radius:3px;'
                     f'box-shadow:inset 0 -2px 0 rgba(0,0,0,0.12)">{text}</span>')
    return ('<div class="tinymtp-committed" style="font-family:' + MONO.replace('"', "") +
            ';white-space:pre-wrap;line-height:1.6;font-size:15px;padding:0.6em 0.8em;'
            'border:1px solid #ddd;border-radius:6px;background:#fcfcfc;color:#1B2A41">' + "".join(parts) + "</div>")


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
    return _layout(fig, title, height=280)


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
    return _layout(fig, title or f"Tokens per forward pass: {rate:.2f}", height=300,
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
    return _layout(fig, title, height=80 + 45 * len(names))


def lanes(greedy_trace, speculative_trace, tokenizer, forwards: int | None = None, min_width: int = 24,
          title: str = "Lanes: one box per forward pass", names=("greedy", "speculative")) -> go.Figure:
    """Plain greedy and speculative decoding side by side on a shared axis of forward passes.

    Each box is one forward pass, labelled with the characters it added; greedy adds one per
    pass, speculative up to n (`names` labels the two lanes). `forwards` shows only the first passes of both lanes; the axis
    spans at least `min_width` passes (or the whole greedy run, if shorter) so the boxes keep
    their size while rounds are revealed.
    """
    fig = go.Figure()
    lanes_ = ((names[0], greedy_trace, 1), (names[1], speculative_trace, 0))
    longest = 0
    for name, tr, y in lanes_:
        rounds = tr.rounds if forwards is None else tr.rounds[:forwards]
        longest = max(longest, len(rounds))
        xs, labels, hovers, ink = [], [], [], []
        for i, r in enumerate(rounds):
            n_tok = len(r.committed)
            text = _chars(tokenizer, r.committed)
            if r.kind == "prefill":
                fill = "#E8EEF6"
            elif y == 1:  # the plain lane: one token per pass
                fill = "#CFCFCF"
            else:
                fill = ["#CFCFCF", "#9CC3E6", "#5AA0D8", "#2E7FC0", "#1B5E96"][min(n_tok, 4)] if n_tok else "#EEEEEE"
            fig.add_shape(type="rect", x0=i + 0.04, x1=i + 0.96, y0=y - 0.38, y1=y + 0.38, fillcolor=fill,
                          line=dict(color="white", width=1), layer="below")
            xs.append(i + 0.5)
            ink.append("white" if fill in ("#2E7FC0", "#1B5E96") else "#10253F")  # readable on dark boxes
            labels.append(plot_text(text))
            hovers.append(f"{name} pass {i + 1} ({r.kind}): +{n_tok} token(s) {plot_text(repr(text))}")
        fig.add_trace(go.Scatter(x=xs, y=[y] * len(xs), mode="text", text=labels, name=name, showlegend=False,
                                 textfont=dict(family=MONO, size=12, color=ink), customdata=hovers,
                                 hovertemplate="%{customdata}<extra></extra>"))
    width = max(longest, min(min_width, len(greedy_trace.rounds)), 1)
    fig.update_xaxes(range=[0, width], title="forward passes →", showgrid=False, zeroline=False)
    fig.update_yaxes(tickvals=[0, 1], ticktext=[names[1], names[0]], range=[-0.6, 1.6], showgrid=False,
                     zeroline=False)
    return _layout(fig, title, height=200)


# ---- comparisons ----------------------------------------------------------------------------------

def speedup_vs_heads(measurement: dict, title: str = "Speed-up and tokens per forward vs drafting heads") -> go.Figure:
    """From `measure_decoding`: wall-clock speed-up (bars) and tokens per forward (line) against
    the number of drafting heads (0 = plain greedy), with the ceiling k + 1 and the draft model."""
    entries = [measurement["greedy"]] + list(measurement["speculative"])
    ks = [e["drafting_heads"] for e in entries]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=ks, y=[e["speedup"] for e in entries], name="speed-up (wall clock)",
                         marker=dict(color=["#888888"] + [head_colour(k + 1) for k in ks[1:]]),
                         text=[f"{e['speedup']:.2f}×" for e in entries], textposition="outside"), secondary_y=False)
    fig.add_trace(go.Scatter(x=ks, y=[e["tokens_per_forward"] for e in entries], mode="lines+markers",
                             name="tokens per forward", line=dict(color="#000000", width=2)), secondary_y=True)
    fig.add_trace(go.Scatter(x=ks, y=[k + 1 for k in ks], mode="lines", name="ceiling: k + 1 tokens per forward",
                             line=dict(color="#999999", dash="dot")), secondary_y=True)
    draft = measurement.get("draft_model")
    if draft:
        fig.add_trace(go.Scatter(x=[ks[-1] + 0.6], y=[draft["speedup"]], mode="markers",
                                 name=f"separate draft model: {draft['speedup']:.2f}×",
                                 marker=dict(symbol="star", size=15, color="#D55E00"),
                                 hovertemplate="draft model: %{y:.2f}×<extra></extra>"), secondary_y=False)
    top = max([e["speedup"] or 0 for e in entries] + [(draft or {}).get("speedup") or 0] + [1.0])
    fig.update_xaxes(title="drafting heads (0 = plain greedy)", tickvals=ks)
    fig.update_yaxes(title="speed-up over greedy (×)", range=[0, top * 1.3], secondary_y=False)
    fig.update_yaxes(title="tokens per forward", range=[0, max(ks) + 1.5], dtick=1, secondary_y=True,
                     showgrid=False)
    return _layout(fig, title, height=360, legend=dict(orientation="h", y=-0.25))


def decoding_comparison(measurement: dict, title: str = "Self-speculative vs a separate draft model") -> go.Figure:
    """Speed-up and tokens per forward for greedy, speculative with all heads, and the draft model."""
    rows = [("greedy", measurement["greedy"])]
    if measurement["speculative"]:
        best = measurement["speculative"][-1]
        rows.append((f"self-speculative ({best['drafting_heads']} drafting heads)", best))
    if measurement.get("draft_model"):
        rows.append(("separate draft model", measurement["draft_model"]))
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
    return _layout(fig, title, height=360, margin=dict(l=10, r=10, t=90, b=10))


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
    return _layout(fig, title, height=380, legend=dict(orientation="h", y=-0.2), margin=dict(l=10, r=10, t=90, b=10))


# ---- notebooks: attention and distributions ------------------------------------------------------

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
    return _layout(fig, title, height=min(side, 720), margin=dict(l=10, r=10, t=90 if title else 60, b=10))


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
    return _layout(fig, title, height=320, barmode="group", legend=dict(orientation="h", y=-0.3))


from .viz_results import experiment_figure  # noqa: E402,F401  (the experiments figures, see viz_results.py)
from .viz_tree import candidate_tree, tree_attention_mask  # noqa: E402,F401  (tree rounds, see viz_tree.py)
