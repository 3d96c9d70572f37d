"""The exercises of notebook 05_what_the_heads_know (notebooks/05_what_the_heads_know.py): right answers, hints, checks.

The code exercise asks for both accuracies of one head from the raw guesses: the check builds the
library's `HeadPredictions` from the same guesses and compares with `accuracy_rows` (which rounds
to 4 decimals, hence the tolerance).
"""

from __future__ import annotations

import torch

from ..analysis.predictions import HeadPredictions, accuracy_rows
from .kinds import CodeExercise, Exercise


def head_accuracies(tokens: list, guesses: torch.Tensor, greedy: torch.Tensor, k: int) -> tuple:
    """The library's answer: (matches the real text, matches head 1's generation) for head k.

    tokens: the T token ids of the text; guesses (T, n): every head's top guess at every position;
    greedy (T, n): column j holds the token head 1 generates j + 1 steps after x[0..t]."""
    T, n = guesses.shape
    pred = HeadPredictions(
        text="", tokens=list(tokens), chars=[""] * T, n_heads=n,
        top_tokens=[[[int(guesses[t, j])] for j in range(n)] for t in range(T)], top_chars=[], top_probs=[],
        real=[[tokens[t + j] if t + j < T else None for j in range(1, n + 1)] for t in range(T)],
        greedy=greedy.tolist())
    row = accuracy_rows([pred])[k - 1]
    return row["text_accuracy"], row["greedy_accuracy"]


def _text_accuracy_over_every_position(tokens: list, guesses: torch.Tensor, greedy: torch.Tensor, k: int) -> tuple:
    """A plausible slip: divide the text hits by T, counting the last k positions (no target) as misses."""
    T = len(tokens)
    text_hits = sum(int(guesses[t, k - 1]) == tokens[t + k] for t in range(T - k))
    greedy_hits = sum(int(guesses[t, k - 1]) == int(greedy[t, k - 1]) for t in range(T))
    return text_hits / T, greedy_hits / T


def _accuracy_cases(generator: torch.Generator) -> list[dict]:
    # a vocabulary of 4, so guesses often hit; greedy continuations that agree with the text part of
    # the time, as a real head 1 does; head 1 (greedy accuracy 1 by definition) and the furthest head
    cases = []
    for T, n, k in [(8, 2, 2), (12, 4, 3), (10, 3, 1), (20, 4, 4), (6, 4, 4), (16, 3, 2)]:
        tokens = torch.randint(0, 4, (T,), generator=generator)  # (T,)
        guesses = torch.randint(0, 4, (T, n), generator=generator)  # (T, n)
        greedy = torch.randint(0, 4, (T, n), generator=generator)  # (T, n)
        greedy[:, 0] = guesses[:, 0]  # head 1's guess IS the first token of its greedy continuation
        agree = torch.rand(T, n, generator=generator) < 0.5  # (T, n)
        greedy = torch.where(agree, guesses, greedy)  # (T, n)
        cases.append({"tokens": tokens.tolist(), "guesses": guesses, "greedy": greedy, "k": k})
    return cases


def same_pair(expected: tuple, got) -> bool:
    """Two accuracies, each within the library's rounding to 4 decimals."""
    try:
        pair = [float(v) for v in got]
    except (TypeError, ValueError):
        return False
    return len(pair) == 2 and all(abs(a - b) <= 1e-4 for a, b in zip(pair, expected))


EXERCISES = {
    "05.expected_tokens": Exercise(
        "Head 2 is accepted 60% of the time, head 3 (once head 2 was) 50%: expected tokens per forward?",
        "1 sure token + P(head 2 kept) + P(heads 2 and 3 kept)", lambda: 1 + 0.6 + 0.6 * 0.5, 1e-6),
    "05.head_accuracies": CodeExercise(
        "Write head_accuracies(tokens, guesses, greedy, k): head k's accuracy against the real text and "
        "against head 1's greedy generation.",
        "text: compare guesses[t, k-1] with tokens[t+k] only where t + k < T; greedy: compare it with "
        "greedy[t, k-1] at every position t",
        reference=head_accuracies, cases=_accuracy_cases, wrong=_text_accuracy_over_every_position,
        compare=same_pair),
    "05.best_drafter": Exercise(
        "Which drafting head (2..n) most often matches what head 1 would generate?",
        "look at the greedy_accuracy column for heads 2..n", lambda rows: max(
            (r for r in rows if r["head"] >= 2), key=lambda r: r["greedy_accuracy"])["head"]),
    "05.greedy_accuracy_head1": Exercise(
        "What is head 1's accuracy against head 1's own greedy continuation?",
        "head 1's top guess IS the greedy continuation's first token", lambda: 1.0, 1e-9),
}
