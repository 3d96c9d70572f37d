"""The speed-up cost model and the roofline (tinymtp/analysis/cost_model.py). No timed assertions: the
measurement is only checked to return sane, positive, consistent numbers."""

from __future__ import annotations

import pytest
import torch

from tinymtp.analysis.cost_model import (
    StepCosts,
    measure_step_costs,
    predicted_speedup,
    relative_error,
    roofline_cost_ratio,
    roofline_time,
)
from tinymtp.core.errors import TinyMTPError
from tinymtp.core.model import ModelConfig, MTPModel


def test_the_formula():
    assert predicted_speedup(3.2, 1.6) == pytest.approx(2.0)
    assert predicted_speedup(1.0, 1.0) == 1.0  # nothing accepted, verifying costs nothing extra: greedy's speed
    assert relative_error(2.1, 2.0) == pytest.approx(0.05)
    costs = StepCosts(heads=4, greedy_ms=0.5, verify_ms=0.8, cost_ratio=1.6, tokens_per_round=3.2,
                      greedy_steps=10, verify_rounds=4)
    assert costs.predicted_speedup == pytest.approx(2.0)
    for bad in ((0.5, 1.0), (2.0, 0.0), (2.0, -1.0)):
        with pytest.raises(TinyMTPError):
            predicted_speedup(*bad)
    with pytest.raises(TinyMTPError):
        relative_error(1.0, 0.0)


def test_roofline_memory_bound_at_batch_1_then_compute_bound():
    gpu = dict(flops_per_second=1e15, bytes_per_second=5e12)  # ridge: 200 flops per byte
    one = roofline_time(7e9, 1, **gpu)
    assert one["bound"] == "memory" and one["intensity"] == pytest.approx(1.0)  # 2 flops per 2-byte weight
    assert one["seconds"] == pytest.approx(7e9 * 2 / 5e12)
    assert one["ridge"] == pytest.approx(200)
    assert roofline_cost_ratio(7e9, 4, **gpu) == pytest.approx(1.0)  # 4 tokens: still reading weights
    assert roofline_time(7e9, 1000, **gpu)["bound"] == "compute"
    assert roofline_cost_ratio(7e9, 1000, **gpu) == pytest.approx(1000 / 200)
    with pytest.raises(TinyMTPError):
        roofline_time(7e9, 0, **gpu)


def test_measurement_on_a_micro_model_returns_sane_numbers():
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=12, context_length=32, d_model=16, n_layers=1, attn_heads=2, n_heads=3)
    model = MTPModel(cfg).eval()
    prompts = [[1, 2, 3, 4], [5, 6, 7]]
    costs = measure_step_costs(model, prompts, max_new_tokens=12, repeats=2)
    assert costs.heads == 3
    assert costs.greedy_ms > 0 and costs.verify_ms > 0 and costs.cost_ratio > 0
    assert 1 <= costs.tokens_per_round <= 3  # at most the sure token and 2 drafts per round
    assert costs.greedy_steps == 2 * 2 * 11  # 2 repeats x 2 prompts x (12 tokens - the prefill's one)
    assert costs.verify_rounds > 0
    assert costs.predicted_speedup == pytest.approx(costs.tokens_per_round / costs.cost_ratio)
    assert torch.get_num_threads() >= 1
    with pytest.raises(TinyMTPError):
        measure_step_costs(model, prompts, heads=5)
    with pytest.raises(TinyMTPError):
        measure_step_costs(model, [])
    with pytest.raises(TinyMTPError):
        measure_step_costs(model, prompts, max_new_tokens=1)


def test_round_cost_ratio_is_the_median_of_the_repeats_ratios_of_medians():
    from types import SimpleNamespace

    from tinymtp.analysis.cost_model import round_cost_ratio, step_seconds

    def trace(kind, seconds):  # a prefill round that must be left out, then the timed rounds
        rounds = [SimpleNamespace(kind="prefill", seconds=99.0)] + [SimpleNamespace(kind=kind, seconds=s) for s in seconds]
        return SimpleNamespace(rounds=rounds)

    greedy = [[trace("decode", [1.0, 1.0, 5.0])], [trace("decode", [2.0, 2.0])], [trace("decode", [1.0])]]
    verify = [[trace("verify", [3.0, 1.0, 2.0])], [trace("verify", [2.0, 4.0])], [trace("verify", [1.5])]]
    assert step_seconds(greedy[0], "decode") == [1.0, 1.0, 5.0]
    assert round_cost_ratio(greedy, verify) == pytest.approx(1.5)  # median of 2/1, 3/2, 1.5/1
    with pytest.raises(TinyMTPError, match="too small"):
        round_cost_ratio([[trace("decode", [])]], [[trace("verify", [1.0])]])
