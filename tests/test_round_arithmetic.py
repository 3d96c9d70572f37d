"""Notebook 10's arithmetic (tinymtp/analysis/cost_model.py): tokens per round from acceptance rates
(Leviathan et al.'s Theorem 3.8 and its unequal-rates form), a forward's measured cost as more tokens
are fed, and the roofline figure (tinymtp/viz/roofline.py). No timed assertion: the measurement is
only held to sane, consistent numbers."""

from __future__ import annotations

import pytest
import torch

from tinymtp.analysis.cost_model import (
    expected_tokens_per_round,
    fed_token_costs,
    tokens_per_round_from_rates,
)
from tinymtp.core.errors import TinyMTPError
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.viz import roofline_figure


@pytest.mark.parametrize("acceptance, draft_len", [(0.0, 3), (0.5, 1), (0.8, 4), (0.9, 7), (1.0, 3), (0.3, 0)])
def test_theorem_3_8_is_the_geometric_sum_of_rounds_reaching_each_draft(acceptance, draft_len):
    # a round commits draft i (and goes on) when drafts 1..i were all kept: a^i; plus the one token it always adds
    assert expected_tokens_per_round(acceptance, draft_len) == pytest.approx(
        sum(acceptance ** i for i in range(draft_len + 1)))
    assert tokens_per_round_from_rates([acceptance] * draft_len) == pytest.approx(
        expected_tokens_per_round(acceptance, draft_len))


def test_theorem_3_8_matches_rounds_simulated_draft_by_draft():
    generator = torch.Generator().manual_seed(0)
    kept = torch.rand(200_000, 4, generator=generator) < 0.7  # (rounds, drafts): each kept with probability 0.7
    committed = 1 + kept.long().cumprod(dim=1).sum(dim=1)  # (rounds,): kept drafts up to the first rejection, + 1
    assert float(committed.double().mean()) == pytest.approx(expected_tokens_per_round(0.7, 4), abs=0.01)


def test_unequal_rates_multiply_and_a_position_never_reached_ends_the_sum():
    assert tokens_per_round_from_rates([0.8, 0.5, 0.25]) == pytest.approx(1 + 0.8 + 0.4 + 0.1)
    assert tokens_per_round_from_rates([0.8, None, 0.9]) == pytest.approx(1.8)
    assert tokens_per_round_from_rates([]) == 1.0


def test_impossible_rates_are_refused_in_one_line():
    for bad in ((1.2, 3), (-0.1, 3), (0.5, -1)):
        with pytest.raises(TinyMTPError, match="acceptance in"):
            expected_tokens_per_round(*bad)


def test_fed_token_costs_returns_one_time_per_token_count_and_leaves_the_threads_as_they_were():
    torch.manual_seed(0)
    model = MTPModel(ModelConfig(vocab_size=12, context_length=32, d_model=16, n_layers=1, attn_heads=2,
                                 n_heads=2)).eval()
    threads = torch.get_num_threads()
    costs = fed_token_costs(model, tokens=(4, 2, 8), calls=2, repeats=2, threads=1)
    assert torch.get_num_threads() == threads
    assert sorted(costs["ms"]) == [1, 2, 4, 8]  # 1 always measured: the ratios' denominator
    assert all(ms > 0 for ms in costs["ms"].values())
    assert costs["ratio"][1] == 1.0
    assert costs["ratio"][8] == pytest.approx(costs["ms"][8] / costs["ms"][1])
    assert costs["cache_length"] == 16
    with pytest.raises(TinyMTPError, match="context of 33"):
        fed_token_costs(model, tokens=(17,), calls=1, repeats=1)
    with pytest.raises(TinyMTPError):
        fed_token_costs(model, tokens=(2,), calls=0)


def test_the_roofline_figure_draws_the_bound_its_ridge_and_the_measurement():
    gpu = dict(flops_per_second=1e15, bytes_per_second=5e12)  # ridge: 200 flops per byte
    fig = roofline_figure(7e9, chip="a test chip", measured={1: 1.0, 4: 1.3, 2: 1.1}, **gpu)
    bound, measured = fig.data
    assert list(bound.y[:4]) == pytest.approx([1.0, 1.0, 1.0, 1.0])  # 1..8 tokens: reading the weights
    assert bound.y[-1] == pytest.approx(1024 / 200)  # past the ridge: the arithmetic
    assert list(measured.x) == [1, 2, 4] and list(measured.y) == [1.0, 1.1, 1.3]
    assert fig.layout.shapes[0].x0 == pytest.approx(200)
    assert len(roofline_figure(7e9, chip="no measurement", **gpu).data) == 1
