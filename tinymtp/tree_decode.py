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

from .causal_drafts import ChainDrafter
from .errors import TinyMTPError
from .speculative import prefill_round, top_choices
from .trace import DraftCheck, Round
from .tree import (
    DEFAULT_PATHS,
    TreeShape,
    accepted_path,
    make_tree,
    node_tokens,
    only_first_choice_ancestors,
    parse_tree,
)
from .window import SlidingWindow


def resolve_tree(model, tree, heads: int) -> TreeShape:
    """The shape tree mode uses with drafting heads 2..heads; the default is cut to their depth."""
    vocab_size = model.config.vocab_size
    shape = make_tree(DEFAULT_PATHS).cut(heads - 1) if tree is None else parse_tree(tree)
    if shape.size == 1:
        raise TinyMTPError("the tree has no nodes below the root: give at least one path, e.g. [[0]]")
    if shape.depth > heads - 1:
        raise TinyMTPError(f"the tree is {shape.depth} deep, but heads 2..{heads} guess only {heads - 1} "
                           f"token(s) ahead: use a shallower tree or more --heads")
    if model.chained:  # causal heads rank guesses only below their own first choices
        shape = only_first_choice_ancestors(shape)
    if max(shape.ranks) >= vocab_size:
        raise TinyMTPError(f"the tree asks for rank {max(shape.ranks)}, but the vocabulary has only "
                           f"{vocab_size} tokens (ranks start at 0)")
    return shape


def head_candidates(probs, shape: TreeShape) -> tuple[list, list]:
    """Heads 2..D+1's ranked guesses at one position, as many as the shape uses at each depth.

    probs (K, V): every head's distribution there, head 1 first. Returns (candidates, q):
    candidates[d] = head d+1's tokens, best first, and q[d] their probabilities, d = 1..D;
    index 0 is left for the root (the sure token).
    """
    D = shape.depth
    top_p, top_t = probs[1 : D + 1].topk(max(shape.widths[1:]), dim=-1)  # (D, width)
    return [[]] + top_t.tolist(), [[]] + top_p.tolist()


def tree_speculative_decode(model, K, shape: TreeShape, prompt_ids, max_new_tokens, temperature, top_k, generator,
                            vocab, trace, propose=head_candidates) -> list:
    """Heads 2..D+1 fill a candidate tree, head 1 checks every node in one forward; greedy only."""
    trace.drafters = list(range(2, shape.depth + 2))
    chain = ChainDrafter(model, shape.depth + 1) if model.chained else None  # causal heads guess in turn
    window = SlidingWindow(model, heads=1 if chain else shape.depth + 1, extra=shape.size - 1)  # room for a tree
    tokens, P = list(prompt_ids), len(prompt_ids)

    t0 = time.perf_counter()
    logits, _ = window.feed(tokens, P)  # the prefill: (T, D+1, V)
    probs, top_t, top_p = top_choices(logits[-1:])
    token, prob = top_t[0][0], top_p[0][0]
    guesses, q = (None, None) if chain else propose(probs[0], shape)
    trace.add(prefill_round(window, tokens, logits.size(0), token, prob, t0))
    tokens.append(token)
    cut = {shape.depth: shape}  # the tree cut to a smaller depth, near the end of the text or a window

    while len(tokens) - P < max_new_tokens and not trace.stopped:
        t0 = time.perf_counter()
        root = len(tokens) - 1  # position of the sure token: committed, not yet fed
        left = max_new_tokens - (len(tokens) - P)  # a round commits at most depth + 1 tokens
        depth = min(shape.depth, left - 1, window.last_position(root) - root)
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
        choices = [row[0] for row in top_t]  # head 1's greedy token after each node's path
        path = accepted_path(tree, nodes, choices)
        last = path[-1]
        committed = [nodes[i] for i in path[1:]] + [choices[last]]
        window.keep_path(root, path)  # the accepted nodes move next to the prefix; the rest is forgotten
        trace.add(tree_round(trace.forwards, tree, nodes, q, prob, probs, choices, top_p, path,
                                       committed, vocab, before, window, reread, t0))
        tokens.extend(committed)
        token, prob = choices[last], top_p[last][0]
        if not chain:
            guesses, q = propose(probs[last], shape)  # the next round's guesses, from the last accepted node
    return tokens[P:]


def tree_round(index, tree: TreeShape, nodes, q, root_prob, probs, choices, top_p, path, committed, vocab,
               before, window, reread, started) -> Round:
    """The trace's record of one tree round: every node, the mask, the accepted path (JSON-safe)."""
    on_path = set(path)
    parents, depths, ranks = tree.parents, tree.depths, tree.ranks
    node_q = [root_prob] + [q[d][r] for d, r in zip(depths[1:], ranks[1:])]
    p_token = probs[tree.parent_ids, 0, nodes[1:]].tolist()  # head 1's probability of each node at its parent
    chars = [vocab[t] if vocab else "" for t in nodes]
    choice_chars = [vocab[t] if vocab else "" for t in choices]
    checks = [DraftCheck(depths[i], depths[i] + 1, nodes[i], chars[i], node_q[i], choices[parents[i]],
                         choice_chars[parents[i]], top_p[parents[i]][0], p_token[i - 1], None, i in on_path,
                         "match", parents[i] in on_path)
              for i in range(1, tree.size)]
    described = [{"index": i, "token": nodes[i], "char": chars[i], "depth": depths[i],
                  "parent": parents[i] if i else None, "head": depths[i] + 1, "rank": ranks[i], "q": node_q[i],
                  "greedy_next": choices[i], "accepted": i in on_path, "checked": i == 0 or parents[i] in on_path}
                 for i in range(tree.size)]
    last = path[-1]
    return Round(
        index=index, kind="verify", fed=list(nodes), checks=checks, accepted=len(path) - 1,
        next_token=choices[last], next_kind="corrected" if tree.children[last] else "bonus",
        next_prob=top_p[last][0], committed=committed, cache_before=before, cache_after=window.cache.length,
        seconds=time.perf_counter() - started, note=window.note(reread), window_start=window.start, reread=reread,
        tree={"depth": tree.depth, "nodes": described, "path": list(path), "mask": tree.mask_rows})
