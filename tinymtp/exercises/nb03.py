"""The exercises of notebook 03_heads_and_loss (notebooks/03_heads_and_loss.py): right answers, hints, checks."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..core.loss import combine_head_losses, head_losses, head_weights
from ..data.corpora import IGNORE, shift_targets
from .kinds import CodeExercise, Exercise, close


def mtp_loss(logits: torch.Tensor, targets: torch.Tensor, weights) -> torch.Tensor:
    """The library's training loss: logits (B, T, n, V), targets (B, T, n) -> a 0-d tensor."""
    return combine_head_losses(head_losses(logits, targets), weights)


def _weighted_sum(logits: torch.Tensor, targets: torch.Tensor, weights) -> torch.Tensor:
    """The classic slip: sum_k w_k L_k, never divided by sum_k w_k."""
    w = head_weights(weights, logits.size(2))
    return sum(w_k * loss for w_k, loss in zip(w, head_losses(logits, targets)))


def _loss_cases(generator: torch.Generator) -> list[dict]:
    # targets from the shift picture (the last k positions of head k are IGNORE), plus ignored
    # targets scattered anywhere but position 0, so no head is left without a target (its loss would
    # be nan). Weights: equal, decay and a list; one head alone; a small case first for a readable message.
    cases = []
    for B, T, n, V, weights in [(1, 4, 2, 5, "equal"), (2, 6, 3, 7, "decay"), (2, 8, 4, 11, [1.0, 0.5, 0.25, 0.0]),
                                (1, 5, 1, 6, "equal"), (3, 10, 4, 20, "equal"), (2, 9, 3, 13, [2.0, 1.0, 3.0]),
                                (4, 12, 4, 32, "decay")]:
        tokens = torch.randint(0, V, (B, T), generator=generator)  # (B, T)
        targets = shift_targets(tokens, n)  # (B, T, n)
        scattered = torch.rand(B, T, n, generator=generator) < 0.25  # (B, T, n)
        scattered[:, 0] = False
        targets = targets.masked_fill(scattered, IGNORE)  # (B, T, n)
        logits = 2 * torch.randn(B, T, n, V, generator=generator)  # (B, T, n, V)
        cases.append({"logits": logits, "targets": targets, "weights": weights})
    return cases


def pooled_loss(logits: torch.Tensor, targets: torch.Tensor, weights) -> torch.Tensor:
    """Another slip, kept for the tests: one cross-entropy over every head's targets at once."""
    V = logits.size(-1)
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=IGNORE)  # (B*T*n, V)


EXERCISES = {
    "03.initial_loss": Exercise(
        "The cross-entropy of a model that gives all 161 characters the same probability?",
        "every target gets probability 1/V; the loss is -ln of it", lambda: math.log(161), 1e-3),
    "03.decay_weights": Exercise(
        'The "decay" loss weights for n=3 heads, head 1 first?',
        "head 1 weighs 1; head k >= 2 weighs 0.2 * 0.8**(k - 1)", lambda: [1.0, 0.2 * 0.8, 0.2 * 0.8**2], 1e-6),
    "03.mtp_loss": CodeExercise(
        "Write mtp_loss(logits, targets, weights): logits (B, T, n, V), targets (B, T, n) -> the weighted mean loss.",
        "one cross-entropy per head over its targets (ignore_index=IGNORE), then sum(w_k * L_k) / sum(w_k) "
        "with w = head_weights(weights, n); return a 0-d tensor",
        reference=mtp_loss, cases=_loss_cases, wrong=_weighted_sum, compare=close(rtol=1e-5, atol=1e-6)),
    "03.logit_numbers": Exercise(
        "How many numbers do the logits of a batch hold for B=32, T=128, n=4, V=161?",
        "multiply the four sizes of (B, T, n, V)", lambda: 32 * 128 * 4 * 161),
}
