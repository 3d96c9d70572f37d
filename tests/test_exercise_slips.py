"""The capstones' hints name the slip (tinymtp/exercises/code.py, nb06.py, nb07.py): a learner's
speculative loop (notebook 06) or sampled round (notebook 07) that makes one of the common mistakes
is told which one, and a right one passes.

Each slip is the right loop or round with exactly one step changed, so grading the slip itself is
the learner who made that mistake: the check must call it wrong AND name that mistake, not an
earlier one in the list that happens to give the same result on the first failing case.
"""

from __future__ import annotations

import pytest

from tinymtp.exercises import grade, nb06, nb07
from tinymtp.exercises.code import grade_code
from tinymtp.exercises.kinds import CodeExercise

pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny forwards: see conftest.one_thread

CAPSTONES = {"06.speculative_loop": (nb06._loop, nb06.SLIPS), "07.sampled_round": (nb07._round, nb07.SAMPLED_SLIPS)}
CASES = [(key, i) for key, (_, slips) in CAPSTONES.items() for i in range(len(slips))]


@pytest.mark.parametrize("key", sorted(CAPSTONES))
def test_the_right_loop_written_step_by_step_passes(key):
    right, _ = CAPSTONES[key]
    assert grade(key, right)[0] == "correct"


@pytest.mark.parametrize("key, index", CASES, ids=[f"{k}-{i}" for k, i in CASES])
def test_each_slip_is_wrong_and_named_as_itself(key, index):
    _, slips = CAPSTONES[key]
    name, slip = slips[index]
    verdict, message = grade(key, slip)
    assert verdict == "wrong"
    assert f"that is exactly what {name} " in message
    others = [other for other, _ in slips if other != name and other in message]
    assert others == []


def test_a_mistake_no_slip_makes_gets_no_name():
    def always_one_token(drafts, q, p, generator):
        return [0]

    verdict, message = grade("07.sampled_round", always_one_token)
    assert verdict == "wrong" and "that is exactly what" not in message and "hint:" in message


def test_a_function_that_raises_like_a_slip_is_named_too():
    def halve(values):
        return [v / 2 for v in values]

    def divides_by_the_first(values):  # the slip: fails on a case that starts with 0
        return [v / values[0] for v in values]

    exercise = CodeExercise("Write halve(values).", "divide each by 2", reference=halve,
                            cases=lambda generator: [{"values": [2, 4]}, {"values": [0, 2]}], wrong=divides_by_the_first,
                            slips=(("a function that divides by the first value", divides_by_the_first),))

    def learner(values):
        return [v / values[0] for v in values]

    verdict, message = grade_code(exercise, learner)
    assert verdict == "wrong" and "raised ZeroDivisionError" in message
    assert "that is exactly what a function that divides by the first value raises" in message


def test_a_long_wrong_list_says_where_it_first_differs():
    def one_token_short(model, prompt_ids, max_new_tokens):
        tokens, forwards = nb06.speculative_greedy(model, prompt_ids, max_new_tokens)
        return tokens[:-1] + [tokens[-1] + 1], forwards

    verdict, message = grade("06.speculative_loop", one_token_short)
    assert verdict == "wrong"
    assert "(first difference at [0][49]:" in message  # case 1 asks for 50 new tokens: the last one differs
