"""The exercises of notebook 04_training (notebooks/04_training.py): right answers, hints, checks."""

from __future__ import annotations

from tinymtp.exercises.kinds import Exercise


def _worst_head(evaluation) -> int:
    heads = evaluation["heads"]
    return max(heads, key=lambda h: h["val_loss"])["head"]


EXERCISES = {
    "04.first_learning_rate": Exercise(
        "The learning rate of the first step, with peak 3e-3 and 50 warm-up steps?",
        "warm-up grows linearly: step 0 uses peak * 1 / warmup_steps", lambda: 3e-3 / 50, 1e-6),
    "04.worst_head": Exercise(
        "Which head has the highest validation loss in your run?",
        "look at result.final_eval['heads'] (a head number, 1..n)", _worst_head),
    "04.targets_per_step": Exercise(
        "How many target tokens does ONE step train on, over all 4 heads, with batch 32 and context 128?",
        "every position of every window has a target for every head: B * T * n", lambda: 32 * 128 * 4),
}
