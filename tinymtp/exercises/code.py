"""Grading a function the learner wrote: call it on hidden cases and compare with the library's.

The check must never raise, whatever the learner's function does (it may raise, return the wrong
type, or change its inputs in place): a notebook has to run top to bottom with every exercise
blank, and a learner should read one line saying what went wrong, not a traceback. Each call gets
its own copy of the case, so a function that modifies its inputs cannot spoil the expected answer.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from .kinds import CodeExercise

UNANSWERED = "not answered yet: write the function's body (in place of raise NotImplementedError) and run the cell again"
SHOWN = 160  # characters of a value shown in a message


def grade_code(exercise: CodeExercise, function) -> tuple[str, str]:
    """(status, message) for the learner's `function`: "unanswered", "correct" or "wrong"."""
    if function is None or function is Ellipsis:
        return "unanswered", UNANSWERED
    if not callable(function):
        return "wrong", f"not quite: pass your function itself (without calling it), not {_show(function)}"
    cases = exercise.hidden_cases()
    for number, case in enumerate(cases, start=1):
        expected = exercise.reference(*copy.deepcopy(list(case.values())))
        where = f"on case {number} of {len(cases)} ({_show_case(case)}):"
        try:
            got = function(*copy.deepcopy(list(case.values())))
        except NotImplementedError:
            return "unanswered", UNANSWERED
        except (Exception, SystemExit) as error:  # the learner's bug, reported in one line
            return "wrong", f"not quite: {where} your function raised {_one_line(error)}\nhint: {exercise.hint}"
        try:
            same = exercise.same(expected, got)
        except Exception:  # a result the comparison cannot even read is simply not the answer
            same = False
        if not same:
            return "wrong", (f"not quite: {where} expected {_show(expected)}, got {_show(got)}\n"
                             f"hint: {exercise.hint}")
    return "correct", f"correct! ({len(cases)} hidden cases)"


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:SHOWN]}" if text else type(error).__name__


def _show_case(case: dict[str, Any]) -> str:
    return ", ".join(f"{name}={_show(value)}" for name, value in case.items())


def _show(value) -> str:
    """A value on one short line; tensors lead with shape and dtype, since those are common slips."""
    prefix = ""
    try:
        if isinstance(value, torch.Tensor):
            prefix = f"tensor of shape {tuple(value.shape)}, {str(value.dtype).removeprefix('torch.')}: "
            value = value.tolist()
        text = " ".join(repr(value).split())
    except Exception:
        text = f"<{type(value).__name__}>"
    return prefix + (text if len(text) <= SHOWN else text[: SHOWN - 3] + "...")
