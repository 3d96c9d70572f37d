"""Tree decoding, greedy: the loop that drafts a candidate tree, checks it in one forward, and keeps a path.

One round (Cai et al. 2024, Medusa; the tree and its rules are in tree.py):

    the last forward, at the last accepted node:  head 1 -> the sure token s (the tree's root)
                                                  heads 2..D+1 -> their top guesses, best first
    put a guess on every node of the tree shape: node (r1, ..., rd) gets head d+1's rank-r_d guess
    ONE forward of [s, every node] with the tree mask and position ids (prefix length + depth)
    -> head 1's greedy choice at every node
    walk down from the root: a child is accepted when its token is its parent's choice
    commit the accepted path and head 1's choice after its last node ("bonus" when that node
    has no children, "corrected" when its children were all wrong), move the path's keys and
    values in every cache layer to the slots right after the prefix, and forget the other nodes
    the last accepted node's heads 2..D+1 give the next round's guesses: no extra forward

The output is token for token the greedy output: every accepted token is head 1's greedy choice
after exactly the text before it, since the tree mask hides every other branch. Choices come
from the same softmax-then-max as plain greedy decoding (speculative.top_choices).

The guesses come from the drafter (drafters.py, `ranked`): parallel heads 2..K all guess from
the same position, so every node at depth d picks from one ranked list; causal and sequential
heads, whose guess at depth d reads the token at depth d - 1, rank along the chain of first
choices (the shape is cut by `tree.only_first_choice_ancestors`). The loop has no branch per
drafter. The tree never crosses the context window's end nor goes past max_new_tokens: its
depth is cut instead. Temperature is ignored (greedy only).
Explained in notebooks/09_trees_and_causal_heads.ipynb.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from .speculative import DecodeRun, prefill, round_length, top_choices
from .trace import DraftCheck, Round
from .tree import (
    TreeShape,
    accepted_path,
    node_tokens,
)
from .window import SlidingWindow


def tree_speculative_decode(model, drafter, shape: TreeShape, prompt_ids: list, run: DecodeRun, trace) -> list:
    """The drafter's heads 2..D+1 fill a candidate tree (`drafter.ranked`, drafters.py), head 1 checks
    every node in one forward; greedy only."""
    trace.drafters = list(range(2, shape.depth + 2))
    window = SlidingWindow(model, heads=drafter.verify_heads, extra=shape.size - 1)  # room for a tree
    tokens, P = list(prompt_ids), len(prompt_ids)
    forward = prefill(window, tokens, run, trace)  # logits (T, heads, V)
    drafter.begin(window, forward)
    prob = top_choices(forward.logits[-1:])[2][0][0]  # head 1's probability of the prefill's greedy token
    cut = {shape.depth: shape}  # the tree cut to a smaller depth, near the end of the text or a window

    while len(tokens) - P < run.max_new_tokens and not trace.stopped:
        started = time.perf_counter()
        root = len(tokens) - 1  # position of the sure token: committed, not yet fed
        depth = round_length(window, tokens, P, run, shape.depth)
        if depth not in cut:
            cut[depth] = shape.cut(depth)
        tree = cut[depth]
        guesses, q = drafter.ranked(tokens, tree)  # each depth's ranked guesses, index 0 for the root
        nodes = node_tokens(tree, [[tokens[-1]]] + guesses[1:])
        before = window.cache.length
        forward = window.feed_tree(tokens, nodes, tree)  # ONE forward over every node: logits (N, heads, V)
        probs, top_t, top_p = top_choices(forward.logits)
        checked = CheckedTree(tree=tree, nodes=nodes, q=q, root_prob=prob, probs=probs,
                              choices=[row[0] for row in top_t], choice_probs=[row[0] for row in top_p])
        path = accepted_path(tree, nodes, checked.choices)
        committed = [nodes[i] for i in path[1:]] + [checked.choices[path[-1]]]
        window.keep_path(root, path)  # the accepted nodes move next to the prefix; the rest is forgotten
        drafter.after_verify(window, forward.along(path), len(path) - 1, root + len(path))
        trace.add(tree_round(trace.forwards, checked, path, committed, run, before=before, window=window,
                             reread=forward.reread, started=started))
        tokens.extend(committed)
        prob = checked.choice_probs[path[-1]]
    return tokens[P:]


@dataclass
class CheckedTree:
    """One round's candidate tree after the verifying forward."""

    tree: TreeShape
    nodes: list  # token at every node, root first
    q: list  # q[d][r]: the drafting head's probability of its rank-r guess at depth d
    root_prob: float  # head 1's probability of the root (the sure token)
    probs: torch.Tensor  # (N, heads, V) at every node
    choices: list  # head 1's greedy token after each node's path
    choice_probs: list  # and its probability


def tree_round(index: int, checked: CheckedTree, path: list, committed: list, run: DecodeRun, *, before: int,
               window, reread: int, started: float) -> Round:
    """The trace's record of one tree round: every node, the mask, the accepted path (JSON-safe)."""
    tree, nodes, choices = checked.tree, checked.nodes, checked.choices
    on_path = set(path)
    parents, depths, ranks = tree.parents, tree.depths, tree.ranks
    node_q = [checked.root_prob] + [checked.q[d][r] for d, r in zip(depths[1:], ranks[1:])]
    p_token = checked.probs[tree.parent_ids, 0, nodes[1:]].tolist()  # head 1's probability of each node at its parent
    checks = [DraftCheck(offset=depths[i], drafter=depths[i] + 1, token=nodes[i], char=run.char(nodes[i]),
                         q=node_q[i], verifier_token=choices[parents[i]], verifier_char=run.char(choices[parents[i]]),
                         verifier_prob=checked.choice_probs[parents[i]], p=p_token[i - 1], uniform=None,
                         accepted=i in on_path, rule="match", checked=parents[i] in on_path)
              for i in range(1, tree.size)]
    described = [{"index": i, "token": nodes[i], "char": run.char(nodes[i]), "depth": depths[i],
                  "parent": parents[i] if i else None, "head": depths[i] + 1, "rank": ranks[i], "q": node_q[i],
                  "greedy_next": choices[i], "accepted": i in on_path, "checked": i == 0 or parents[i] in on_path}
                 for i in range(tree.size)]
    last = path[-1]
    return Round(
        index=index, kind="verify", fed=list(nodes), checks=checks, accepted=len(path) - 1,
        next_token=choices[last], next_kind="corrected" if tree.children[last] else "bonus",
        next_prob=checked.choice_probs[last], committed=committed, cache_before=before,
        cache_after=window.cache.length, seconds=time.perf_counter() - started, note=window.note(reread),
        window_start=window.start, reread=reread,
        tree={"depth": tree.depth, "nodes": described, "path": list(path), "mask": tree.mask_rows})
