"""How much faster is speculative decoding, and on what text? (`python -m tinymtp bench decode`)

`measure_decoding(model, tokenizer, prompts, BenchPlan(...))` decodes every prompt, in one process
and with the KV cache, with

- plain sampling and exact speculative sampling (heads 2..n draft, kept with probability
  min(1, p/q)) at each of `plan.temperatures`, once per seed: text with the corpus's own
  statistics at temperature 1, so the drafting figure that means something. Tokens per forward
  carries a standard error over the runs (prompts x seeds); the speed-up is over plain sampling at
  the same temperature and seeds (the median over seeds of their ratios);
- plain greedy decoding (head 1 only, the "standard inference" baseline) and greedy
  self-speculative decoding for each draft_len in `plan.draft_lens` (heads 2..draft_len+1 draft),
  optionally a separate draft model, prompt lookup and trees, `plan.repeats` times. Greedy text of
  a model this small falls into loops, where every draft is easy: these rows carry their text's
  repetition and the tokens per forward *before* the loop starts (repetition.py).

Every row carries the statistics of its text (distinct 8-character pieces, whitespace, the share of
continuations that end in a loop), acceptance per head (share of rounds and conditional, as
trace.py defines them), and the cost model's prediction (cost_model.py): acceptance length / round
cost, the round cost from the same run's own round times. The runs are interleaved (prompt by
prompt, every mode in turn), so a slow spell of these small, noisy machines hits every mode alike,
and the report takes medians. It also checks that every greedy-exact mode wrote exactly the greedy
text (`identical`). Decoding runs as `generate` does without `--trace`: sampling rounds skip the
trace's drawing detail (DecodeHooks.detail), which only the app's figures read.

Decoding a model this small is bound by per-operation overhead, not arithmetic, so by default the
measurement runs PyTorch on one thread (`threads=1`; restored afterwards): a second thread only
adds wake-up latency, and on a busy 2-core machine much more. The command's table and flags are in
bench_decode.py. Explained in notebooks/06_self_speculative_decoding.ipynb.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field, replace

import torch

from ..core.errors import TinyMTPError
from ..data.corpora import load_corpus
from ..data.tokenizer import encode_prompt
from ..decoding.decode import decode_ids
from ..decoding.settings import DEFAULT_DRAFT_LEN, DecodeHooks, DecodeSettings
from ..decoding.tree import resolve_tree, tree_positions
from .cost_model import predicted_speedup, round_cost_ratio
from .repetition import before_loop, loop_start, pooled_statistics


@dataclass(frozen=True)
class BenchPlan:
    """What `measure_decoding` runs. Sampled rows: plain and speculative sampling at each temperature,
    one run per prompt and seed (`seeds`). Greedy rows: `repeats` runs of greedy, speculative for each
    draft_len (default 1..n-1), and optionally a draft model proposing `draft_tokens`, prompt lookup
    proposing `lookup_tokens`, and trees (shapes as tree.parse_tree reads them)."""

    max_new_tokens: int = 256
    repeats: int = 3
    draft_lens: tuple | None = None
    temperatures: tuple = ()
    sample_draft_len: int | None = None  # the speculative-sample rows' drafts per round (None: heads 2..n)
    seeds: int = 3
    draft_tokens: int = DEFAULT_DRAFT_LEN
    lookup_tokens: int | None = None
    trees: tuple = field(default=())
    threads: int | None = 1

    def __post_init__(self):
        for name in ("max_new_tokens", "repeats", "seeds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TinyMTPError(f"{name} must be a whole number >= 1, got {value!r}")
        for t in self.temperatures:
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not t > 0 or math.isinf(t):
                raise TinyMTPError(f"a sampled row's temperature must be a number above 0, got {t!r} "
                                   "(temperature 0 is greedy, which the greedy rows measure)")


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


def heldout_continuations(tokenizer, prompts: list, new_tokens: int, corpus: str = "python-stdlib") -> list:
    """The validation text's own continuation of each held-out prompt, `new_tokens` characters long:
    the corpus's text to compare a model's continuations with."""
    text = load_corpus(corpus).val_text
    return [text[text.index(p) + len(p) : text.index(p) + len(p) + new_tokens] for p in prompts]


def corpus_reference(tokenizer, prompts: list, new_tokens: int, corpus: str = "python-stdlib") -> dict:
    """The text statistics (repetition.pooled_statistics) of the corpus's own continuations of the
    prompts: the reference row a model's continuations are read against (`bench decode`, the app)."""
    return pooled_statistics(heldout_continuations(tokenizer, prompts, new_tokens, corpus))


def measure_decoding(model, tokenizer, prompts: list, plan: BenchPlan | None = None, draft_model=None,
                     on_progress=None) -> dict:
    """Sampled and greedy rows, interleaved; see the module doc. on_progress(done, total) after every run.

    Returns {"rows": [every row, sampled first], "modes": {"greedy", "speculative", "draft-model",
    "lookup", "tree", "sample", "speculative-sample": the row at the plan's first temperature},
    "draft_len_sweep", "tree_sweep", "sampled_sweep", "speedup" and "tokens_per_forward" (greedy,
    every head drafting), "sampled" (the speculative-sample row at the first temperature),
    "identical", "forward_costs", ...}.
    """
    plan = plan or BenchPlan()
    n = model.config.n_heads
    if n < 2 and draft_model is None and not plan.lookup_tokens:
        raise TinyMTPError(f"the decoding benchmark needs a drafter: a model with at least 2 heads (this one has {n}), "
                           "a draft model, or prompt lookup")
    if not prompts:
        raise TinyMTPError("no prompts to measure")
    draft_lens = sorted(set(plan.draft_lens or range(1, n))) if n >= 2 else []
    shapes = [resolve_tree(model, t, n - 1) for t in plan.trees] if n >= 2 else []
    greedy, sampled = _configs(model, plan, draft_lens, shapes, draft_model is not None)
    ids = [encode_prompt(tokenizer, p) for p in prompts]  # an empty or unknown-character prompt: one line
    old_threads = torch.get_num_threads()
    if plan.threads:
        torch.set_num_threads(plan.threads)
    try:
        for settings in {**greedy, **sampled}.values():  # warm-up: the first calls pay for allocations and caches
            decode_ids(model, ids[0], _short(settings, min(16, plan.max_new_tokens)), draft_model)
        costs = forward_costs(model, n, calls=max(10, 20 * plan.repeats), trees=shapes)
        runs = _decode_all(model, ids, plan, greedy, sampled, draft_model, on_progress)
    finally:
        torch.set_num_threads(old_threads)
    result = _report(greedy, sampled, runs, tokenizer, plan, len(ids), plan.threads or old_threads)
    full = result["modes"].get("speculative")
    if full is not None:
        costs["loop_cost_ratio"] = full["forward_cost_ratio"]  # forwards inside the decoding loops
        costs["explained_speedup"] = round(full["tokens_per_forward"] / full["forward_cost_ratio"], 3)
    result["forward_costs"] = costs
    cfg = model.config
    result["model"] = {"n_heads": n, "head_type": cfg.head_type, "context_length": cfg.context_length,
                       "parameters": model.num_parameters()}
    return result


def _configs(model, plan: BenchPlan, draft_lens: list, shapes: list, with_draft_model: bool) -> tuple[dict, dict]:
    """Row name -> checked DecodeSettings, for the greedy rows and the sampled rows (seed 0)."""
    n, new = model.config.n_heads, plan.max_new_tokens
    greedy = {"greedy": DecodeSettings("greedy", new)}
    for d in draft_lens:
        greedy[f"speculative draft_len={d}"] = DecodeSettings("speculative", new, draft_len=d)
    if with_draft_model:
        greedy["draft-model"] = DecodeSettings("draft-model", new, temperature=0, draft_len=plan.draft_tokens)
    if plan.lookup_tokens:
        greedy["lookup"] = DecodeSettings("lookup", new, draft_len=plan.lookup_tokens)
    for i, shape in enumerate(shapes):
        name = f"tree N={shape.size}"
        greedy[name if name not in greedy else f"{name} #{i + 1}"] = DecodeSettings("tree", new, draft_len=n - 1,
                                                                                    tree=shape)
    sampled = {}
    for T in plan.temperatures:
        sampled[f"sample T={T:g}"] = DecodeSettings("sample", new, temperature=T)
        if n >= 2:
            sampled[f"speculative-sample T={T:g}"] = DecodeSettings("speculative-sample", new, temperature=T,
                                                                    draft_len=plan.sample_draft_len)
        if with_draft_model:
            sampled[f"draft-model T={T:g}"] = DecodeSettings("draft-model", new, temperature=T,
                                                             draft_len=plan.draft_tokens)
        if plan.lookup_tokens:
            sampled[f"lookup-sample T={T:g}"] = DecodeSettings("lookup-sample", new, temperature=T,
                                                               draft_len=plan.lookup_tokens)
    check = lambda configs: {name: s.for_model(model) for name, s in configs.items()}
    return check(greedy), check(sampled)


def _short(settings: DecodeSettings, length: int) -> DecodeSettings:
    return replace(settings, max_new_tokens=length)


def _decode_all(model, ids, plan: BenchPlan, greedy: dict, sampled: dict, draft_model, on_progress) -> dict:
    """name -> one list of (tokens, trace) per repeat: greedy rows `repeats` times; sampled rows once per
    seed, the seeds playing the repeats. Interleaved: round r decodes every prompt with every row."""
    runs = {name: [] for name in {**greedy, **sampled}}
    total = len(ids) * (plan.repeats * len(greedy) + plan.seeds * len(sampled))
    done = 0
    for r in range(max(plan.repeats, plan.seeds if sampled else 0)):
        todo = {**(greedy if r < plan.repeats else {}),
                **({name: replace(s, seed=r) for name, s in sampled.items()} if r < plan.seeds else {})}
        for name in todo:
            runs[name].append([])
        for prompt in ids:
            for name, settings in todo.items():
                result = decode_ids(model, prompt, settings, draft_model, hooks=DecodeHooks(detail=False))
                runs[name][r].append((result.tokens, result.trace))
                done += 1
                if on_progress is not None:
                    on_progress(done, total)
    return runs


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


def _report(greedy: dict, sampled: dict, runs: dict, tokenizer, plan: BenchPlan, n_prompts: int, threads: int) -> dict:
    rows = {name: _row(name, settings, runs[name], tokenizer) for name, settings in {**sampled, **greedy}.items()}
    baseline = {name: "greedy" if name in greedy else f"sample T={settings.temperature:g}"
                for name, settings in {**sampled, **greedy}.items()}
    for name, row in rows.items():
        base = rows[baseline[name]]
        rate = lambda rep: sum(len(tokens) for tokens, _ in rep) / sum(trace.seconds for _, trace in rep)
        row["speedup"] = round(statistics.median(rate(a) / rate(b) for a, b in zip(runs[name], runs[baseline[name]])), 3)
        row["forward_cost_ratio"] = round(row["ms_per_forward"] / base["ms_per_forward"], 3)
        if name in greedy:
            row["identical"] = [tokens for tokens, _ in runs[name][0]] == [tokens for tokens, _ in runs["greedy"][0]]
        _add_prediction(row, name == baseline[name], runs[baseline[name]], runs[name])
    ordered = list(rows.values())
    spec = [r for r in ordered if r["mode"] == "speculative"]
    full = spec[-1] if spec else None
    trees = [r for r in ordered if r["mode"] == "tree"]
    sampled_rows = [r for r in ordered if r["temperature"] is not None]
    modes = {"greedy": rows["greedy"], **({"speculative": full} if full else {})}
    for mode, is_sampled in (("draft-model", False), ("lookup", False), ("tree", False), ("sample", True),
                             ("speculative-sample", True)):
        first = next((r for r in ordered if r["mode"] == mode and (r["temperature"] is not None) == is_sampled), None)
        if first is not None:
            modes[mode] = first
    headline = modes.get("speculative-sample")
    return {
        "prompts": n_prompts, "max_new_tokens": plan.max_new_tokens, "repeats": plan.repeats, "seeds": plan.seeds,
        "temperatures": list(plan.temperatures), "threads": threads, "rows": ordered, "modes": modes,
        "draft_len_sweep": spec, "tree_sweep": trees, "sampled_sweep": sampled_rows,
        "speedup": full["speedup"] if full else None, "tokens_per_forward": full["tokens_per_forward"] if full else None,
        "sampled": headline, "identical": all(r["identical"] for r in ordered if r.get("identical") is not None),
        "draft_speedup": modes["draft-model"]["speedup"] if "draft-model" in modes else None,
        "lookup_speedup": modes["lookup"]["speedup"] if "lookup" in modes else None,
        "tree_speedup": trees[0]["speedup"] if trees else None,
        "tree_tokens_per_forward": trees[0]["tokens_per_forward"] if trees else None,
    }


def _row(name: str, settings: DecodeSettings, repeats: list, tokenizer) -> dict:
    """One row's counts and statistics. Counts come from the first repeat (greedy rows: every repeat
    writes the same text) or from every seed (sampled rows); times are medians over the repeats."""
    first_only = settings.temperature == 0
    counted = repeats[0] if first_only else [run for rep in repeats for run in rep]
    traces = [trace for _, trace in counted]
    tokens, forwards = sum(len(t) for t, _ in counted), sum(trace.forwards for trace in traces)
    seconds = statistics.median(sum(trace.seconds for _, trace in rep) for rep in repeats)
    per_repeat_forwards = forwards / len(counted) * len(repeats[0]) if not first_only else forwards
    pooled = type(traces[0])(mode=traces[0].mode, drafters=traces[0].drafters,
                             rounds=[rd for trace in traces for rd in trace.rounds])
    texts = [tokenizer.decode(t) for t, _ in counted]
    row = {
        "name": name, "mode": settings.mode, "temperature": None if first_only else settings.temperature,
        "draft_len": settings.draft_len, "tokens": tokens, "forwards": forwards,
        "tokens_per_second": round(statistics.median(sum(len(t) for t, _ in rep) / sum(tr.seconds for _, tr in rep)
                                                     for rep in repeats), 1),
        "tokens_per_forward": round(tokens / forwards, 4), "seconds": round(seconds, 4),
        "ms_per_forward": round(1000 * seconds / per_repeat_forwards, 4),
        "acceptance_per_head": pooled.acceptance_per_head(),
        "acceptance_share_of_rounds": [_rounded(r) for r in pooled.acceptance_share_of_rounds()],
        "acceptance_conditional": [_rounded(r) for r in pooled.acceptance_conditional()],
        "acceptance_length": _rounded(pooled.acceptance_length()),
        "drafts_accepted_per_round": _rounded(pooled.drafts_accepted_per_round()),
        **pooled_statistics(texts),
    }
    if not first_only:
        row["standard_error"] = _rounded(standard_error([trace.forwards / len(t) for t, trace in counted],
                                                        tokens / forwards))
        row["runs"] = len(counted)
    else:
        before = [before_loop(trace.rounds, loop_start(text)) for (_, trace), text in zip(counted, texts)]
        row["tokens_per_forward_before_loop"] = round(sum(b[0] for b in before) / max(1, sum(b[1] for b in before)), 4)
    if settings.mode == "tree":
        row.update(tree=settings.tree.text(), nodes=settings.tree.size)
    if settings.mode == "draft-model":
        row["draft_forwards"] = sum(r.draft_forwards for trace in traces for r in trace.rounds)
    return row


def standard_error(forwards_per_token: list, tokens_per_forward: float) -> float | None:
    """Standard error of tokens per forward over runs of equal length (the delta method: the runs'
    forwards per token vary, and tokens per forward is their mean's inverse). None for one run."""
    if len(forwards_per_token) < 2:
        return None
    return tokens_per_forward ** 2 * statistics.stdev(forwards_per_token) / len(forwards_per_token) ** 0.5


def _add_prediction(row: dict, is_baseline: bool, baseline_runs: list, runs: list) -> None:
    """The cost model (cost_model.py) on this run's own traces: `round_cost_ratio` (a verifying round,
    drafting included, over a plain step of the matching baseline; medians, prefill left out) and
    `predicted_speedup` = acceptance length / round_cost_ratio. None without a verifying round to time."""
    if is_baseline:
        row.update(round_cost_ratio=1.0, predicted_speedup=1.0)
        return
    try:
        ratio = round_cost_ratio([[tr for _, tr in rep] for rep in baseline_runs], [[tr for _, tr in rep] for rep in runs])
        predicted = predicted_speedup(row["acceptance_length"] or 0, ratio)
    except TinyMTPError:
        ratio, predicted = None, None
    row.update(round_cost_ratio=_rounded(ratio), predicted_speedup=_rounded(predicted))


def _rounded(value):
    return None if value is None else round(value, 4)
