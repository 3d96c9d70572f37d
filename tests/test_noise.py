"""tinymtp/analysis/noise.py: the yardstick notebook 07 uses to judge sampled frequencies, against exact sums."""

from __future__ import annotations

import math

import pytest

from tinymtp.analysis.noise import chance_total_variation, total_variation
from tinymtp.core.errors import TinyMTPError


def test_total_variation():
    assert total_variation([0.5, 0.3, 0.2], [0.5, 0.3, 0.2]) == 0.0
    assert total_variation([1.0, 0.0], [0.0, 1.0]) == 1.0
    assert total_variation([0.5, 0.3, 0.2], [0.2, 0.6, 0.2]) == pytest.approx(0.3)
    with pytest.raises(TinyMTPError):
        total_variation([0.5, 0.5], [1.0])


def exact_mean_distance(p: float, draws: int) -> float:
    """E[TV] for two outcomes: X ~ Binomial(draws, p), TV = |X / draws - p|, summed exactly."""
    return sum(math.comb(draws, x) * p**x * (1 - p) ** (draws - x) * abs(x / draws - p) for x in range(draws + 1))


@pytest.mark.parametrize(("p", "draws"), [(0.5, 4), (0.3, 10), (0.9, 25)])
def test_chance_distance_matches_the_exact_binomial_sum(p, draws):
    simulated = chance_total_variation([p, 1 - p], draws, repeats=20_000, seed=1)
    assert simulated["mean"] == pytest.approx(exact_mean_distance(p, draws), abs=0.005)
    assert simulated["p99"] >= simulated["p95"] >= simulated["mean"]


def test_chance_distance_shrinks_like_one_over_root_n_and_is_seeded():
    p = [0.4, 0.3, 0.2, 0.1]
    small, large = chance_total_variation(p, 100, repeats=500), chance_total_variation(p, 10_000, repeats=500)
    assert large["mean"] == pytest.approx(small["mean"] / 10, rel=0.15)
    assert chance_total_variation(p, 100, seed=3) == chance_total_variation(p, 100, seed=3)


def test_bad_input_is_one_line_error():
    for p, draws in [([0.5, 0.6], 10), ([-0.1, 1.1], 10), ([0.5, 0.5], 0)]:
        with pytest.raises(TinyMTPError):
            chance_total_variation(p, draws)
