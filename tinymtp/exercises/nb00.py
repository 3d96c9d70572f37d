"""The exercises of notebook 00_tour (notebooks/00_tour.py): right answers, hints, checks.

Each is a "predict, then run" question: the learner writes a guess before the cell that shows it."""

from __future__ import annotations

from .kinds import Exercise

EXERCISES = {
    "00.drafting_heads": Exercise(
        "A 4-head model drafts with how many heads in self-speculative decoding?",
        "head 1 is the verifier's own next token; the others draft", lambda: 3),
    "00.greedy_forwards": Exercise(
        "Greedy decoding of 200 new tokens takes how many forward passes?",
        "greedy decoding adds exactly one token per forward pass", lambda: 200),
    "00.ceiling": Exercise(
        "At most how many tokens can one forward pass of a 4-head model produce?",
        "the sure token plus one per drafting head, all accepted", lambda: 4),
}
