"""Experiment 3, `addition`: multi-digit addition written most-significant digit first.

`123+989=1112`: the first answer digit is the final carry, which depends on every later digit,
so writing the answer left to right needs planning ahead, the kind of thing extra heads that
predict further ahead might teach the trunk. The score is the exact-match accuracy of greedy
answers on 500 held-out problems (never seen in training), and the accuracy of each answer digit
counted from the left, against training steps, for n = 1, 2, 4.
"""

from __future__ import annotations

from .curves import CURVE_MEANING, CurveSpec, curve_findings, curve_length, run_curves, summarize_curves
from .runner import compare, result_header, spread
from .tasks import AdditionTask, addition_corpus, heldout_lines, score_addition

NAME = "addition"
TITLE = "Addition, most significant digit first, against training steps"
QUESTION = "Does training with n = 2 or 4 heads help a small model add 3-digit numbers written most " \
           "significant digit first, where the first answer digit depends on later ones?"
SIZES = {"2 layers, d=64": dict(context_length=64, d_model=64, n_layers=2, attn_heads=2)}
SMOKE_SIZES = {"1 layer, d=16": dict(context_length=32, d_model=16, n_layers=1, attn_heads=2)}
DEFAULT_STEPS, POINTS, LEARNING_RATE = 1500, 10, 6e-3
THRESHOLD = 0.5


def run(settings, progress) -> dict:
    steps, points = curve_length("addition", settings, DEFAULT_STEPS, POINTS)
    smoke = settings.smoke
    task = AdditionTask(train_problems=2000, heldout_problems=64) if smoke else AdditionTask()
    progress.set(what="building the addition corpus")
    corpus = addition_corpus(task, seed=0)
    lines = heldout_lines(corpus)

    def score(model):
        result = score_addition(model, corpus.tokenizer, lines)
        result["first_digit_accuracy"] = result["digit_accuracy"][0]
        return result

    spec = CurveSpec(corpus=corpus, score=score, metric="exact_match", metric_label="exact match",
                     sizes=SMOKE_SIZES if smoke else SIZES, steps=steps, points=points,
                     learning_rate=LEARNING_RATE, threshold=THRESHOLD)
    plan, runs = run_curves(spec, settings, progress)
    for r in runs:
        for point in r["curve"][:-1]:
            point.pop("examples", None)  # keep the examples of the final model only
    summary = summarize_curves(runs, spec.metric, THRESHOLD)
    for row in summary:
        group = [r for r in runs if r["size"] == row["size"] and r["n_heads"] == row["n_heads"]]
        width = len(group[0]["final"]["digit_accuracy"])
        row["digit_accuracy"] = [spread([r["final"]["digit_accuracy"][i] for r in group]) for i in range(width)]
    header = result_header(NAME, TITLE, QUESTION, settings, {
        "task": vars(task), "heldout_problems": len(lines), "sizes": spec.sizes, "heads": list(spec.heads),
        "head_type": "linear", "steps": steps, "scored_points": points, "batch_size": spec.batch_size,
        "learning_rate": spec.learning_rate, "threshold": THRESHOLD, "equal_compute": CURVE_MEANING,
        "metric": "exact match of greedy-decoded answers on held-out problems; digit i counted from the left"})
    found = curve_findings(runs, summary, spec.metric, spec.metric_label, THRESHOLD)
    for size in dict.fromkeys(row["size"] for row in summary):
        rows = {row["n_heads"]: row for row in summary if row["size"] == size}
        for n, row in rows.items():
            if n != 1 and 1 in rows:
                found.append(f"{size}, final " + compare("first answer digit (the carry) accuracy", f"n={n}",
                                                          row["digit_accuracy"][0], "n=1", rows[1]["digit_accuracy"][0],
                                                          lower_is_better=False))
    return {**header, "plan": plan, "runs": runs, "summary": summary, "findings": found}
