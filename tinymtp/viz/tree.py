"""Figures of one tree-decoding round: the candidate tree and its attention mask.

Both read the `tree` record a tree round carries in its trace (tree_decode.tree_round):
`nodes` (token, char, depth, parent, head, rank, q, greedy_next, accepted, checked), the
accepted `path` of node indices from the root, and the `mask` (row i: which nodes node i sees).

- `candidate_tree`: depth left to right, one box per candidate. Green with ✓: accepted (on the
  kept path); vermillion with ✗: checked and rejected (its parent was accepted, but head 1
  chose another token there); grey ·: never checked (its parent was already rejected). The
  kept path is drawn with thick edges; the token head 1 adds after it is shown at its end.
- `tree_attention_mask`: the mask as a grid, a filled cell where the row's node may look at
  the column's node. Each node sees the root, its ancestors and itself, never its siblings:
  that is what lets one forward pass check many alternatives at once.

Explained in notebooks/09_trees_and_causal_heads.ipynb; shown on the app's speculative page.
"""

from __future__ import annotations

import plotly.graph_objects as go

from .style import ACCEPT_MARK, ACCEPTED, MONO, REJECT_MARK, REJECTED, UNUSED, layout, plot_text

ROOT_FILL, PATH_EDGE, OTHER_EDGE = "#0072B2", "#1B2A41", "#CCCCCC"


def _rows(nodes: list) -> list:
    """A vertical slot for every node: leaves take consecutive rows, parents sit at their
    children's mean, so no two branches cross."""
    children = {n["index"]: [] for n in nodes}
    for n in nodes[1:]:
        children[n["parent"]].append(n["index"])
    row, next_leaf = [0.0] * len(nodes), [0]

    def place(i):
        if not children[i]:
            row[i] = float(next_leaf[0])
            next_leaf[0] += 1
        else:
            for c in children[i]:
                place(c)
            row[i] = sum(row[c] for c in children[i]) / len(children[i])

    place(0)
    return row


def _verdict(node: dict) -> tuple[str, str, str]:
    """(fill colour, mark, words) for one node."""
    if node["depth"] == 0:
        return ROOT_FILL, "", "sure token"
    if node["accepted"]:
        return ACCEPTED, ACCEPT_MARK, "accepted"
    if node["checked"]:
        return REJECTED, REJECT_MARK, "rejected"
    return UNUSED, "·", "not checked (its parent was rejected)"


def candidate_tree(rnd, tokenizer, title: str | None = None) -> go.Figure:
    """The candidate tree of one tree round (see the module docstring)."""
    tree = rnd.tree
    nodes, path = tree["nodes"], tree["path"]
    rows, on_path = _rows(nodes), set(path)
    fig = go.Figure()
    for n in nodes[1:]:  # edges first, under the boxes
        kept = n["index"] in on_path
        fig.add_trace(go.Scatter(x=[n["depth"] - 1, n["depth"]], y=[rows[n["parent"]], rows[n["index"]]],
                                 mode="lines", hoverinfo="skip", showlegend=False,
                                 line=dict(color=PATH_EDGE if kept else OTHER_EDGE, width=4 if kept else 1.5)))
    last = path[-1]
    bonus_x, bonus_y = tree["depth"] + 1, rows[last]  # head 1's token, in its own column after the tree
    if nodes[last]["depth"] == tree["depth"]:  # a line to it would otherwise cross the unchecked nodes
        fig.add_trace(go.Scatter(x=[nodes[last]["depth"], bonus_x - 0.35], y=[bonus_y, bonus_y], mode="lines",
                                 hoverinfo="skip", showlegend=False, line=dict(color=PATH_EDGE, width=4, dash="dot")))
    hover, xs, ys, colours, labels = [], [], [], [], []
    for n in nodes:
        fill, mark, words = _verdict(n)
        xs.append(n["depth"])
        ys.append(rows[n["index"]])
        colours.append(fill)
        labels.append(f"{plot_text(n['char'])}{(' ' + mark) if mark else ''}")
        who = "root" if n["depth"] == 0 else f"head {n['head']}, rank {n['rank'] + 1} guess"
        hover.append(f"node {n['index']} · {who}<br>token {plot_text(n['char'])} · q={n['q']:.2f}<br>{words}"
                     f"<br>head 1 would write next: {plot_text(tokenizer.decode([n['greedy_next']]))}")
    fig.add_trace(go.Scatter(
        x=xs, y=ys, mode="markers+text", text=labels, textfont=dict(family=MONO, size=15, color="white"),
        marker=dict(symbol="square", size=38, color=colours, line=dict(color="#FFFFFF", width=1)),
        hovertext=hover, hoverinfo="text", showlegend=False))
    if rnd.next_token is not None:
        fig.add_annotation(x=bonus_x, y=bonus_y, showarrow=False, font=dict(family=MONO, size=15, color="white"),
                           text=f"+{plot_text(tokenizer.decode([rnd.next_token]))}", bgcolor=ROOT_FILL if rnd.next_kind == "bonus" else "#555555",
                           bordercolor="#FFFFFF", borderpad=6)
        fig.add_annotation(x=bonus_x, y=bonus_y + 0.45, showarrow=False, font=dict(size=10),
                           text="bonus" if rnd.next_kind == "bonus" else
                           f"head 1's token after node {last} ({plot_text(nodes[last]['char'])})")
    depth = tree["depth"]
    fig.update_xaxes(tickvals=list(range(depth + 2)), side="top", showgrid=False, zeroline=False, tickangle=0,
                     ticktext=["root"] + [f"depth {d}<br>head {d + 1}" for d in range(1, depth + 1)] + ["next"],
                     range=[-0.5, depth + 1.5])
    fig.update_yaxes(visible=False, autorange="reversed")
    kept, committed = len(path) - 1, len(rnd.committed)
    title = title or (f"Round {rnd.index}: {len(nodes) - 1} candidates · {kept} accepted · "
                      f"{committed} token{'s' if committed != 1 else ''} written")
    return layout(fig, title, height=max(260, 44 * (max(rows) + 1) + 110), margin=dict(l=10, r=10, t=90, b=10))


def tree_attention_mask(rnd, title: str | None = "Tree attention mask: who may look at whom") -> go.Figure:
    """The round's tree mask as a grid (row = the node looking, column = the node looked at)."""
    tree = rnd.tree
    nodes, mask, on_path = tree["nodes"], tree["mask"], set(tree["path"])
    N = len(nodes)
    z = [[(2 if (i in on_path and j in on_path) else 1) if mask[i][j] else 0 for j in range(N)] for i in range(N)]
    labels = [f"{n['index']}:{plot_text(n['char'])}" for n in nodes]
    hover = [[f"node {labels[i]} {'sees' if mask[i][j] else 'does not see'} node {labels[j]}" for j in range(N)]
             for i in range(N)]
    fig = go.Figure(go.Heatmap(
        z=z, x=list(range(N)), y=list(range(N)), zmin=0, zmax=2, showscale=False, xgap=1, ygap=1,
        colorscale=[[0, "#F4F4F4"], [0.5, "#9DB9D9"], [1, ACCEPTED]], text=hover, hoverinfo="text"))
    fig.update_xaxes(tickvals=list(range(N)), ticktext=labels, side="top", tickangle=-90, showgrid=False,
                     tickfont=dict(family=MONO, size=11), title="looked at", constrain="domain")
    fig.update_yaxes(tickvals=list(range(N)), ticktext=labels, autorange="reversed", showgrid=False,
                     tickfont=dict(family=MONO, size=11), title="looking", scaleanchor="x", constrain="domain")
    fig.add_annotation(x=1, y=-0.02, xref="paper", yref="paper", showarrow=False, xanchor="right", yanchor="top",
                       font=dict(size=10), text="green: the kept path · blue: other allowed looks · grey: masked")
    side = 22 * max(N, 6) + 150
    return layout(fig, title, height=min(side, 760), margin=dict(l=10, r=10, t=120, b=30))
