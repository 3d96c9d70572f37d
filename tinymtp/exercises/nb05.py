"""The exercises of notebook 05_what_the_heads_know (notebooks/05_what_the_heads_know.py): right answers, hints, checks."""

from __future__ import annotations

from tinymtp.exercises.kinds import Exercise

EXERCISES = {
    "05.expected_tokens": Exercise(
        "Head 2 is accepted 60% of the time, head 3 (once head 2 was) 50%: expected tokens per forward?",
        "1 sure token + P(head 2 kept) + P(heads 2 and 3 kept)", lambda: 1 + 0.6 + 0.6 * 0.5, 1e-6),
    "05.best_drafter": Exercise(
        "Which drafting head (2..n) most often matches what head 1 would generate?",
        "look at the greedy_accuracy column for heads 2..n", lambda rows: max(
            (r for r in rows if r["head"] >= 2), key=lambda r: r["greedy_accuracy"])["head"]),
    "05.greedy_accuracy_head1": Exercise(
        "What is head 1's accuracy against head 1's own greedy continuation?",
        "head 1's top guess IS the greedy continuation's first token", lambda: 1.0, 1e-9),
}
