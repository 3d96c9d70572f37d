"""Choosing the tree's shape by measurement (`python -m tinymtp bench tree`), as Medusa did.

Which candidate nodes are worth a place in the tree? A node (r1, ..., rd) is accepted exactly
when, for every depth i <= d, the token greedy decoding writes at depth i is head i+1's rank-r_i
guess. So the calibration (Cai et al. 2024 chose Medusa's trees from calibration data the
same way) decodes held-out prompts greedily and records, at every position t of the greedy
text, the rank of each later greedy token among the guesses of the head that drafts it:

    ranks(t) = (rank of x[t+2] under head 2 at t, rank of x[t+3] under head 3 at t, ...)

A node's acceptance rate is the share of positions whose ranks begin with its path; the
expected tokens per forward of a tree is 1 + the sum of its nodes' rates (the accepted nodes
form one path, so their count is the path's depth). A child is never accepted more often than
its parent, so the best tree of N nodes is simply the N - 1 most often accepted paths
(`grow_tree`): Medusa's greedy construction, with measured joint rates instead of a product
of per-head accuracies.

More nodes always raise tokens per forward, but each forward then feeds more tokens, which a
CPU pays for (see speedup.forward_costs); `bench tree` therefore measures the wall clock of a
few tree sizes against greedy and the chain, on prompts kept apart from the calibration ones.
The default shape (tree.DEFAULT_PATHS) is the fastest tree that branches which it found on
mtp-4head before its distillation (the 4-node tree is the chain itself: `--mode speculative`).
"""

from __future__ import annotations

import json
from collections import Counter

import torch

from ..data.corpora import load_corpus
from ..decoding.decode import decode_ids
from ..decoding.settings import DecodeSettings
from ..decoding.tree import TreeShape, make_tree, parse_tree
from ..decoding.window import window_start
from ..files.checkpoint import load_checkpoint
from ..files.paths import checkpoints_dir
from .bench_decode import format_table
from .speedup import BenchPlan, heldout_prompts, measure_decoding


def calibration_prompts(tokenizer, avoid: list, count: int = 48, length: int = 48,
                        corpus: str = "python-stdlib") -> list:
    """Held-out prompts that share no text with the `avoid` prompts (the ones the benchmark times)."""
    text = load_corpus(corpus).val_text
    taken = [text.find(p) for p in avoid]
    pool = heldout_prompts(tokenizer, count=count + 3 * len(avoid), length=length, corpus=corpus)
    apart = [p for p in pool if all(abs(text.find(p) - start) >= length for start in taken)]
    step = len(apart) / min(count, len(apart))
    return [apart[int(i * step)] for i in range(min(count, len(apart)))]


def greedy_ranks(model, prompts_ids: list, max_new_tokens: int = 256, depth: int | None = None) -> list:
    """For every position t of each prompt's greedy continuation: the ranks (r1, ..., rD) of the
    greedy tokens x[t+2], ..., x[t+1+D] among heads 2..D+1's guesses at t (0 = the top guess).

    Every position sees the context window decoding would show it (window.py).
    """
    D = depth or model.config.n_heads - 1
    C = model.config.context_length
    device = next(model.parameters()).device
    rows = []
    with torch.inference_mode():
        for ids in prompts_ids:
            text = ids + decode_ids(model, ids, DecodeSettings("speculative", max_new_tokens, draft_len=D)).tokens  # = greedy
            wanted = range(len(ids) - 1, len(text) - 1 - D)  # positions whose D later tokens are greedy's
            for start in sorted({window_start(t, C) for t in wanted}):
                here = [t for t in wanted if window_start(t, C) == start]
                x = torch.tensor([text[start : here[-1] + 1]], device=device)  # (1, T)
                logits = model(x, heads=D + 1).logits[0, [t - start for t in here], 1:]  # (P, D, V)
                later = torch.tensor([[text[t + 1 + d] for d in range(1, D + 1)] for t in here], device=device)
                target = logits.gather(-1, later[..., None])  # (P, D, 1): each head's logit of greedy's token
                rows += [tuple(r) for r in (logits > target).sum(-1).tolist()]  # rank = guesses above it
    return rows


def count_paths(rows: list, max_rank: int = 8) -> Counter:
    """How often each path of ranks is accepted: a position counts for every beginning of its ranks."""
    counts = Counter()
    for ranks in rows:
        for d in range(1, len(ranks) + 1):
            if ranks[d - 1] >= max_rank:
                break
            counts[ranks[:d]] += 1
    return counts


def grow_tree(counts: Counter, size: int) -> TreeShape:
    """The tree of `size` nodes (root included) with the most accepted nodes: the most frequent paths.

    Ties go to the shallower path, so a parent always comes before its children.
    """
    best = sorted(counts, key=lambda p: (-counts[p], len(p), p))[: size - 1]
    return make_tree(best)


def expected_tokens_per_forward(shape: TreeShape, counts: Counter, positions: int) -> float:
    """1 + the sum of the nodes' acceptance rates: the calibration's forecast of tokens per forward."""
    return 1 + sum(counts[p] for p in shape.paths) / positions


def calibrate(model, tokenizer, prompts: list, max_new_tokens: int = 256, sizes=(4, 6, 8, 12, 16, 32, 64)) -> dict:
    """Trees of each size grown from the prompts' greedy continuations, with their forecasts."""
    rows = greedy_ranks(model, [tokenizer.encode(p) for p in prompts], max_new_tokens)
    counts = count_paths(rows)
    D = len(rows[0]) if rows else 0
    top_rank = [{r: round(sum(row[d] == r for row in rows) / len(rows), 4) for r in range(4)} for d in range(D)]
    trees = [grow_tree(counts, size) for size in sizes]
    chain = make_tree([(0,) * d for d in range(1, D + 1)])
    return {"prompts": len(prompts), "positions": len(rows), "rank_share_per_head": top_rank,
            "chain_forecast": round(expected_tokens_per_forward(chain, counts, len(rows)), 4),
            "trees": [{"nodes": t.size, "paths": t.text(),
                       "forecast": round(expected_tokens_per_forward(t, counts, len(rows)), 4)} for t in trees],
            "shapes": trees}


def bench_tree(args) -> int:
    """`python -m tinymtp bench tree`: calibrate on held-out prompts, then time each tree size."""
    ckpt = load_checkpoint(args.checkpoint or str(checkpoints_dir() / "mtp-4head"))
    count, new_tokens, repeats, calib = (4, 64, 1, 8) if args.quick else (12, 256, 3, 48)
    timed = heldout_prompts(ckpt.tokenizer, count=count, length=48)  # the prompts bench decode times
    calibration = calibrate(ckpt.model, ckpt.tokenizer, calibration_prompts(ckpt.tokenizer, timed, count=calib),
                            max_new_tokens=new_tokens)
    plan = BenchPlan(max_new_tokens=new_tokens, repeats=repeats, draft_lens=(ckpt.model.config.n_heads - 1,),
                     trees=tuple(calibration.pop("shapes")))
    result = measure_decoding(ckpt.model, ckpt.tokenizer, timed, plan)
    result["calibration"] = calibration
    branching = [e for e in result["tree_sweep"] if max(parse_tree(e["tree"]).widths) > 1]
    fastest = max(branching or result["tree_sweep"], key=lambda e: e["speedup"])
    result["fastest_tree"] = {"nodes": fastest["nodes"], "paths": fastest["tree"], "speedup": fastest["speedup"]}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"calibration: {calibration['prompts']} held-out prompts, {calibration['positions']} positions; "
          f"forecast tokens per forward: chain {calibration['chain_forecast']:.2f}, "
          + ", ".join(f"{t['nodes']} nodes {t['forecast']:.2f}" for t in calibration["trees"]))
    print(format_table(result))
    print(f"fastest tree that branches: {fastest['nodes']} nodes, {fastest['speedup']:.2f}x: {fastest['tree']}")
    return 0
