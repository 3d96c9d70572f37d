"""The exercises of notebook 01_corpus_and_tokenizer (notebooks/01_corpus_and_tokenizer.py): right answers, hints, checks."""

from __future__ import annotations

import torch

from ..data.corpora import IGNORE, shift_targets
from .kinds import CodeExercise, Exercise


def head_targets(tokens: torch.Tensor, n_heads: int) -> torch.Tensor:
    """The library's targets for one sequence. tokens: (T,) -> targets: (T, n)."""
    return shift_targets(tokens[None], n_heads)[0]  # (1, T) -> (1, T, n) -> (T, n)


def _head_targets_one_short(tokens: torch.Tensor, n_heads: int) -> torch.Tensor:
    """The classic slip: head k gets tokens[t + k - 1], so head 1 copies its own input."""
    T = tokens.numel()
    targets = torch.full((T, n_heads), IGNORE, dtype=torch.long)  # (T, n)
    for k in range(1, n_heads + 1):
        targets[: T - k + 1, k - 1] = tokens[k - 1 :]
    return targets


def _head_targets_cases(generator: torch.Generator) -> list[dict]:
    # a small case first, so a wrong function's message stays readable; then one head, a sequence
    # as long as the heads reach (head n has no target at all), a single token. T >= n throughout:
    # shift_targets raises when n > T + 1.
    cases = []
    for T, n in [(6, 2), (7, 3), (5, 1), (4, 4), (1, 1), (12, 4), (16, 2), (9, 5), (20, 4)]:
        cases.append({"tokens": torch.randint(0, 100, (T,), generator=generator), "n_heads": n})  # (T,)
    return cases

EXERCISES = {
    "01.head3_target": Exercise(
        'At position 4 of "return x + 1" (counting from 0), what is head 3\'s target?',
        "head k at position t predicts x[t+k]: count to position 4 + 3", lambda: "x"),
    "01.window_length": Exercise(
        "How many characters does make_batch cut per window for context 8 and 4 heads?",
        "the window holds the T inputs plus the n characters after the last one", lambda: 12),
    "01.positions_with_target": Exercise(
        "In a 10-token sequence, at how many positions does head 4 have a real target?",
        "the last k positions have nothing k steps ahead", lambda: 6),
    "01.head_targets": CodeExercise(
        "Write head_targets(tokens, n_heads): for a (T,) LongTensor, the (T, n) targets of every head.",
        "row t, column k - 1 holds tokens[t + k] while t + k < T, and IGNORE (-100) after that",
        reference=head_targets, cases=_head_targets_cases, wrong=_head_targets_one_short),
}
