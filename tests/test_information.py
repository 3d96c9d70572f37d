"""Entropies from counts and Gloeckle et al.'s two-token decomposition (tinymtp/analysis/information.py)."""

from __future__ import annotations

import math

import pytest
import torch

from tinymtp.analysis.information import bits, entropy, mutual_information, two_token_decomposition
from tinymtp.core.errors import TinyMTPError


def test_entropy_of_known_distributions():
    assert entropy(torch.tensor([1, 1, 1, 1])) == pytest.approx(math.log(4))
    assert entropy(torch.tensor([5, 0, 0])) == pytest.approx(0.0)
    assert entropy(torch.tensor([[3, 1], [0, 0]])) == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert bits(math.log(8)) == pytest.approx(3.0)


def test_mutual_information_of_known_tables():
    assert mutual_information(torch.eye(5) * 7) == pytest.approx(math.log(5))  # Y copies X: I = H(X)
    independent = torch.outer(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([4.0, 1.0]))  # p(x, y) = p(x) p(y)
    assert mutual_information(independent) == pytest.approx(0.0, abs=1e-12)
    table = torch.tensor([[10, 2, 0], [1, 5, 3]])  # I = H(X) + H(Y) - H(X, Y)
    expected = entropy(table.sum(1)) + entropy(table.sum(0)) - entropy(table)
    assert mutual_information(table) == pytest.approx(expected)


def test_bad_counts_are_refused_in_one_line():
    for bad in (torch.zeros(3), torch.tensor([1, -1])):
        with pytest.raises(TinyMTPError):
            entropy(bad)
    with pytest.raises(TinyMTPError):
        mutual_information(torch.ones(3))
    with pytest.raises(TinyMTPError):
        two_token_decomposition([1, 2], context=1)
    with pytest.raises(TinyMTPError):
        two_token_decomposition(list(range(10)), context=3)


def _brute_force(ids: list, context: int) -> dict:
    """The same quantities from Python dictionaries of probabilities, term by term."""
    from collections import Counter

    rows = [(tuple(ids[i : i + context]), ids[i + context], ids[i + context + 1]) for i in range(len(ids) - context - 1)]
    n = len(rows)
    joint = Counter(rows)
    cx, cy, cc = Counter((c, x) for c, x, _ in rows), Counter((c, y) for c, _, y in rows), Counter(c for c, _, _ in rows)
    h = lambda counts: -sum(k / n * math.log(k / n) for k in counts.values())  # noqa: E731
    info = sum(k / n * math.log(k * cc[c] / (cx[c, x] * cy[c, y])) for (c, x, y), k in joint.items())
    return {"H(X)": h(cx) - h(cc), "H(Y)": h(cy) - h(cc), "H(Y|X)": h(joint) - h(cx), "H(X|Y)": h(joint) - h(cy),
            "I(X;Y)": info}


@pytest.mark.parametrize("context", [0, 1, 2])
def test_decomposition_matches_a_brute_force_count_and_both_identities_hold(context):
    ids = torch.randint(0, 6, (400,), generator=torch.Generator().manual_seed(context))
    ids[1::3] = (ids[0::3][: ids[1::3].numel()] + 1) % 6  # some dependence between neighbours, so I > 0
    got = two_token_decomposition(ids, context=context)
    for name, value in _brute_force(ids.tolist(), context).items():
        assert got[name] == pytest.approx(value, abs=1e-9), name
    assert got["I(X;Y)"] > 0.05
    assert got["next_token_parts"] == pytest.approx(got["next_token_loss"], abs=1e-9)
    assert got["two_token_parts"] == pytest.approx(got["two_token_loss"], abs=1e-9)
    assert got["two_token_loss"] - got["next_token_loss"] == pytest.approx(got["I(X;Y)"], abs=1e-9)


def test_independent_tokens_carry_no_mutual_information():
    ids = torch.tensor([0, 1] * 200)  # X decides Y completely, but with context 1 X is already known
    assert two_token_decomposition(ids, context=1)["I(X;Y)"] == pytest.approx(0.0, abs=1e-12)
    pairs = torch.tensor([200, 199])  # without context: 200 pairs (0, 1) and 199 pairs (1, 0), so I = H(X)
    assert two_token_decomposition(ids, context=0)["I(X;Y)"] == pytest.approx(entropy(pairs), abs=1e-12)
