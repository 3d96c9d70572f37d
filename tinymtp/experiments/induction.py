"""Experiment 2, `induction`: does multi-token prediction help a small model learn to copy?

The task (tinymtp/experiments/tasks.py): lines `s|s` where s is a random string of distinct letters; the
second copy can only be predicted by finding the current letter in the first copy and copying
the one after it (an induction head). The score is head 1's teacher-forced top-1 accuracy on the
second copy of held-out lines, against training steps, for n = 1, 2, 4 and several small sizes.
Gloeckle et al. (2024, section 4) report that small models form induction only, or much better,
with MTP; this checks whether tinymtp's small models do, with numbers decided by the runs.
"""

from __future__ import annotations

from .curves import CURVE_MEANING, CurveSpec, curve_findings, curve_length, run_curves, summarize_curves
from .runner import result_header, spread
from .tasks import InductionTask, heldout_lines, induction_corpus, score_induction

NAME = "induction"
TITLE = "Induction (in-context copying) against training steps"
QUESTION = "Does training with n = 2 or 4 heads make small models form induction (copying the second " \
           "occurrence of a random string) earlier or better than n = 1?"
SIZES = {  # a one-layer model cannot chain the two attention steps an induction head needs
    "1 layer, d=32": dict(context_length=64, d_model=32, n_layers=1, attn_heads=2),
    "2 layers, d=16": dict(context_length=64, d_model=16, n_layers=2, attn_heads=2),
    "2 layers, d=32": dict(context_length=64, d_model=32, n_layers=2, attn_heads=2),
}
SMOKE_SIZES = {"1 layer, d=16": dict(context_length=32, d_model=16, n_layers=1, attn_heads=2)}
DEFAULT_STEPS, POINTS = 1200, 10  # the score is measured at 10 evenly spaced steps
THRESHOLD = 0.5


def run(settings, progress) -> dict:
    steps, points = curve_length("induction", settings, DEFAULT_STEPS, POINTS)
    smoke = settings.smoke
    task = (InductionTask(min_length=4, max_length=8, train_lines=2000, heldout_lines=64) if smoke
            else InductionTask())
    progress.set(what="building the induction corpus")
    corpus = induction_corpus(task, seed=0)
    lines = heldout_lines(corpus)
    def score(model):
        result = score_induction(model, corpus.tokenizer, lines)
        return {key: result[key] for key in ("second_copy_accuracy", "first_copy_accuracy")}

    spec = CurveSpec(corpus=corpus, score=score,
                     metric="second_copy_accuracy", metric_label="second-copy accuracy",
                     sizes=SMOKE_SIZES if smoke else SIZES, steps=steps, points=points,
                     threshold=THRESHOLD)
    plan, runs = run_curves(spec, settings, progress)
    summary = summarize_curves(runs, spec.metric, THRESHOLD)
    for row in summary:  # the first copy is random: its accuracy is the control, near chance
        row["first_copy_final"] = spread([r["final"]["first_copy_accuracy"] for r in runs
                                          if r["size"] == row["size"] and r["n_heads"] == row["n_heads"]])
    header = result_header(NAME, TITLE, QUESTION, settings, {
        "task": vars(task), "heldout_lines": len(lines), "chance": round(1 / task.alphabet_size, 4),
        "sizes": spec.sizes, "heads": list(spec.heads), "head_type": "linear", "steps": steps,
        "scored_points": points, "batch_size": spec.batch_size, "learning_rate": spec.learning_rate,
        "threshold": THRESHOLD, "equal_compute": CURVE_MEANING,
        "metric": "head 1's teacher-forced top-1 accuracy on the second copy of held-out lines"})
    found = curve_findings(runs, summary, spec.metric, spec.metric_label, THRESHOLD)
    found.append(f"chance (uniform over {task.alphabet_size} letters) is {1 / task.alphabet_size:.3f}")
    return {**header, "plan": plan, "runs": runs, "summary": summary, "findings": found}
