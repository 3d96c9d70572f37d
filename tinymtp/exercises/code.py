"""Grading a function the learner wrote: call it on hidden cases and compare with the library's.

The check must never raise, whatever the learner's function does (it may raise, return the wrong
type, or change its inputs in place): a notebook has to run top to bottom with every exercise
blank, and a learner should read one line saying what went wrong, not a traceback. Each call gets
its own copy of the case, so a function that modifies its inputs cannot spoil the expected answer.
When the exercise declares slips (kinds.py) and the learner's wrong result equals what one of them
gives on that case, the message names that mistake too.
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
            seen = _slip_seen(exercise, case, error=_one_line(error))
            return "wrong", (f"not quite: {where} your function raised {_one_line(error)}\n"
                             + (f"that is exactly what {seen} raises\n" if seen else "") + f"hint: {exercise.hint}")
        try:
            same = exercise.same(expected, got)
        except Exception:  # a result the comparison cannot even read is simply not the answer
            same = False
        if not same:
            seen = _slip_seen(exercise, case, got)
            return "wrong", (f"not quite: {where} expected {_show(expected)}, got {_show(got)}{_first_difference(expected, got)}\n"
                             + (f"that is exactly what {seen} gives\n" if seen else "") + f"hint: {exercise.hint}")
    return "correct", f"correct! ({len(cases)} hidden cases)"


def _slip_seen(exercise: CodeExercise, case: dict[str, Any], got=None, error: str | None = None) -> str | None:
    """The first declared slip that, on `case`, returns what the learner's function returned (`got`)
    or raises the error it raised (`error`, one line), named; else None."""
    for name, slip in exercise.slips:
        try:
            result = slip(*copy.deepcopy(list(case.values())))
        except Exception as raised:  # a slip may fail exactly as the learner's function did
            if error is not None and _one_line(raised) == error:
                return name
            continue
        try:
            if error is None and exercise.same(result, got):
                return name
        except Exception:  # a result the comparison cannot read is not the one seen
            continue
    return None


def _first_difference(expected, got, where: str = "") -> str:
    """Where two nested lists or tuples first differ, as " (first difference at [0][7]: expected 1, got
    77)"; "" when they are not both sequences (a long value is cut in the message, so say where)."""
    if not (isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple))):
        return ""
    for i, (a, b) in enumerate(zip(expected, got)):
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            inner = _first_difference(a, b, f"{where}[{i}]")
            if inner:
                return inner
        elif not isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor) and a != b:
            return f" (first difference at {where}[{i}]: expected {_show(a)}, got {_show(b)})"
    if len(expected) != len(got):
        return f" (first difference at {where}: {len(expected)} items expected, got {len(got)})"
    return ""


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:SHOWN]}" if text else type(error).__name__


def _show_case(case: dict[str, Any]) -> str:
    return ", ".join(f"{name}={_show(value)}" for name, value in case.items())


def _show(value) -> str:
    """A value on one short line; tensors lead with shape and dtype, since those are common slips."""
    prefix = ""
    try:
        if isinstance(value, torch.nn.Module):  # a model: its name and size, not its whole printout
            return f"<{type(value).__name__}, {sum(p.numel() for p in value.parameters()):,} parameters>"
        if isinstance(value, torch.Generator):
            return "<a seeded torch.Generator>"
        if isinstance(value, torch.Tensor):
            prefix = f"tensor of shape {tuple(value.shape)}, {str(value.dtype).removeprefix('torch.')}: "
            value = value.tolist()
        text = " ".join(repr(value).split())
    except Exception:
        text = f"<{type(value).__name__}>"
    return prefix + (text if len(text) <= SHOWN else text[: SHOWN - 3] + "...")
