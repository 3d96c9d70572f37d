"""entropy_ahead (tinymtp/analysis/information.py), the count behind notebook 04's "why are the far heads
worse": checked against a brute-force count with Counter, against the module's own H(X) and H(Y),
and on texts whose answer is known."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from tinymtp.analysis.information import entropy_ahead, two_token_decomposition
from tinymtp.core.errors import TinyMTPError
from tinymtp.data.corpora import stories_text
from tinymtp.data.tokenizer import CharTokenizer


def brute_force(text: str, context: int, k: int) -> float:
    """H(x[t+k] | the `context` characters ending at x[t]), by counting (context, character) pairs."""
    pairs = Counter((text[t - context + 1 : t + 1], text[t + k]) for t in range(context - 1, len(text) - k))
    contexts = Counter()
    for (ctx, _), count in pairs.items():
        contexts[ctx] += count
    total = sum(pairs.values())
    return -sum(count / total * math.log(count / contexts[ctx]) for (ctx, _), count in pairs.items())


@pytest.mark.parametrize("context", [1, 2])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_entropy_ahead_equals_a_brute_force_count(context, k):
    text = stories_text(seed=3, size=20_000)
    ids = CharTokenizer.from_text(text).encode(text)
    assert entropy_ahead(ids, context, k) == pytest.approx(brute_force(text, context, k), abs=1e-9)


def test_k1_and_k2_are_the_decompositions_H_of_X_and_of_Y():
    text = stories_text(seed=4, size=10_000)
    ids = CharTokenizer.from_text(text).encode(text)
    for context in (0, 1, 2):
        parts = two_token_decomposition(ids, context)
        # the decomposition counts only positions whose X has a Y after it: drop the last X
        assert entropy_ahead(ids[:-1], context, 1) == pytest.approx(parts["H(X)"], abs=1e-9)
        assert entropy_ahead(ids, context, 2) == pytest.approx(parts["H(Y)"], abs=1e-9)


def test_known_answers():
    assert entropy_ahead([0, 1, 2] * 50, context=1, k=3) == pytest.approx(0.0, abs=1e-12)  # a cycle: all certain
    coin = [0, 0, 1, 1] * 40 + [0]  # the pairs 00, 01, 11, 10 forty times each: after a 0 or a 1, a coin toss
    assert entropy_ahead(coin, context=1, k=1) == pytest.approx(math.log(2), abs=1e-9)


def test_bad_input_is_one_line_error():
    for ids, context, k in [([1, 2], 3, 1), ([1, 2], 1, 0), ([1], 1, 1), ([-1, 2, 3], 1, 1)]:
        with pytest.raises(TinyMTPError):
            entropy_ahead(ids, context, k)
