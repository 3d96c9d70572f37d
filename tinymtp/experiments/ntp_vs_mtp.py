"""Experiment 1, `ntp-vs-mtp`: does training with more heads make head 1 better or worse?

The same trunk is trained with n = 1 (next-token prediction only), 2 and 4 linear heads, on
`python-stdlib` and `stories`, each run for the same wall-clock budget (see budget.py: steps are
planned from measured step times, so n = 4, whose steps cost more, takes fewer of them). Only
head 1 is compared, since that is the number an ordinary language model would report: its
validation loss and top-1 accuracy, across seeds. Gloeckle et al. (2024) found that small models
(0.3B) lose from MTP and large ones (from about 1B) gain; this asks what a ~0.1M-parameter model
does.
"""

from __future__ import annotations

from ..core.model import ModelConfig
from ..data.corpora import Corpus, load_corpus, python_stdlib_text, stories_text
from .budget import MEANING, train_at_equal_compute
from .runner import compare, result_header, spread

NAME = "ntp-vs-mtp"
TITLE = "Next-token vs multi-token prediction at equal compute"
QUESTION = "With the same trunk and the same wall-clock budget, does training with n = 2 or 4 heads " \
           "make head 1 (next-token) better or worse than n = 1?"
CORPORA = ("python-stdlib", "stories")
HEADS = (1, 2, 4)
DEFAULT_MINUTES = 0.4  # per run: 2 corpora x 3 n x 3 seeds x 24 s = 7.2 min of training
TRUNK = dict(context_length=128, d_model=64, n_layers=2, attn_heads=2)
SMOKE_TRUNK = dict(context_length=32, d_model=16, n_layers=1, attn_heads=2)


def experiment_corpus(name: str, smoke: bool) -> Corpus:
    """The built-in corpus; in smoke mode only its first 100-200 kB (seconds matter in tests)."""
    if not smoke:
        return load_corpus(name)
    text = python_stdlib_text()[:200_000] if name == "python-stdlib" else stories_text(size=100_000)
    return Corpus(name, text)


def run(settings, progress) -> dict:
    budget = settings.budget_seconds(DEFAULT_MINUTES)
    trunk = SMOKE_TRUNK if settings.smoke else TRUNK
    runs, plans = [], {}
    for corpus_name in CORPORA:
        progress.set(what=f"loading {corpus_name}")
        corpus = experiment_corpus(corpus_name, settings.smoke)
        configs = {f"{corpus_name} n={n}": (ModelConfig(vocab_size=corpus.tokenizer.vocab_size, n_heads=n,
                                                        head_type="linear", **trunk),
                                            {"corpus": corpus_name, "n_heads": n})
                   for n in HEADS}
        plan, records = train_at_equal_compute(configs, corpus, settings, budget, progress)
        plans.update(plan)
        runs += records
    summary = summarize(runs)
    header = result_header(NAME, TITLE, QUESTION, settings, {
        "corpora": list(CORPORA), "heads": list(HEADS), "head_type": "linear", "trunk": trunk,
        "budget_seconds_per_run": budget, "batch_size": 32, "equal_compute": MEANING})
    return {**header, "plan": plans, "runs": runs, "summary": summary, "findings": findings(summary)}


def summarize(runs: list) -> list:
    """One row per (corpus, n): head 1's val loss and accuracy across seeds, and the steps taken."""
    rows = []
    for corpus in dict.fromkeys(r["corpus"] for r in runs):
        for n in dict.fromkeys(r["n_heads"] for r in runs):
            group = [r for r in runs if r["corpus"] == corpus and r["n_heads"] == n]
            if not group:
                continue
            rows.append({"corpus": corpus, "n_heads": n,
                         "head1_val_loss": spread([r["next_token_val_loss"] for r in group]),
                         "head1_val_accuracy": spread([r["heads"][0]["val_accuracy"] for r in group]),
                         "steps": group[0]["steps"], "tokens": group[0]["tokens"],
                         "seconds": spread([r["seconds"] for r in group])})
    return rows


def findings(summary: list) -> list:
    out = []
    for corpus in dict.fromkeys(row["corpus"] for row in summary):
        rows = {row["n_heads"]: row for row in summary if row["corpus"] == corpus}
        if 1 not in rows:
            continue
        base = rows[1]
        for n, row in rows.items():
            if n == 1:
                continue
            out.append(f"{corpus}, head-1 " + compare(
                "val loss", f"n={n}", row["head1_val_loss"], "n=1", base["head1_val_loss"], lower_is_better=True))
            out.append(f"{corpus}, head-1 " + compare(
                "val accuracy", f"n={n}", row["head1_val_accuracy"], "n=1", base["head1_val_accuracy"],
                lower_is_better=False))
            out.append(f"{corpus}: in the same budget n={n} took {row['steps']} steps, n=1 {base['steps']} "
                       f"({row['steps'] / base['steps']:.2f}x as many)")
    return out
