"""Experiment 6, `loss-weights`: can the extra heads cost head 1 nothing, and what does it cost the speed-up?

Training heads 2..n shares the trunk with head 1, and at this size that costs head 1 a little
(`ntp-vs-mtp`). Recipes that protect head 1, each given the same wall-clock budget (budget.py),
then the same self-distillation of heads 2..n (distill.py: trunk and head 1 frozen, so head 1 is
untouched by it):

| recipe         | training                                                             | from            |
|----------------|----------------------------------------------------------------------|-----------------|
| `equal`        | 4 heads, weights 1, 1, 1, 1 (tinymtp's default)                      | Gloeckle et al. 2024 |
| `lambda=0.3`   | 4 heads, weights 1, 0.3, 0.3, 0.3: heads 2..4 count less             | DeepSeek-V3 (lambda 0.3, then 0.1) |
| `lambda=0.1`   | 4 heads, weights 1, 0.1, 0.1, 0.1                                     | DeepSeek-V3     |
| `frozen trunk` | the n = 1 model; heads 2..4 added on its frozen trunk, then distilled | Medusa-1 (Cai et al. 2024) |

and the n = 1 baseline itself. Per run: head 1's val loss, and tokens per forward of greedy
self-speculative decoding (heads 2..4 draft) on held-out prompts before and after distillation,
with the output checked identical to greedy. Tokens per forward is counted, not timed, so it
does not depend on the machine's load. The figure puts each recipe on the plane of head-1 loss
against tokens per forward and draws the frontier: the recipes no other recipe beats on both.
"""

from __future__ import annotations

from ..analysis.speedup import BenchPlan, heldout_prompts, measure_decoding
from ..core.model import ModelConfig
from ..training.distill import DistillConfig, distill
from .budget import MEANING, train_at_equal_compute
from .ntp_vs_mtp import SMOKE_TRUNK, TRUNK, experiment_corpus
from .runner import compare, result_header, spread

NAME = "loss-weights"
TITLE = "Protecting head 1: loss weights, a frozen trunk, and distillation"
QUESTION = ("At equal compute, which training recipe keeps head 1 (next-token) as good as an n = 1 model, and "
            "how many tokens per forward do its heads then give, before and after self-distillation?")
CORPUS, N_HEADS, DEFAULT_MINUTES = "python-stdlib", 4, 2.0
RECIPES = {"equal": "equal", "lambda=0.3": [1.0, 0.3, 0.3, 0.3], "lambda=0.1": [1.0, 0.1, 0.1, 0.1]}
FROZEN = "frozen trunk"
DISTILL = dict(steps=150, window=32, batch_size=8)
SMOKE_DISTILL = dict(steps=2, window=12, batch_size=2, eval_windows=2, prompt_tokens=4)
DECODING = dict(prompts=12, prompt_length=48, max_new_tokens=256)
SMOKE_DECODING = dict(prompts=2, prompt_length=16, max_new_tokens=12)


def tokens_per_forward(model, tokenizer, prompts: list, max_new_tokens: int, threads: int) -> dict:
    """Greedy self-speculative decoding with all heads over every prompt (speedup.measure_decoding,
    one repeat): tokens per forward, whether the output equals plain greedy decoding, and how
    repetitive greedy's text is (repetition.py: repetitive text is easy to draft)."""
    plan = BenchPlan(max_new_tokens=max_new_tokens, repeats=1, draft_lens=(model.config.n_heads - 1,), threads=threads)
    m = measure_decoding(model, tokenizer, prompts, plan)
    return {"tokens_per_forward": m["tokens_per_forward"], "identical": m["identical"],
            "distinct_8grams": m["modes"]["greedy"]["distinct_8"]}


def run(settings, progress) -> dict:
    budget = settings.budget_seconds(DEFAULT_MINUTES)
    trunk = SMOKE_TRUNK if settings.smoke else TRUNK
    decoding = SMOKE_DECODING if settings.smoke else DECODING
    distill_args = dict(SMOKE_DISTILL if settings.smoke else DISTILL, threads=settings.threads)
    distill_config = DistillConfig(**distill_args, eval_every=10**6)  # checked before any training
    progress.set(what=f"loading {CORPUS}")
    corpus = experiment_corpus(CORPUS, settings.smoke)
    vocab = corpus.tokenizer.vocab_size
    prompts = heldout_prompts(corpus.tokenizer, count=decoding["prompts"], length=decoding["prompt_length"],
                              corpus=CORPUS)
    configs = {"n=1": (ModelConfig(vocab_size=vocab, n_heads=1, **trunk), {"recipe": "n=1", "n_heads": 1})}
    for recipe, weights in RECIPES.items():
        configs[recipe] = (ModelConfig(vocab_size=vocab, n_heads=N_HEADS, loss_weights=weights, **trunk),
                           {"recipe": recipe, "n_heads": N_HEADS})
    frozen_runs = []

    def measure(label, result):
        """After training: decode, distill heads 2..n, decode again; n = 1 also seeds the frozen-trunk recipe."""
        model = result.model.eval()
        if model.n_heads == 1:
            model = model.with_heads(N_HEADS)  # Medusa-1: new heads on the next-token model's frozen trunk
        before = tokens_per_forward(model, corpus.tokenizer, prompts, decoding["max_new_tokens"], settings.threads)
        progress.set(what=f"{label}: distilling heads 2..{N_HEADS}")
        distilled = distill(model, corpus, distill_config)
        after = tokens_per_forward(distilled.model, corpus.tokenizer, prompts, decoding["max_new_tokens"],
                                   settings.threads)
        numbers = {"before_distill": before, "after_distill": after, "distill_steps": distilled.steps,
                   "distill_seconds": round(distilled.seconds, 2),
                   "greedy_agreement": [h["greedy_agreement"] for h in distilled.final_agreement]}
        if label == "n=1":
            frozen_runs.append(numbers)
            return {}
        return numbers

    plan, runs = train_at_equal_compute(configs, corpus, settings, budget, progress, after_run=measure)
    runs += frozen_trunk_records(runs, frozen_runs)
    details = {"corpus": CORPUS, "n_heads": N_HEADS, "trunk": trunk, "recipes": {**RECIPES, FROZEN: "n=1, then distill"},
               "budget_seconds_per_run": budget, "batch_size": 32, "distill": distill_args, "decoding": decoding,
               "equal_compute": MEANING + "; then every recipe's heads 2..n get the same distillation steps"}
    header = result_header(NAME, TITLE, QUESTION, settings, details)
    rows = summarize(runs)
    return {**header, "plan": plan, "runs": runs, "summary": rows, "frontier": frontier(rows),
            "findings": findings(rows)}


def frozen_trunk_records(runs: list, frozen_numbers: list) -> list:
    """The frozen-trunk recipe's runs: each seed's n = 1 model (same head 1) with its distilled heads."""
    base = [r for r in runs if r["recipe"] == "n=1"]
    return [{**r, "label": FROZEN, "recipe": FROZEN, "n_heads": N_HEADS, **numbers}
            for r, numbers in zip(base, frozen_numbers, strict=True)]


def summarize(runs: list) -> list:
    """One row per recipe: head 1's val loss and tokens per forward before/after distillation, across seeds."""
    rows = []
    for recipe in dict.fromkeys(r["recipe"] for r in runs):
        group = [r for r in runs if r["recipe"] == recipe]
        row = {"recipe": recipe, "n_heads": group[0]["n_heads"], "steps": group[0]["steps"],
               "head1_val_loss": spread([r["next_token_val_loss"] for r in group])}
        if "after_distill" in group[0]:
            for when in ("before_distill", "after_distill"):
                row[when] = spread([r[when]["tokens_per_forward"] for r in group])
                row[when + "_distinct_8grams"] = spread([r[when]["distinct_8grams"] for r in group])
            row["identical"] = all(r[w]["identical"] for r in group for w in ("before_distill", "after_distill"))
        rows.append(row)
    return rows


def frontier(rows: list) -> list:
    """The recipes no other recipe beats on both counts (lower head-1 loss AND more tokens per
    forward after distillation), by their means, in order of tokens per forward."""
    drafting = [r for r in rows if "after_distill" in r]

    def beaten(r):
        return any(o is not r and o["head1_val_loss"]["mean"] <= r["head1_val_loss"]["mean"]
                   and o["after_distill"]["mean"] >= r["after_distill"]["mean"]
                   and (o["head1_val_loss"]["mean"], o["after_distill"]["mean"])
                   != (r["head1_val_loss"]["mean"], r["after_distill"]["mean"]) for o in drafting)

    return sorted((r["recipe"] for r in drafting if not beaten(r)),
                  key=lambda name: next(r["after_distill"]["mean"] for r in drafting if r["recipe"] == name))


def findings(rows: list) -> list:
    by_recipe = {r["recipe"]: r for r in rows}
    base, out = by_recipe.get("n=1"), []
    for row in rows:
        if "after_distill" not in row:
            continue
        name = row["recipe"]
        if base is not None:
            if name == FROZEN:
                out.append(f"{name}: head 1 is the n=1 model's own, val loss {row['head1_val_loss']['mean']:.3f}")
            else:
                out.append(f"{name}: head-1 " + compare("val loss", name, row["head1_val_loss"], "n=1",
                                                         base["head1_val_loss"], lower_is_better=True))
        out.append(f"{name}: tokens per forward {row['before_distill']['mean']:.2f} ± {row['before_distill']['std']:.2f} "
                   f"before distillation, {row['after_distill']['mean']:.2f} ± {row['after_distill']['std']:.2f} after "
                   f"({row['steps']} training steps); {row['after_distill_distinct_8grams']['mean']:.0%} of greedy's "
                   "8-token pieces distinct")
        if name != "equal" and "equal" in by_recipe:
            out.append(f"{name} vs equal: " + compare("tokens per forward after distillation", name,
                                                       row["after_distill"], "equal", by_recipe["equal"]["after_distill"],
                                                       lower_is_better=False, digits=2))
    out.append("frontier (no other recipe has both a lower head-1 loss and more tokens per forward): "
               + ", ".join(frontier(rows)))
    identical = all(r.get("identical", True) for r in rows)
    out.append("speculative output was identical to greedy in every run" if identical
               else "speculative output differed from greedy in at least one run (see runs)")
    return out
