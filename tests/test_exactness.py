"""Notebook 07's exactness check (tinymtp/analysis/exactness.py) and its figure (tinymtp/viz/exactness.py).

The second new token's exact law is checked against the joint law of the first three tokens
computed token by token from full forwards (tests/sampling_checks.py), summed over the first and
third; with top-k 1 it must be greedy's second token. The check itself runs a tiny random model
whose heads disagree with head 1: plain and exact speculative sampling land inside chance's band,
a rule with the letters swapped lands far outside it. Seeds are fixed, so the outcome is the same
on every run.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
import torch
from sampling_checks import PROMPT, V, exact_distribution

from tinymtp.analysis.exactness import second_token_check, second_token_counts, second_token_distribution
from tinymtp.core.errors import TinyMTPError
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.decoding.decode import decode_ids
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.viz import acceptance_by_temperature, exactness_figure

pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny forwards: see conftest.one_thread


def random_model(seed: int = 3) -> MTPModel:
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=V, context_length=16, d_model=8, n_layers=1, attn_heads=1, n_heads=3)
    model = MTPModel(cfg).double().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.normal_(0.0, 1.0 if "embedding" in name or "heads" in name else 0.3)
    return model


@pytest.mark.parametrize("temperature, top_k", [(1.0, None), (0.7, 3)])
def test_the_second_tokens_law_is_the_joint_law_summed_over_the_others(temperature, top_k):
    model = random_model()
    second = defaultdict(float)
    for (_, x2, _), prob in exact_distribution(model, temperature, top_k).items():
        second[x2] += prob
    law = second_token_distribution(model, PROMPT, temperature, top_k)
    assert law.shape == (V,) and law.dtype == torch.float64
    assert law.tolist() == pytest.approx([second[v] for v in range(V)], abs=1e-12)


def test_with_top_k_1_the_second_token_is_greedys():
    model = random_model()
    greedy = decode_ids(model, list(PROMPT), DecodeSettings("greedy", 2)).tokens
    law = second_token_distribution(model, PROMPT, temperature=1.0, top_k=1)
    assert law.tolist() == [1.0 if v == greedy[1] else 0.0 for v in range(V)]


def test_exact_samplers_land_inside_chances_band_and_the_swapped_rule_far_outside():
    model = random_model()
    law = dict(temperature=1.0)
    swapped = lambda p_x, q_x, u: u * p_x < q_x  # noqa: E731 (keep x when u < min(1, q/p))
    samplers = {"plain": DecodeSettings("sample", 3, **law), "exact": DecodeSettings("speculative-sample", 3, **law),
                "swapped": DecodeSettings("speculative-sample", 3, accept_rule=swapped, **law)}
    check = second_token_check(model, PROMPT, samplers, runs=400, steps=2)
    assert check["runs"] == [200, 400]
    assert float(check["exact"].sum()) == pytest.approx(1.0)
    assert [c["mean"] < c["p99"] for c in check["chance"]] == [True] * 2
    assert check["chance"][0]["p99"] > check["chance"][-1]["p99"]  # the band narrows as the runs grow
    band = check["chance"][-1]["p99"]
    assert check["distance"]["plain"][-1] < band
    assert check["distance"]["exact"][-1] < band
    assert check["distance"]["swapped"][-1] > 3 * band


def test_the_counts_are_each_seeds_second_token():
    model = random_model()
    settings = DecodeSettings("speculative-sample", 3, temperature=1.0)
    counts = second_token_counts(model, PROMPT, settings, runs=5)
    assert counts.tolist() == [decode_ids(model, list(PROMPT), DecodeSettings("speculative-sample", 3, temperature=1.0,
                                                                              seed=s)).tokens[1] for s in range(5)]


def test_bad_requests_are_refused_in_one_line():
    model = random_model()
    with pytest.raises(TinyMTPError, match="temperature must be > 0"):
        second_token_distribution(model, PROMPT, temperature=0)
    with pytest.raises(TinyMTPError, match="same law"):
        second_token_check(model, PROMPT, {"a": DecodeSettings("sample", 3, temperature=1.0),
                                           "b": DecodeSettings("sample", 3, temperature=0.5)}, runs=4)
    with pytest.raises(TinyMTPError):
        second_token_check(model, PROMPT, {}, runs=4)


def test_the_figures_draw_every_sampler_and_every_temperature():
    check = {"runs": [10, 20], "chance": [{"mean": 0.2, "p95": 0.3, "p99": 0.35}, {"mean": 0.14, "p95": 0.2, "p99": 0.25}],
             "distance": {"plain": [0.2, 0.15], "wrong": [0.5, 0.5]}}
    fig = exactness_figure(check)
    assert [t.name for t in fig.data][2:] == ["plain", "wrong"]
    assert list(fig.data[3].y) == [0.5, 0.5]
    sweep = {"sampled_sweep": [
        {"mode": "speculative-sample", "temperature": 1.0, "tokens_per_forward": 2.0, "standard_error": 0.1,
         "acceptance_conditional": [0.6, 0.5]},
        {"mode": "sample", "temperature": 1.0, "tokens_per_forward": 1.0, "acceptance_conditional": []},
        {"mode": "speculative-sample", "temperature": 0.5, "tokens_per_forward": 2.4, "standard_error": None,
         "acceptance_conditional": [0.7, 0.6]}],
        "modes": {"speculative": {"tokens_per_forward": 3.0}}}
    fig = acceptance_by_temperature(sweep)
    assert list(fig.data[0].x) == [0.5, 1.0] and list(fig.data[0].y) == [2.4, 2.0]  # sorted, plain sampling left out
    assert [t.name for t in fig.data[1:]] == ["head 2", "head 3"]
    assert list(fig.data[2].y) == [0.6, 0.5]
