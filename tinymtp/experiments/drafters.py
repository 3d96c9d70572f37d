"""Experiment 7, `drafters`: who drafts best on corpus-like text, and at what cost?

Five configurations trained for the same wall-clock budget each (budget.py), 3 seeds, on
python-stdlib, with the trunk of `ntp-vs-mtp`:

| drafter                | the model                                                  | from                       |
|------------------------|------------------------------------------------------------|----------------------------|
| parallel heads         | 4 linear heads: heads 2..4 guess from position t alone     | Gloeckle et al. 2024       |
| causal heads           | 4 causal heads: a transformer layer each, chained          | DeepSeek-V3 (2024)         |
| sequential heads       | 4 sequential heads: a small MLP each, reading the drafts   | Hydra (Ankner et al. 2024) |
| draft model            | a next-token model, drafted for by a 1-layer, 32-wide one  | Leviathan et al. 2023      |
| prompt lookup          | the same next-token model, drafted for by the text itself  | Saxena 2023                |

(the draft model is trained for the same budget as each main model, and the next-token model is
also the one prompt lookup decodes with). Each is measured on held-out prompts at temperature 1
(exact speculative sampling against plain sampling, 2 seeds per prompt: text with the corpus's
statistics, the figure that means something) and greedily (with its text's repetition): tokens per
forward with its standard error, acceptance per drafting step (share of rounds and conditional),
the cost model's round cost, the wall-clock speed-up, head 1's validation loss and the text
statistics. Every drafter drafts 3 tokens per round.
"""

from __future__ import annotations

from dataclasses import replace

from ..analysis.speedup import measure_decoding
from ..core.model import ModelConfig
from .budget import MEANING, train_at_equal_compute
from .ntp_vs_mtp import SMOKE_TRUNK, TRUNK, experiment_corpus
from .runner import compare, drafting_setup, result_header, spread

CORPUS, DEFAULT_MINUTES, DRAFT_LEN = "python-stdlib", 1.0, 3
DECODING = dict(prompts=8, prompt_length=48, max_new_tokens=128, seeds=2)
SMOKE_DECODING = dict(prompts=2, prompt_length=16, max_new_tokens=12, seeds=2)
DRAFT_TRUNK = dict(context_length=128, d_model=32, n_layers=1, attn_heads=2)
DRAFTERS = ("parallel heads", "causal heads", "sequential heads", "draft model", "prompt lookup")
KEPT = ("tokens_per_forward", "standard_error", "acceptance_share_of_rounds", "acceptance_conditional",
        "round_cost_ratio", "speedup", "distinct_8", "whitespace", "looping")


def configs(vocab: int, smoke: bool) -> dict:
    trunk = SMOKE_TRUNK if smoke else TRUNK
    draft_trunk = SMOKE_TRUNK if smoke else DRAFT_TRUNK
    four = lambda head_type: ModelConfig(vocab_size=vocab, n_heads=4, head_type=head_type, **trunk)  # noqa: E731
    return {  # the draft model before the next-token model: its measurement uses the draft just trained
        "parallel heads": (four("linear"), {"drafter": "parallel heads"}),
        "causal heads": (four("causal"), {"drafter": "causal heads"}),
        "sequential heads": (four("sequential"), {"drafter": "sequential heads"}),
        "draft model (small)": (ModelConfig(vocab_size=vocab, n_heads=1, **draft_trunk), {"drafter": "draft"}),
        "next-token model": (ModelConfig(vocab_size=vocab, n_heads=1, **trunk), {"drafter": "next-token"}),
    }


def measured_rows(m: dict) -> dict:
    """The rows of one measure_decoding result this experiment keeps: drafter -> {"T=1": ..., "greedy": ...}."""
    by_name = {r["name"]: r for r in m["rows"]}
    keep = lambda row: {k: row.get(k) for k in KEPT}  # noqa: E731
    pairs = {"heads": ("speculative-sample T=1", f"speculative draft_len={DRAFT_LEN}"),
             "draft model": ("draft-model T=1", "draft-model"), "prompt lookup": ("lookup-sample T=1", "lookup")}
    return {who: {"T=1": keep(by_name[s]), "greedy": keep(by_name[g])} for who, (s, g) in pairs.items()
            if s in by_name and g in by_name}


def run(settings, progress) -> dict:
    budget = settings.budget_seconds(DEFAULT_MINUTES)
    decoding = SMOKE_DECODING if settings.smoke else DECODING
    progress.set(what=f"loading {CORPUS}")
    corpus = experiment_corpus(CORPUS, settings.smoke)
    prompts, plan = drafting_setup(corpus.tokenizer, CORPUS, decoding, settings.threads, DRAFT_LEN,
                                   draft_tokens=DRAFT_LEN)
    latest_draft = {}

    def measure(label, result):
        if label.startswith("draft model"):
            latest_draft["model"] = result.model  # the next-token model of this seed drafts with it
            return {}
        with_lookup = plan if result.model.n_heads > 1 else replace(plan, lookup_tokens=DRAFT_LEN)
        m = measure_decoding(result.model, corpus.tokenizer, prompts, with_lookup,
                             latest_draft.get("model") if result.model.n_heads == 1 else None,
                             on_progress=lambda done, total: progress.set(what=f"{label}: decoding {done}/{total}"))
        return {"decoding": measured_rows(m)}

    train_plan, runs = train_at_equal_compute(configs(corpus.tokenizer.vocab_size, settings.smoke), corpus, settings,
                                              budget, progress, after_run=measure)
    summary = summarize(runs)
    details = {"corpus": CORPUS, "trunk": SMOKE_TRUNK if settings.smoke else TRUNK, "draft_model_trunk": DRAFT_TRUNK,
               "budget_seconds_per_run": budget, "draft_len": DRAFT_LEN, "decoding": decoding,
               "equal_compute": MEANING}
    header = result_header("drafters", "Who drafts best on corpus-like text?",
                           "At equal training time, how many tokens per forward do parallel, causal and sequential heads, "
                           "a draft model and prompt lookup give under exact sampling at temperature 1, and greedily, "
                           "and at what round cost and head-1 loss?", settings, details)
    return {**header, "plan": train_plan, "runs": runs, "summary": summary, "findings": findings(summary)}


def summarize(runs: list) -> list:
    """One row per drafter and text (T=1, greedy): each measured number's mean and spread over the seeds."""
    sources = {"parallel heads": ("parallel heads", "heads"), "causal heads": ("causal heads", "heads"),
               "sequential heads": ("sequential heads", "heads"), "draft model": ("next-token model", "draft model"),
               "prompt lookup": ("next-token model", "prompt lookup")}
    rows = []
    for drafter, (label, key) in sources.items():
        group = [r for r in runs if r["label"] == label]
        if not group:
            continue
        for text in ("T=1", "greedy"):
            measured = [r["decoding"][key][text] for r in group]
            row = {"drafter": drafter, "text": text, "head1_val_loss": spread([r["next_token_val_loss"] for r in group])}
            for k in KEPT:
                values = [m[k] for m in measured]
                if all(isinstance(v, (int, float)) for v in values):
                    row[k] = spread(values)
                elif all(isinstance(v, list) for v in values):  # per drafting step
                    row[k] = [spread([v[i] or 0.0 for v in values]) for i in range(len(values[0]))]
            rows.append(row)
    return rows


def findings(rows: list) -> list:
    at = {(r["drafter"], r["text"]): r for r in rows}
    out = []
    for text in ("T=1", "greedy"):
        base = at.get(("parallel heads", text))
        for drafter in DRAFTERS[1:]:
            row = at.get((drafter, text))
            if base is None or row is None:
                continue
            out.append(f"{text}: " + compare("tokens per forward", drafter, row["tokens_per_forward"], "parallel heads",
                                             base["tokens_per_forward"], lower_is_better=False, digits=2))
            out.append(f"{text}: " + compare("speed-up", drafter, row["speedup"], "parallel heads", base["speedup"],
                                             lower_is_better=False, digits=2))
    for drafter in DRAFTERS[:3]:
        row = at.get((drafter, "T=1"))
        if row is not None:
            out.append(f"{drafter}: a round costs {row['round_cost_ratio']['mean']:.2f}x a plain sampling step; head 1's "
                       f"validation loss {row['head1_val_loss']['mean']:.3f} ± {row['head1_val_loss']['std']:.3f}")
    return out
