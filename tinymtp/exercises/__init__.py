"""The notebooks' exercises: each one's right answer, its hint, and the check that grades it.

A number exercise's cell reads

    answer = None  # your answer here
    check("01.window_length", answer)

and a code exercise's cell

    def head_targets(tokens, n_heads):
        raise NotImplementedError  # replace this line with your code

    check("01.head_targets", head_targets)

The check prints "not answered yet", "correct!" or "not quite: ..." with a hint; a code check
calls the learner's function on hidden cases against the library's own function and names the
first case it gets wrong. It never raises, so the notebooks run top to bottom with nothing filled
in (as they do in the tests). Some answers depend on the learner's own run (which head is worst);
those exercises compute their right answer from the `context` the cell passes in.

Each notebook's exercises live in their own module, nbNN.py, so people writing different
notebooks never edit the same file. To add one:
- a number: in nbNN.py, `"NN.name": Exercise(question, hint, lambda: right_answer)` (a tolerance
  for floats); in the notebook, the `answer = None` cell and a folded solution
  (`<details><summary>Solution</summary>` ... `</details>`).
- a function: in nbNN.py, `"NN.name": CodeExercise(question, hint, reference=<the library's
  function>, cases=<generator -> [dict of arguments]>, wrong=<a plausible mistake>)` (and
  `compare=close()` for float results); in the notebook, the template cell above and, right
  after it, a folded solution holding a ```python block that defines the function (a test runs
  it through the check).
tests/test_notebooks.py then grades every exercise with its right answer, a wrong one and none.
"""

from __future__ import annotations

from ..core.errors import TinyMTPError
from . import nb00, nb01, nb02, nb03, nb04, nb05, nb06, nb07, nb08, nb09, nb10
from .code import grade_code
from .kinds import CodeExercise, Exercise, close, exact

__all__ = ["EXERCISES", "CodeExercise", "Exercise", "check", "close", "exact", "grade", "solution"]


def _registry(modules) -> dict[str, Exercise | CodeExercise]:
    exercises: dict[str, Exercise | CodeExercise] = {}
    for module in modules:
        number = module.__name__.rsplit(".nb", 1)[1]
        for exercise_id, exercise in module.EXERCISES.items():
            if not exercise_id.startswith(f"{number}.") or exercise_id in exercises:
                raise ValueError(f"exercise {exercise_id!r} in {module.__name__}: ids are unique and start with {number}.")
            exercises[exercise_id] = exercise
    return exercises


EXERCISES = _registry([nb00, nb01, nb02, nb03, nb04, nb05, nb06, nb07, nb08, nb09, nb10])


def _exercise(exercise_id: str) -> Exercise | CodeExercise:
    if exercise_id not in EXERCISES:
        raise TinyMTPError(f"no exercise {exercise_id!r}: check the id in the check(...) cell")
    return EXERCISES[exercise_id]


def _same(answer, right, tolerance: float) -> bool:
    if isinstance(right, str):
        return isinstance(answer, str) and answer.strip().lower() == right.lower()
    if isinstance(right, (list, tuple)):
        try:
            items = list(answer)
        except TypeError:
            return False
        return len(items) == len(right) and all(_same(a, r, tolerance) for a, r in zip(items, right))
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) and not hasattr(answer, "__float__"):
        return False
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return False
    if tolerance == 0:
        return value == right
    return abs(value - right) <= tolerance * max(1.0, abs(right))


def grade(exercise_id: str, answer, **context) -> tuple[str, str]:
    """(status, message): status is "unanswered", "correct" or "wrong"; never raises on any answer.

    For a code exercise, `answer` is the learner's function."""
    exercise = _exercise(exercise_id)
    if isinstance(exercise, CodeExercise):
        return grade_code(exercise, answer)
    if answer is None or answer is Ellipsis:
        return "unanswered", "not answered yet: replace None with your answer and run the cell again"
    right = exercise.solve(**context)
    if _same(answer, right, exercise.tolerance):
        return "correct", "correct!"
    return "wrong", f"not quite: {exercise.hint}"


def check(exercise_id: str, answer, **context) -> None:
    """Print whether `answer` (a value, or a function for a code exercise) is right: the check cells call this."""
    print(grade(exercise_id, answer, **context)[1])


def solution(exercise_id: str, **context):
    """The right answer, or for a code exercise the library's function (the tests use it; learners
    have the folded solutions instead)."""
    exercise = _exercise(exercise_id)
    if isinstance(exercise, CodeExercise):
        return exercise.reference
    return exercise.solve(**context)
