"""The two kinds of exercise in the notebooks: a number (or short answer) and a function to write.

An `Exercise` asks for a value: the notebook cell reads `answer = None` and the check compares
the learner's answer with `solve(**context)`. A `CodeExercise` asks for a function: the learner
writes its body, and the check calls it on hidden cases, seeded so every run draws the same ones,
comparing each result with the library's own function (`reference`). Each code exercise also
declares `wrong`, a plausible mistake (an off-by-one, say), so the tests can prove the check
rejects it, and may declare `slips`: common mistakes, each a function that makes exactly that
mistake and a sentence naming it. When the learner's result on a failing case equals a slip's,
the check says which mistake it saw (an off-by-one in the cache length, say), not only that the
result is wrong. Grading lives in `tinymtp/exercises/__init__.py` (values) and `code.py` (functions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Exercise:
    question: str
    hint: str
    solve: Callable[..., Any]  # (**context) -> the right answer
    tolerance: float = 0.0  # for numbers: relative tolerance (absolute below 1)


@dataclass(frozen=True)
class CodeExercise:
    question: str
    hint: str
    reference: Callable[..., Any]  # the library's answer, called like the learner's function
    cases: Callable[[torch.Generator], list[dict[str, Any]]]  # hidden inputs: argument name -> value
    wrong: Callable[..., Any]  # a plausible mistake the check must reject (used by the tests)
    compare: Callable[[Any, Any], bool] | None = None  # (expected, got) -> same?; None: exact()
    seed: int = 0
    slips: tuple = ()  # (what the mistake is, a function that makes it): named when the learner's result matches

    def hidden_cases(self) -> list[dict[str, Any]]:
        return self.cases(torch.Generator().manual_seed(self.seed))

    def same(self, expected, got) -> bool:
        return (self.compare or exact)(expected, got)


def exact(expected, got) -> bool:
    """Tensors: same shape, dtype and values. Anything else: ==."""
    if isinstance(expected, torch.Tensor):
        return (isinstance(got, torch.Tensor) and got.shape == expected.shape and got.dtype == expected.dtype
                and torch.equal(got.cpu(), expected.cpu()))
    return bool(expected == got)


def close(rtol: float = 1e-5, atol: float = 1e-6) -> Callable[[Any, Any], bool]:
    """A comparison for float tensors computed in another order: same shape, values within tolerance."""

    def compare(expected, got) -> bool:
        return (isinstance(got, torch.Tensor) and got.shape == expected.shape
                and torch.allclose(got.cpu().to(expected.dtype), expected.cpu(), rtol=rtol, atol=atol))

    return compare
