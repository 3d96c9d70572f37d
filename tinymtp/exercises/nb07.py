"""The exercises of notebook 07_speculative_sampling (notebooks/07_speculative_sampling.py): right answers, hints, checks.

Two code exercises take the rule apart, each checked against tinymtp/decoding/sampling.py: the acceptance
test (`accept_exact`) on hidden (p(x), q(x), u), edge cases included, and the residual
distribution (`residual`) on hidden (p, q), the case p == q (a zero sum: nothing left over) included.
"""

from __future__ import annotations

import torch

from ..decoding.sampling import accept_exact, residual
from .kinds import CodeExercise, Exercise, close


def accept(p_x: float, q_x: float, u: float) -> bool:
    """The library's answer: keep the draft x when u < min(1, p(x) / q(x))."""
    return accept_exact(p_x, q_x, u)


def _accept_the_ratio_the_wrong_way(p_x: float, q_x: float, u: float) -> bool:
    """A plausible slip: the letters swapped (q / p), which keeps what the drafter over-proposes."""
    return u < min(1.0, q_x / p_x) if p_x > 0 else True


def _accept_cases(generator: torch.Generator) -> list[dict]:
    # random triples, then the edges: p(x) = 0 (never kept), p(x) >= q(x) (always kept), u = 0
    values = torch.rand(12, 3, generator=generator, dtype=torch.float64).tolist()
    cases = [{"p_x": p, "q_x": max(q, 0.01), "u": u} for p, q, u in values]
    cases += [{"p_x": 0.0, "q_x": 0.3, "u": 0.0}, {"p_x": 0.5, "q_x": 0.2, "u": 0.99},
              {"p_x": 0.2, "q_x": 0.2, "u": 0.999}, {"p_x": 0.1, "q_x": 0.8, "u": 0.0},
              {"p_x": 0.1, "q_x": 0.8, "u": 0.2}]
    return cases


def _residual_without_guard(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """A plausible slip: no guard for the zero sum, so p == q gives 0 / 0 = nan."""
    extra = torch.clamp(p - q, min=0)  # (V,)
    return extra / extra.sum()


def _residual_cases(generator: torch.Generator) -> list[dict]:
    # random pairs over small vocabularies, one where q is p itself (the guard), and the worked
    # example of the notebook first (readable if it goes wrong)
    cases = [{"p": torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64),
              "q": torch.tensor([0.2, 0.6, 0.2], dtype=torch.float64)}]
    for V in (4, 7, 2, 10):
        p = torch.softmax(torch.randn(V, generator=generator, dtype=torch.float64), -1)  # (V,)
        q = torch.softmax(torch.randn(V, generator=generator, dtype=torch.float64), -1)  # (V,)
        cases.append({"p": p, "q": q})
    same = torch.softmax(torch.randn(5, generator=generator, dtype=torch.float64), -1)  # (V,)
    cases.append({"p": same, "q": same.clone()})
    return cases


EXERCISES = {
    "07.accept": CodeExercise(
        "Write accept(p_x, q_x, u): is the draft x kept, for the main model's p(x), the drafter's q(x) "
        "and a uniform draw u?",
        "keep x when u < min(1, p(x) / q(x)); p is head 1 (the main model), q the drafter",
        reference=accept, cases=_accept_cases, wrong=_accept_the_ratio_the_wrong_way),
    "07.residual": CodeExercise(
        "Write residual(p, q): the distribution a rejected draft's replacement is drawn from.",
        "norm(max(0, p - q)): subtract, clip negatives to 0, divide by the sum; when the sum is 0 "
        "(p == q) return p itself",
        reference=residual, cases=_residual_cases, wrong=_residual_without_guard, compare=close(1e-9, 1e-12)),
    "07.acceptance_rate": Exercise(
        "Overall probability that a draft from q is accepted, for p = [0.5, 0.3, 0.2], q = [0.2, 0.6, 0.2]?",
        "sum over x of q(x) * min(1, p(x)/q(x)) = sum of min(p(x), q(x))", lambda: 0.7, 1e-6),
}
