"""The exercises of notebook 08_related_ideas (notebooks/08_related_ideas.py): right answers, hints, checks."""

from __future__ import annotations

import math

import torch

from ..analysis.information import mutual_information
from .kinds import CodeExercise, Exercise


def same_number(expected: float, got) -> bool:
    """A float answer (a Python number or a 0-d tensor) within 1e-6 of the library's."""
    if isinstance(got, bool):
        return False
    value = float(got)  # raises on anything that is not a number: the check then says "not quite"
    return math.isfinite(value) and abs(value - expected) <= 1e-6 * max(1.0, abs(expected))


def _mutual_information_in_bits(counts: torch.Tensor) -> float:
    """The common slip: log base 2, so the answer is in bits while the losses are in nats."""
    p = counts.double() / counts.sum()  # (Vx, Vy)
    px, py = p.sum(1, keepdim=True), p.sum(0, keepdim=True)  # (Vx, 1), (1, Vy)
    seen = p > 0
    return float((p[seen] * (p[seen] / (px * py).expand_as(p)[seen]).log2()).sum())


def _count_tables(generator: torch.Generator) -> list[dict]:
    # small tables first (readable messages), then zeros in cells, a copy (I = H(X)), independence
    # (I = 0), non-square and larger tables
    cases = [{"counts": torch.tensor([[3, 1], [1, 3]])}]
    for rows, cols in [(2, 3), (4, 4), (3, 5), (8, 8), (16, 12)]:
        table = torch.randint(0, 20, (rows, cols), generator=generator)  # (rows, cols)
        table[0, 0] += 1  # never all zero
        cases.append({"counts": table})
    cases.append({"counts": torch.eye(6, dtype=torch.long) * 4})  # Y copies X
    cases.append({"counts": torch.outer(torch.tensor([1, 2, 3]), torch.tensor([2, 5]))})  # independent
    sparse = torch.randint(0, 5, (6, 6), generator=generator)
    sparse[sparse < 3] = 0
    sparse[2, 3] = 7
    cases.append({"counts": sparse})
    return cases


EXERCISES = {
    "08.extra_head_parameters": Exercise(
        "How many parameters do heads 2..4 add to a 4-head linear-head model with d_model=128?",
        "each linear head is one d_model x d_model matrix; the unembedding is shared", lambda: 3 * 128 * 128),
    "08.draft_rounds": Exercise(
        "A draft model proposes 3 tokens per round and all are accepted: tokens per verifying forward?",
        "the accepted drafts plus the verifier's bonus token", lambda: 4),
    "08.mutual_information": CodeExercise(
        "Write mutual_information(counts): I(X; Y) in nats from a (values of X, values of Y) table of joint counts.",
        "divide by the total to get p(x, y); p(x) and p(y) are its row and column sums; sum p log(p / (p(x) p(y))) "
        "over the cells with p > 0, with the natural log (nats, like the losses)",
        reference=mutual_information, cases=_count_tables, wrong=_mutual_information_in_bits, compare=same_number),
}
