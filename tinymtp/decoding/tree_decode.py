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

The guesses come from `propose(probs, shape)`, by default `head_candidates` (heads 2..K all
guess from the same position, so every node at depth d picks from one ranked list). A drafter
whose guess at depth d depends on the token chosen at depth d - 1 can plug in here with a shape
cut by `tree.only_first_choice_ancestors`. The tree never crosses the context window's end nor
goes past max_new_tokens: its depth is cut instead. Temperature is ignored (greedy only).
Explained in notebooks/09_trees_and_causal_heads.ipynb.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from .causal_drafts import ChainDrafter
from .speculative import DecodeRun, prefill, round_length, top_choices
from .trace import DraftCheck, Round
from .tree import (
    TreeShape,
    accepted_path,
    node_tokens,
)
from .window import SlidingWindow


def head_candidates(probs, shape: TreeShape) -> tuple[list, list]:
    """Heads 2..D+1's ranked guesses at one position, as many as the shape uses at each depth.

    probs (K, V): every head's distribution there, head 1 first. Returns (candidates, q):
    candidates[d] = head d+1's tokens, best first, and q[d] their probabilities, d = 1..D;
    index 0 is left for the root (the sure token).
    """
    D = shape.depth
    top_p, top_t = probs[1 : D + 1].topk(max(shape.widths[1:]), dim=-1)  # (D, width)
    return [[]] + top_t.tolist(), [[]] + top_p.tolist()


def tree_speculative_decode(model, shape: TreeShape, prompt_ids: list, run: DecodeRun, trace,
                            propose=head_candidates) -> list:
    """Heads 2..D+1 fill a candidate tree, head 1 checks every node in one forward; greedy only."""
    trace.drafters = list(range(2, shape.depth + 2))
    chain = ChainDrafter(model, shape.depth) if model.chained else None  # causal heads guess in turn
    window = SlidingWindow(model, heads=1 if chain else shape.depth + 1, extra=shape.size - 1)  # room for a tree
    tokens, P = list(prompt_ids), len(prompt_ids)
    logits = prefill(window, tokens, run, trace)  # (T, D+1, V)
    probs, _, top_p = top_choices(logits[-1:])  # (1, D+1, V)
    token, prob = tokens[-1], top_p[0][0]  # the prefill's token is head 1's greedy choice
    guesses, q = (None, None) if chain else propose(probs[0], shape)
    cut = {shape.depth: shape}  # the tree cut to a smaller depth, near the end of the text or a window

    while len(tokens) - P < run.max_new_tokens and not trace.stopped:
        started = time.perf_counter()
        root = len(tokens) - 1  # position of the sure token: committed, not yet fed
        depth = round_length(window, tokens, P, run, shape.depth)
        if depth not in cut:
            cut[depth] = shape.cut(depth)
        tree = cut[depth]
        if chain:  # the chain's guesses need the sure token: made now, one head after the other
            chain.record(window)
            guesses, q = chain.ranked(tokens, root - 1, tree.widths)
        nodes = node_tokens(tree, [[token]] + guesses[1:])
        before = window.cache.length
        logits, reread = window.feed_tree(tokens, nodes, tree)  # ONE forward over every node: (N, D+1, V)
        probs, top_t, top_p = top_choices(logits)
        checked = CheckedTree(tree=tree, nodes=nodes, q=q, root_prob=prob, probs=probs,
                              choices=[row[0] for row in top_t], choice_probs=[row[0] for row in top_p])
        path = accepted_path(tree, nodes, checked.choices)
        committed = [nodes[i] for i in path[1:]] + [checked.choices[path[-1]]]
        window.keep_path(root, path)  # the accepted nodes move next to the prefix; the rest is forgotten
        trace.add(tree_round(trace.forwards, checked, path, committed, run, before=before, window=window,
                             reread=reread, started=started))
        tokens.extend(committed)
        token, prob = checked.choices[path[-1]], checked.choice_probs[path[-1]]
        if not chain:
            guesses, q = propose(probs[path[-1]], shape)  # the next round's guesses, from the last kept node
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
