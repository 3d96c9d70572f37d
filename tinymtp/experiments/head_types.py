"""Experiments 4 and 5, `how-many-heads` and `head-types`: the same trained models, two questions.

One n = 4 model per head type (every type in `tinymtp.core.config.HEAD_TYPES`, so a new type shows up
here by itself) is trained on `python-stdlib` for the same wall-clock budget (budget.py), with
the trunk of `ntp-vs-mtp`; after each run, `speedup.measure_decoding` decodes held-out prompts
greedily and self-speculatively with K = 2, 3, 4 (heads 2..K draft), checks the outputs are
identical, and measures tokens per forward and the wall-clock speed-up.

- `head-types` (5): per head type, head 1's val loss, the later heads' accuracy and the speed-up
  with all heads, next to an n = 1 model trained for the same budget.
- `how-many-heads` (4): per head type, speed-up and tokens per forward against K.

`python -m tinymtp experiment all` trains the models once and reports both; run alone, each
experiment trains its own (the same configurations, seeds and budget).
"""

from __future__ import annotations

from ..analysis.speedup import BenchPlan, heldout_prompts, measure_decoding
from ..core.config import HEAD_TYPES
from ..core.errors import TinyMTPError
from ..core.model import ModelConfig
from .budget import MEANING, train_at_equal_compute
from .ntp_vs_mtp import SMOKE_TRUNK, TRUNK, experiment_corpus
from .runner import compare, result_header, spread

CORPUS, N_HEADS, DEFAULT_MINUTES = "python-stdlib", 4, 0.4
DECODING = dict(prompts=6, prompt_length=48, max_new_tokens=128, repeats=2)
SMOKE_DECODING = dict(prompts=2, prompt_length=16, max_new_tokens=12, repeats=1)


def train_models(settings, progress, with_baseline: bool) -> dict:
    """Train and measure every head type (and the n = 1 baseline); the raw material of both experiments."""
    budget = settings.budget_seconds(DEFAULT_MINUTES)
    trunk = SMOKE_TRUNK if settings.smoke else TRUNK
    decoding = SMOKE_DECODING if settings.smoke else DECODING
    progress.set(what=f"loading {CORPUS}")
    corpus = experiment_corpus(CORPUS, settings.smoke)
    vocab = corpus.tokenizer.vocab_size
    configs = {f"{ht} n={N_HEADS}": (ModelConfig(vocab_size=vocab, n_heads=N_HEADS, head_type=ht, **trunk),
                                     {"head_type": ht, "n_heads": N_HEADS}) for ht in HEAD_TYPES}
    if with_baseline:
        configs["linear n=1"] = (ModelConfig(vocab_size=vocab, n_heads=1, head_type="linear", **trunk),
                                 {"head_type": "linear", "n_heads": 1})
    prompts = heldout_prompts(corpus.tokenizer, count=decoding["prompts"], length=decoding["prompt_length"],
                              corpus=CORPUS)

    def measure(label, result):
        if result.model.config.n_heads < 2:
            return {}
        try:
            plan = BenchPlan(max_new_tokens=decoding["max_new_tokens"], repeats=decoding["repeats"],
                             threads=settings.threads)
            m = measure_decoding(result.model, corpus.tokenizer, prompts, plan,
                                 on_progress=lambda done, total: progress.set(what=f"{label}: decoding {done}/{total}"))
        except TinyMTPError as exc:  # a head type the decoders cannot run yet: say so, keep the rest
            return {"decoding": {"error": str(exc)}}
        # this experiment's own record counts heads K (heads 2..K draft): K = draft_len + 1
        sweep = [{"heads": e["draft_len"] + 1, "drafting_heads": e["draft_len"], "speedup": e["speedup"],
                  "tokens_per_forward": e["tokens_per_forward"], "forward_cost_ratio": e["forward_cost_ratio"],
                  "acceptance_per_head": e["acceptance_per_head"], "identical": e["identical"]}
                 for e in m["draft_len_sweep"]]
        return {"decoding": {"speedup": m["speedup"], "tokens_per_forward": m["tokens_per_forward"],
                             "identical": m["identical"], "sweep": sweep, "forward_costs": m["forward_costs"],
                             "greedy_tokens_per_second": m["modes"]["greedy"]["tokens_per_second"]}}

    plan, runs = train_at_equal_compute(configs, corpus, settings, budget, progress, after_run=measure)
    details = {"corpus": CORPUS, "head_types": list(HEAD_TYPES), "n_heads": N_HEADS, "trunk": trunk,
               "budget_seconds_per_run": budget, "batch_size": 32, "decoding": decoding,
               "equal_compute": MEANING,
               "accuracy": "head k's val accuracy: its top guess equals the real character k ahead (evaluate.py); "
                           "causal heads are fed the real tokens ahead, as in training"}
    return {"plan": plan, "runs": runs, "details": details}


def _models(settings, progress, shared, with_baseline):
    key = ("head-type models", settings.seeds, settings.minutes, settings.smoke, settings.threads)
    if shared is not None and key in shared:
        return {**shared[key], "reused": True}
    models = train_models(settings, progress, with_baseline)
    if shared is not None:
        shared[key] = models
    return models


def run_head_types(settings, progress, shared=None) -> dict:
    models = _models(settings, progress, shared, with_baseline=True)
    runs, rows = models["runs"], []
    for label in models["plan"]:
        group = [r for r in runs if r["label"] == label]
        n = group[0]["n_heads"]
        row = {"label": label, "head_type": group[0]["head_type"], "n_heads": n, "steps": group[0]["steps"],
               "parameters": group[0]["parameters"],
               "head1_val_loss": spread([r["next_token_val_loss"] for r in group]),
               "head_accuracy": [spread([r["heads"][k]["val_accuracy"] for r in group]) for k in range(n)]}
        if n > 1:
            row["later_heads_accuracy"] = spread([sum(h["val_accuracy"] for h in r["heads"][1:]) / (n - 1)
                                                  for r in group])
            errors = [r["decoding"]["error"] for r in group if "error" in r["decoding"]]
            if errors:
                row["decoding_error"] = errors[0]
            else:
                row["speedup"] = spread([r["decoding"]["speedup"] for r in group])
                row["tokens_per_forward"] = spread([r["decoding"]["tokens_per_forward"] for r in group])
        rows.append(row)
    header = result_header("head-types", "Head types at equal compute",
                           "At equal compute, which head type gives the best head 1, the most accurate later "
                           "heads and the largest speed-up?", settings, models["details"])
    return {**header, "plan": models["plan"], "runs": runs, "summary": rows, "findings": head_type_findings(rows)}


def head_type_findings(rows: list) -> list:
    out = []
    by_label = {row["label"]: row for row in rows}
    base, ref = by_label.get("linear n=1"), by_label.get(f"linear n={N_HEADS}")
    for row in rows:
        if row["n_heads"] == 1:
            continue
        name = row["head_type"]
        if base is not None:
            out.append(f"{name}: head-1 " + compare("val loss", f"{name} n={N_HEADS}", row["head1_val_loss"],
                                                     "n=1", base["head1_val_loss"], lower_is_better=True))
        if ref is not None and row is not ref:
            out.append(f"{name} vs linear: " + compare("later heads' mean accuracy", name, row["later_heads_accuracy"],
                                                        "linear", ref["later_heads_accuracy"], lower_is_better=False))
            if "speedup" in row and "speedup" in ref:
                out.append(f"{name} vs linear: " + compare("speed-up", name, row["speedup"], "linear", ref["speedup"],
                                                            lower_is_better=False, digits=2))
        if "speedup" in row:
            out.append(f"{name}: {row['steps']} steps in the budget, speed-up {row['speedup']['mean']:.2f}x with "
                       f"{row['tokens_per_forward']['mean']:.2f} tokens per forward")
        else:
            out.append(f"{name}: {row['steps']} steps in the budget; decoding not measured: {row['decoding_error']}")
    return out


def run_how_many_heads(settings, progress, shared=None) -> dict:
    models = _models(settings, progress, shared, with_baseline=False)
    runs = [r for r in models["runs"] if r["n_heads"] > 1]
    failed = {r["head_type"]: r["decoding"]["error"] for r in runs if "error" in r["decoding"]}
    rows = []
    for head_type in dict.fromkeys(r["head_type"] for r in runs if r["head_type"] not in failed):
        group = [r for r in runs if r["head_type"] == head_type]
        for i, entry in enumerate(group[0]["decoding"]["sweep"]):
            sweeps = [r["decoding"]["sweep"][i] for r in group]
            rows.append({"head_type": head_type, "heads": entry["heads"], "drafting_heads": entry["drafting_heads"],
                         "speedup": spread([s["speedup"] for s in sweeps]),
                         "tokens_per_forward": spread([s["tokens_per_forward"] for s in sweeps]),
                         "forward_cost_ratio": spread([s["forward_cost_ratio"] for s in sweeps]),
                         "identical": all(s["identical"] for s in sweeps)})
    details = {**models["details"], "sweep": f"K = 2..{N_HEADS}: heads 2..K draft, head 1 verifies",
               "models": "the head-types models of the same run (trained once)" if models.get("reused")
               else "trained by this experiment"}
    header = result_header("how-many-heads", "Speed-up against the number of drafting heads",
                           "How do speed-up and tokens per forward of self-speculative decoding change with the "
                           "number of drafting heads K, and with the head type?", settings, details)
    return {**header, "plan": {k: v for k, v in models["plan"].items() if not k.endswith("n=1")}, "runs": runs,
            "summary": rows, "findings": how_many_findings(rows, failed)}


def how_many_findings(rows: list, failed: dict) -> list:
    out = [f"{head_type}: decoding not measured: {error}" for head_type, error in failed.items()]
    for head_type in dict.fromkeys(row["head_type"] for row in rows):
        sweep = [row for row in rows if row["head_type"] == head_type]
        best = max(sweep, key=lambda row: row["speedup"]["mean"])
        listing = ", ".join(f"K={row['heads']} {row['speedup']['mean']:.2f}x ({row['tokens_per_forward']['mean']:.2f} "
                            f"tokens/forward)" for row in sweep)
        out.append(f"{head_type}: {listing}; the highest mean speed-up is at K={best['heads']}")
        first, last = sweep[0], sweep[-1]
        if last is not first:
            out.append(f"{head_type}: " + compare("speed-up", f"K={last['heads']}", last["speedup"],
                                                  f"K={first['heads']}", first["speedup"], lower_is_better=False,
                                                  digits=2))
    identical = all(row["identical"] for row in rows)
    out.append("speculative output was identical to greedy in every run" if identical
               else "speculative output differed from greedy in at least one run (see runs)")
    return out
