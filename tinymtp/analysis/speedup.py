"""How much faster is self-speculative decoding? (`python -m tinymtp bench decode`)

`measure_decoding(model, tokenizer, prompts)` decodes every prompt with plain greedy decoding
(head 1 only, the "standard inference" baseline), with greedy self-speculative decoding for
K = 2..n drafting heads (K = n is "speculative"), and optionally with a separate draft model and
with prompt lookup (`lookup_tokens`), all with the KV cache, on the same prompts, in one process. The runs are interleaved (prompt by prompt, every mode
in turn) and repeated, and each repeat gives its own ratios, so a slow spell of these small,
noisy machines hits every mode alike; the report takes medians. It also checks that every
greedy-exact mode produced exactly the greedy text (`identical`).

With `trees`, it also times tree decoding (tree.py) with each given tree shape, and
`forward_costs` times one forward over each tree's nodes. Reported per mode: tokens/s, tokens
per forward, seconds per forward, the acceptance length and, per head (per depth for trees), the
share of rounds that kept its draft and the conditional rate (as trace.py defines them), and
`speedup` (its tokens/s over greedy's). The wall-clock speed-up is roughly tokens per forward
divided by `forward_cost_ratio` (how much longer a verifying forward over K tokens with K heads
takes than a one-token, one-head forward), which is where the gap between the two comes from.
Every row also carries the cost model's prediction (cost_model.py, `_add_predictions`): acceptance
length / round cost, the round cost taken from the same run's own round times.

Decoding a model this small is bound by per-operation overhead, not arithmetic, so by default
the measurement runs PyTorch on one thread (`threads=1`; restored afterwards): a second
thread only adds wake-up latency, and on a busy 2-core machine much more.
Explained in notebooks/06_self_speculative_decoding.ipynb.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch

from ..checkpoint import load_checkpoint
from ..corpora import BUILT_IN, load_corpus
from ..decoding.decode import DEFAULT_DRAFT_LEN, decode_ids
from ..decoding.tree import tree_positions
from ..decoding.tree_decode import resolve_tree
from ..errors import TinyMTPError
from ..paths import checkpoints_dir
from ..tokenizer import encode_prompt
from .cost_model import predicted_speedup, round_cost_ratio
from .repetition import mean_distinct_share

TEXT_KIND = {"python-stdlib": "Python source code", "stories": "synthetic children's stories"}


def heldout_prompts(tokenizer, count: int = 12, length: int = 48, corpus: str = "python-stdlib") -> list:
    """`count` prompts of `length` characters at evenly spaced offsets of the VALIDATION text.

    Prompts with characters outside the tokenizer's vocabulary are skipped (a neighbour offset
    is used instead), so the list may be shorter only when the text is.
    """
    text = load_corpus(corpus).val_text
    if len(text) < length:
        raise TinyMTPError(f"the validation text of '{corpus}' is shorter than one prompt ({length} characters)")
    candidates = [text[s : s + length] for s in range(0, len(text) - length + 1, max(1, length // 2))]
    usable = [p for p in candidates if not tokenizer.unknown_characters(p) and p.strip()]
    if not usable:
        raise TinyMTPError(f"no prompt of the '{corpus}' validation text fits this model's vocabulary")
    step = len(usable) / min(count, len(usable))
    return [usable[int(i * step)] for i in range(min(count, len(usable)))]


def measure_decoding(model, tokenizer, prompts: list, max_new_tokens: int = 256, repeats: int = 3,
                     heads_sweep=None, draft_model=None, draft_tokens: int = DEFAULT_DRAFT_LEN,
                     threads: int | None = 1, on_progress=None, trees=(), lookup_tokens: int | None = None) -> dict:
    """Greedy vs speculative (K = 2..n) vs draft-model vs tree decoding, interleaved; see the module doc.

    heads_sweep: the K values to try (default 2..n): K heads means drafting heads 2..K;
    draft_tokens: tokens the draft model proposes per round; on_progress(done, total) after every
    run; trees: tree shapes (tree.parse_tree's forms) to time in tree mode with all n heads;
    lookup_tokens: tokens prompt lookup proposes per round (None: no lookup row).
    Returns {"modes": {"greedy": ..., "speculative": ..., "draft-model": ..., "lookup": ..., "tree": ...},
    "heads_sweep": [one entry per K], "tree_sweep": [one entry per tree], "speedup",
    "tokens_per_forward", "draft_speedup", "lookup_speedup", "tree_speedup", "tree_tokens_per_forward",
    "identical", ...}. Every entry also has the cost model's `round_cost_ratio` and `predicted_speedup`.
    """
    n = model.config.n_heads
    if n < 2:
        raise TinyMTPError(f"the decoding benchmark needs a model with at least 2 heads; this one has {n}")
    sweep = sorted(set(heads_sweep or range(2, n + 1)))
    if not prompts:
        raise TinyMTPError("no prompts to measure")
    shapes = [resolve_tree(model, t, n - 1) for t in trees]
    configs = _configs(n, sweep, draft_model, draft_tokens, lookup_tokens, shapes)
    ids = [encode_prompt(tokenizer, p) for p in prompts]  # an empty or unknown-character prompt: one line
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    runs = {name: [[] for _ in range(repeats)] for name in configs}  # name -> repeat -> traces
    outputs = {name: [] for name in configs}  # the first repeat's tokens, prompt by prompt
    total, done = repeats * len(ids) * len(configs), 0
    try:
        for kwargs in configs.values():  # warm-up: the first calls pay for allocations and caches
            decode_ids(model, ids[0], max_new_tokens=min(16, max_new_tokens), **kwargs)
        costs = forward_costs(model, max(sweep), calls=max(10, 20 * repeats), trees=shapes)
        for r in range(repeats):
            for prompt in ids:
                for name, kwargs in configs.items():
                    result = decode_ids(model, prompt, max_new_tokens=max_new_tokens, **kwargs)
                    runs[name][r].append(result.trace)
                    if r == 0:
                        outputs[name].append(result.tokens)
                    done += 1
                    if on_progress is not None:
                        on_progress(done, total)
    finally:
        torch.set_num_threads(old_threads)
    result = _report(configs, runs, outputs, n, max_new_tokens, repeats, len(ids), threads or old_threads)
    full = result["modes"]["speculative"]
    costs["loop_cost_ratio"] = full["forward_cost_ratio"]  # forwards inside the decoding loops
    costs["explained_speedup"] = round(full["tokens_per_forward"] / full["forward_cost_ratio"], 3)
    result["forward_costs"] = costs
    cfg = model.config
    result["model"] = {"n_heads": n, "head_type": cfg.head_type, "context_length": cfg.context_length,
                       "parameters": model.num_parameters()}
    return result


def _configs(n: int, sweep: list, draft_model, draft_tokens: int, lookup_tokens, shapes: list) -> dict:
    """Every decoding mode to time, by its row name -> decode_ids' keyword arguments."""
    configs = {"greedy": dict(mode="greedy")}
    for K in sweep:
        configs[f"speculative K={K}"] = dict(mode="speculative", draft_len=K - 1)
    if draft_model is not None:
        configs["draft-model"] = dict(mode="draft-model", draft_len=draft_tokens, draft_model=draft_model,
                                      temperature=0)
    if lookup_tokens:
        configs["lookup"] = dict(mode="lookup", draft_len=lookup_tokens)
    for i, shape in enumerate(shapes):
        name = f"tree N={shape.size}"
        configs[name if name not in configs else f"{name} #{i + 1}"] = dict(mode="tree", draft_len=n - 1, tree=shape)
    return configs


def forward_costs(model, heads: int, filled: int | None = None, calls: int = 100, repeats: int = 5,
                  trees=()) -> dict:
    """Milliseconds of the model's forward alone: one token with head 1 (a greedy step) against
    `heads` tokens with heads 1..heads (a full verifying step; head 1 only for causal heads, whose
    drafts cost their own small forwards), on a cache holding `filled` tokens;
    and, per tree shape in `trees`, one forward over its nodes with the tree mask (a tree step).

    Their ratio is the part of `forward_cost_ratio` the decoding loop cannot remove. The same
    `heads` tokens with head 1 alone split it further: `later_heads_share` is the part of the
    verifying forward that heads 2..K take at every fed position (the rest is the trunk over
    `heads` tokens, which checking the drafts needs).
    """
    cfg = model.config
    filled = min(filled if filled is not None else cfg.context_length // 2, cfg.context_length - heads)
    device = next(model.parameters()).device
    cache = model.new_cache()
    cache.add_room(max((t.size for t in trees), default=1))
    zeros = lambda T: torch.zeros(1, T, dtype=torch.long, device=device)  # (1, T)
    checked_by = (lambda h: 1) if model.chained else (lambda h: h)  # causal heads: the verifier runs head 1 only
    steps = {"greedy": (zeros(1), 1, {}), "verify": (zeros(heads), checked_by(heads), {}),
             "verify, head 1 only": (zeros(heads), 1, {})}  # the profile: what heads 2..K add
    for t in trees:
        steps[f"tree {t.text()}"] = (zeros(t.size), checked_by(t.depth + 1),
                                     dict(positions=tree_positions(t, filled).to(device), mask=t.mask.to(device)))
    samples = {name: [] for name in steps}
    with torch.inference_mode():
        model(zeros(filled), cache=cache, heads=checked_by(cfg.n_heads))
        for _ in range(repeats):  # interleaved, like the decoding runs
            for name, (ids, h, tree_args) in steps.items():
                started = time.perf_counter()
                for _ in range(calls):
                    model(ids, cache=cache, heads=h, **tree_args)
                    cache.truncate(filled)
                samples[name].append((time.perf_counter() - started) / calls * 1000)
    ms = {name: statistics.median(times) for name, times in samples.items()}
    greedy, verify = ms["greedy"], ms["verify"]
    return {"greedy_forward_ms": round(greedy, 4), "verify_forward_ms": round(verify, 4),
            "model_cost_ratio": round(verify / greedy, 3), "cache_length": filled,
            "verify_head1_forward_ms": round(ms["verify, head 1 only"], 4),
            "later_heads_share": round(max(0.0, verify - ms["verify, head 1 only"]) / verify, 3),
            "trees": [{"nodes": t.size, "forward_ms": round(ms[f"tree {t.text()}"], 4),
                       "model_cost_ratio": round(ms[f"tree {t.text()}"] / greedy, 3)} for t in trees]}


def _report(configs, runs, outputs, n, max_new_tokens, repeats, n_prompts, threads) -> dict:
    def rate(traces):  # tokens/s over all prompts of one repeat
        return sum(len(t.tokens) for t in traces) / sum(t.seconds for t in traces)

    entries = {}
    for name, kwargs in configs.items():
        traces = runs[name][0]
        tokens, forwards = sum(len(t.tokens) for t in traces), sum(t.forwards for t in traces)
        seconds = [sum(t.seconds for t in rep) for rep in runs[name]]
        pooled = type(traces[0])(mode=traces[0].mode, drafters=traces[0].drafters,
                                 rounds=[rd for t in traces for rd in t.rounds])
        entry = {
            "mode": kwargs["mode"], "heads": traces[0].settings["heads"],
            "tokens_per_second": round(statistics.median(rate(rep) for rep in runs[name]), 1),
            "tokens_per_forward": round(tokens / forwards, 4), "tokens": tokens, "forwards": forwards,
            "seconds": round(statistics.median(seconds), 4),
            "ms_per_forward": round(1000 * statistics.median(seconds) / forwards, 4),
            "acceptance_per_head": pooled.acceptance_per_head(),
            "acceptance_share_of_rounds": [_rounded(r) for r in pooled.acceptance_share_of_rounds()],
            "acceptance_conditional": [_rounded(r) for r in pooled.acceptance_conditional()],
            "acceptance_length": _rounded(pooled.acceptance_length()),
            "drafts_accepted_per_round": _rounded(pooled.drafts_accepted_per_round()),
            "speedup": round(statistics.median(rate(rep) / rate(g) for rep, g in zip(runs[name], runs["greedy"])), 3),
            "identical": outputs[name] == outputs["greedy"],
        }
        if kwargs["mode"] in ("greedy", "speculative"):
            entry["drafting_heads"] = entry["heads"] - 1  # heads 2..K draft; 0 for plain greedy
        if kwargs["mode"] == "tree":
            entry.update(tree=kwargs["tree"].text(), nodes=kwargs["tree"].size)
        if kwargs["mode"] in ("draft-model", "lookup"):
            entry["draft_tokens"] = kwargs["draft_len"]
        if kwargs["mode"] == "draft-model":
            entry["draft_forwards"] = sum(r.draft_forwards for t in traces for r in t.rounds)
        entries[name] = entry
    greedy = entries["greedy"]
    for entry in entries.values():
        entry["forward_cost_ratio"] = round(entry["ms_per_forward"] / greedy["ms_per_forward"], 3)
    _add_predictions(entries, runs)
    sweep = [e for e in entries.values() if e["mode"] == "speculative"]
    full = next((e for e in sweep if e["heads"] == n), sweep[-1])
    modes = {"greedy": greedy, "speculative": full}
    for name in ("draft-model", "lookup"):
        if name in entries:
            modes[name] = entries[name]
    trees = [e for e in entries.values() if e["mode"] == "tree"]
    if trees:
        modes["tree"] = trees[0]
    return {
        "prompts": n_prompts, "max_new_tokens": max_new_tokens, "repeats": repeats, "threads": threads,
        "modes": modes, "heads_sweep": sweep, "tree_sweep": trees,
        "speedup": full["speedup"], "tokens_per_forward": full["tokens_per_forward"],
        "draft_speedup": modes["draft-model"]["speedup"] if "draft-model" in modes else None,
        "lookup_speedup": modes["lookup"]["speedup"] if "lookup" in modes else None,
        "tree_speedup": trees[0]["speedup"] if trees else None,
        "tree_tokens_per_forward": trees[0]["tokens_per_forward"] if trees else None,
        "identical": all(e["identical"] for e in entries.values()),
        "greedy_distinct_8grams": mean_distinct_share(outputs["greedy"], 8),  # repetitive text drafts easily
    }


def _add_predictions(entries: dict, runs: dict) -> None:
    """The cost model (cost_model.py) on this run's own traces, entry by entry: `round_cost_ratio`
    (a verifying round, drafting included, over a greedy step; medians, prefill left out) and
    `predicted_speedup` = acceptance length / round_cost_ratio. Greedy is the reference: 1 and 1.
    None where the run had no verifying round to time."""
    for name, entry in entries.items():
        if name == "greedy":
            entry.update(round_cost_ratio=1.0, predicted_speedup=1.0)
            continue
        try:
            ratio = round_cost_ratio(runs["greedy"], runs[name])
            predicted = predicted_speedup(entry["acceptance_length"] or 0, ratio)
        except TinyMTPError:
            ratio, predicted = None, None
        entry.update(round_cost_ratio=_rounded(ratio), predicted_speedup=_rounded(predicted))


def bench_decode(args) -> int:
    """`python -m tinymtp bench decode [--checkpoint DIR] [--json] [--quick] [--repeats N]`: a table or one JSON object."""
    path = args.checkpoint or str(checkpoints_dir() / "mtp-4head")
    if not args.checkpoint and not Path(path).is_dir():
        raise TinyMTPError(f"no shipped checkpoint at {path}: pass --checkpoint DIR (a model with 2+ heads)")
    ckpt = load_checkpoint(path)
    draft, draft_note = None, None
    draft_path = checkpoints_dir() / "draft"
    if (draft_path / "config.json").is_file():
        draft_ckpt = load_checkpoint(str(draft_path))
        if draft_ckpt.tokenizer == ckpt.tokenizer:
            draft = draft_ckpt.model
        else:
            draft_note = f"skipped the draft model at {draft_path}: its vocabulary differs from the checkpoint's"
    else:
        draft_note = f"no draft model at {draft_path}: draft-model mode skipped"
    corpus = ckpt.metadata.get("corpus")
    corpus = corpus if corpus in BUILT_IN else "python-stdlib"
    count, new_tokens, repeats = (4, 64, 1) if args.quick else (12, 256, 3)
    repeats = getattr(args, "repeats", None) or repeats
    prompts = heldout_prompts(ckpt.tokenizer, count=count, length=48, corpus=corpus)
    result = measure_decoding(ckpt.model, ckpt.tokenizer, prompts, max_new_tokens=new_tokens, repeats=repeats,
                              draft_model=draft, trees=[getattr(args, "tree", None)], lookup_tokens=DEFAULT_DRAFT_LEN)
    result.update(checkpoint=path, corpus=corpus, draft_checkpoint=str(draft_path) if draft else None,
                  note=draft_note)
    if args.json:
        print(json.dumps(result))
    else:
        print(format_table(result))
    return 0


def _row_name(e: dict) -> str:
    if e["mode"] == "speculative":
        return f"speculative K={e['heads']}"
    if e["mode"] in ("draft-model", "lookup"):
        return f"{e['mode']} K={e['draft_tokens']}"
    return f"tree, {e['nodes']} nodes" if e["mode"] == "tree" else e["mode"]


def format_table(result: dict) -> str:
    """The benchmark as a plain-text table (what `bench decode` prints without --json)."""
    corpus = result.get("corpus")
    text = f" of the {corpus} validation text ({TEXT_KIND[corpus]})" if corpus in TEXT_KIND else ""
    lines = [f"decoding {result['prompts']} held-out prompts{text} x {result['max_new_tokens']} new tokens, "
             f"median of {result['repeats']} interleaved repeats, {result['threads']} thread(s)",
             f"{'mode':<18} {'tokens/s':>9} {'tok/fwd':>8} {'ms/fwd':>7} {'speed-up':>9} {'predicted':>9} "
             f"{'cost':>5}  identical  {'acc.len':>7}  kept per head: share of rounds/conditional"]
    rows = [result["modes"]["greedy"], *result["heads_sweep"]]
    rows += [result["modes"][m] for m in ("draft-model", "lookup") if m in result["modes"]]
    rows += result.get("tree_sweep", [])
    for e in rows:
        acc = " ".join(f"{'d' + str(a['depth']) if 'depth' in a else a['head']}:"
                       f"{a['rate']:.2f}/{a['conditional']:.2f}"
                       for a in e["acceptance_per_head"] if a["conditional"] is not None)
        length = f"{e['acceptance_length']:.2f}" if e["acceptance_length"] is not None else "-"
        predicted = f"{e['predicted_speedup']:.2f}x" if e.get("predicted_speedup") is not None else "-"
        cost = f"{e['round_cost_ratio']:.2f}" if e.get("round_cost_ratio") is not None else "-"
        lines.append(f"{_row_name(e):<18} {e['tokens_per_second']:>9.1f} {e['tokens_per_forward']:>8.2f} "
                     f"{e['ms_per_forward']:>7.3f} {e['speedup']:>8.2f}x {predicted:>9} {cost:>5}  "
                     f"{str(e['identical']).lower():<9}  {length:>7}  {acc}")
    lines.append(f"speculative (all heads) over greedy: {result['speedup']:.2f}x wall clock, "
                 f"{result['tokens_per_forward']:.2f} tokens per forward; identical output: "
                 f"{str(result['identical']).lower()}")
    c = result["forward_costs"]
    rest = ("the causal heads' own drafting forwards, one per drafting head per round, Python per round and the "
            "context re-reads" if result["model"]["head_type"] == "causal" else
            "Python per round and the context re-reads")
    lines.append(f"why not {result['tokens_per_forward']:.2f}x: a verifying round costs {c['loop_cost_ratio']:.2f}x "
                 f"a greedy forward in the loop ({c['model_cost_ratio']:.2f}x for the model's verifying forward alone: "
                 f"{c['verify_forward_ms']:.3f} vs {c['greedy_forward_ms']:.3f} ms; the rest is {rest}), and {result['tokens_per_forward']:.2f} / "
                 f"{c['loop_cost_ratio']:.2f} = {c['explained_speedup']:.2f}. Heads 2..K at every fed position take "
                 f"{c['later_heads_share']:.0%} of the verifying forward, the trunk over K tokens the rest")
    for e, cost in zip(result.get("tree_sweep", []), c.get("trees", [])):
        lines.append(f"tree, {e['nodes']} nodes: {e['speedup']:.2f}x, {e['tokens_per_forward']:.2f} tokens per "
                     f"forward; its forward costs {e['forward_cost_ratio']:.2f}x a greedy one in the loop "
                     f"({cost['model_cost_ratio']:.2f}x for the model alone)")
    lines.append("acc.len: acceptance length, tokens per verifying round with the corrected or bonus token (the "
                 "EAGLE/SGLang convention); share of rounds: rounds that kept the head's draft / rounds that "
                 "drafted; conditional: the same given every earlier draft of the round was kept")
    lines.append("cost: the cost model's round cost, median verifying round (drafting included) / median greedy "
                 "step, from this run's own round times; predicted = acc.len / cost (cost_model.predicted_speedup). "
                 "It leaves out the prefill and the context re-reads, which the measured speed-up includes")
    if result.get("greedy_distinct_8grams") is not None:
        lines.append(f"greedy's own text: {result['greedy_distinct_8grams']:.0%} of its 8-token pieces are distinct "
                     "(mean over prompts; repetitive text is easier to draft, for the heads and for lookup alike)")
    if result.get("note"):
        lines.append(result["note"])
    return "\n".join(lines)


def _rounded(value):
    return None if value is None else round(value, 4)
