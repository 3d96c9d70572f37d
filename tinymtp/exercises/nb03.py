"""The exercises of notebook 03_heads_and_loss (notebooks/03_heads_and_loss.py): right answers, hints, checks."""

from __future__ import annotations

import math

from tinymtp.exercises.kinds import Exercise

EXERCISES = {
    "03.decay_weights": Exercise(
        'The "decay" loss weights for n=3 heads, head 1 first?',
        "head 1 weighs 1; head k >= 2 weighs 0.2 * 0.8**(k - 1)", lambda: [1.0, 0.2 * 0.8, 0.2 * 0.8**2], 1e-6),
    "03.initial_loss": Exercise(
        "The cross-entropy of a model that gives all 161 characters the same probability?",
        "every target gets probability 1/V; the loss is -ln of it", lambda: math.log(161), 1e-3),
    "03.logit_numbers": Exercise(
        "How many numbers do the logits of a batch hold for B=32, T=128, n=4, V=161?",
        "multiply the four sizes of (B, T, n, V)", lambda: 32 * 128 * 4 * 161),
}
