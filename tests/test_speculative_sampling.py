"""Speculative sampling must sample from exactly head 1's distribution: a chi-square test.

A tiny random model (4 symbols, heads that disagree with head 1) generates its first three
tokens with many seeds; the counts are compared with the exact distribution
p(x1) p(x2 | x1) p(x3 | x1 x2) computed from full forward passes. The exact rule passes; a
deliberately wrong rule (keep a draft iff p >= q) must fail with a tiny p-value, which shows
the test can tell them apart. Seeds are fixed, so the outcome is deterministic.
"""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from sampling_checks import PROMPT, V, exact_distribution, p_value, random_model

from tinymtp.decoding.decode import decode_ids
from tinymtp.decoding.settings import DecodeSettings

RUNS = 2000


pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny forwards: see conftest.one_thread


def counts_of(model, mode, temperature, top_k, length=3, runs=RUNS, **kwargs) -> Counter:
    out = Counter()
    for seed in range(runs):
        draft = kwargs.get("draft_model")
        settings = DecodeSettings(mode, 4, temperature=temperature, top_k=top_k, seed=seed,
                                  **{k: v for k, v in kwargs.items() if k != "draft_model"})
        result = decode_ids(model, PROMPT, settings, draft)
        out[tuple(result.tokens[:length])] += 1
    return out



def keep_if_p_at_least_q(p_x, q_x, u):  # wrong: ignores u, so drafts are over-kept where p >= q
    return p_x >= q_x


@pytest.fixture(scope="module")
def mtp():
    model = random_model(n_heads=3, seed=11)
    with torch.no_grad():  # the heads really disagree with head 1 (otherwise every rule is right)
        logits = model(torch.tensor([PROMPT])).logits[0, -1]  # (n, V)
        assert (torch.softmax(logits[1], -1) - torch.softmax(logits[0], -1)).abs().max() > 0.1
    return model


@pytest.mark.slow  # thousands of seeded runs
@pytest.mark.parametrize("temperature,top_k", [(1.0, None), (0.8, 3)])
def test_speculative_sampling_matches_plain_sampling_distribution(mtp, temperature, top_k):
    dist = exact_distribution(mtp, temperature, top_k)
    counts = counts_of(mtp, "speculative-sample", temperature, top_k)
    assert p_value(counts, dist) > 0.01


@pytest.mark.slow  # thousands of seeded runs
def test_plain_sampling_matches_the_same_exact_distribution(mtp):  # checks the reference itself
    assert p_value(counts_of(mtp, "sample", 1.0, None), exact_distribution(mtp, 1.0, None)) > 0.01


@pytest.mark.slow  # thousands of seeded runs
def test_a_wrong_acceptance_rule_is_caught(mtp):
    counts = counts_of(mtp, "speculative-sample", 1.0, None, runs=800, accept_rule=keep_if_p_at_least_q)
    assert p_value(counts, exact_distribution(mtp, 1.0, None)) < 1e-6


@pytest.mark.slow  # thousands of seeded runs
def test_draft_model_sampling_matches_plain_sampling_distribution(mtp):
    draft = random_model(n_heads=1, seed=5)
    dist = exact_distribution(mtp, 1.0, None)
    counts = counts_of(mtp, "draft-model", 1.0, None, draft_len=2, draft_model=draft)
    assert p_value(counts, dist) > 0.01
    wrong = counts_of(mtp, "draft-model", 1.0, None, runs=800, draft_len=2, draft_model=draft,
                      accept_rule=keep_if_p_at_least_q)
    assert p_value(wrong, dist) < 1e-6


def test_speculative_sampling_is_reproducible_and_seeded(mtp):
    a = decode_ids(mtp, PROMPT, DecodeSettings("speculative-sample", 30, seed=1))
    b = decode_ids(mtp, PROMPT, DecodeSettings("speculative-sample", 30, seed=1))
    c = decode_ids(mtp, PROMPT, DecodeSettings("speculative-sample", 30, seed=2))
    assert a.tokens == b.tokens and len(a.tokens) == 30
    assert a.tokens != c.tokens
    checked = [ch for r in a.trace.rounds for ch in r.checks if ch.checked]
    assert checked and all(ch.uniform is not None and 0 <= ch.uniform < 1 for ch in checked)
    assert any(not ch.accepted for ch in checked)  # rejections happen, so the residual path runs


@pytest.mark.slow  # thousands of seeded runs
@pytest.mark.parametrize("head_type,temperature,top_k", [("causal", 1.0, None), ("sequential", 1.0, None),
                                                        ("sequential", 0.8, 3)])
def test_heads_reading_the_drafts_sample_exactly(head_type, temperature, top_k):
    """Causal and sequential heads draw each draft given the previous draft (q depends on it): still exact.
    Sequential drafts are Gumbel-max draws (sequential_drafts.py), so temperature and top-k are tested too."""
    model = random_model(n_heads=3, seed=11, head_type=head_type)
    dist = exact_distribution(model, temperature, top_k)
    counts = counts_of(model, "speculative-sample", temperature, top_k)
    assert p_value(counts, dist) > 0.01
    wrong = counts_of(model, "speculative-sample", temperature, top_k, runs=800, accept_rule=keep_if_p_at_least_q)
    assert p_value(wrong, dist) < 1e-6


@pytest.mark.slow  # thousands of seeded runs
def test_lookup_sampling_is_exact_and_a_wrong_rule_is_caught():
    """Prompt lookup's drafts have no distribution: q puts all its mass on the draft, so a draft is kept
    with probability p(draft) and a rejection draws from p without it. A repetitive prompt makes the
    lookup draft on every round, so the test sees its rule at work."""
    import itertools

    from scipy.stats import chisquare

    from tinymtp.decoding.sampling import probabilities

    model = random_model(n_heads=1, seed=3)
    prompt = [0, 1, 2, 0, 1, 2, 0, 1]
    dist = {}
    with torch.no_grad():
        for seq in itertools.product(range(V), repeat=3):  # the prefill's token, then a round with one draft
            prob, ids = 1.0, list(prompt)
            for token in seq:
                prob *= float(probabilities(model(torch.tensor([ids]), heads=1).logits[0, -1, 0], 1.0)[token])
                ids.append(token)
            dist[seq] = prob

    def counts(accept_rule=None, runs=RUNS):
        extra = {} if accept_rule is None else {"accept_rule": accept_rule}
        out = Counter(tuple(decode_ids(model, prompt, DecodeSettings("lookup-sample", 3, seed=s, draft_len=2,
                                                                     **extra)).tokens) for s in range(runs))
        cells = [c for c in dist if dist[c] * runs >= 5]  # pool the rare cells, as sampling_checks does
        rest_o, rest_e = runs - sum(out[c] for c in cells), runs - sum(dist[c] * runs for c in cells)
        return [out[c] for c in cells] + [rest_o], [dist[c] * runs for c in cells] + [rest_e]

    observed, expected = counts()
    assert chisquare(observed, expected).pvalue > 0.01
    observed, expected = counts(keep_if_p_at_least_q)  # p >= 1 never happens: every draft rejected
    assert chisquare(observed, expected).pvalue < 1e-6
    checks = [c for s in range(200) for r in decode_ids(model, prompt, DecodeSettings("lookup-sample", 3, seed=s,
                                                                                     draft_len=2)).trace.rounds
              for c in r.checks]
    assert len(checks) >= 20 and all(c.q == 1.0 for c in checks)  # the drafts' q: all the mass on each
    assert any(c.accepted for c in checks) and any(not c.accepted for c in checks)


def test_the_drawing_detail_changes_nothing_but_the_trace(mtp):
    """DecodeHooks(detail=False) (bench decode, generate without --trace): the same tokens and verdicts,
    no p/q tops or residual; with detail (the default) every checked sampling draft has them."""
    from tinymtp.decoding.settings import DecodeHooks
    settings = DecodeSettings("speculative-sample", 12, temperature=1.0, seed=5)
    full = decode_ids(mtp, PROMPT, settings)
    lean = decode_ids(mtp, PROMPT, settings, hooks=DecodeHooks(detail=False))
    assert lean.tokens == full.tokens
    pairs = [(a, b) for ra, rb in zip(full.trace.rounds, lean.trace.rounds) for a, b in zip(ra.checks, rb.checks)]
    assert pairs and all((a.accepted, a.verifier_token, a.p, a.q, a.uniform) == (b.accepted, b.verifier_token, b.p, b.q,
                         b.uniform) for a, b in pairs)
    assert all(b.top is None and b.residual_mass is None for _, b in pairs)
    assert all(a.top for a, _ in pairs if a.checked)
    assert any(a.residual_mass is not None for a, _ in pairs)  # a rejection happened and drew its residual
