"""Shared by the statistical tests (tinymtp's exact sampler, transformers' sampler): the exact
distribution of the first few sampled tokens, computed from full forwards, and a chi-square test."""

from __future__ import annotations

import itertools
from collections import Counter

import torch
from scipy.stats import chisquare

from tinymtp.decoding.sampling import probabilities

V, PROMPT = 4, [0, 1]  # a 4-symbol random model continuing a 2-token prompt


def exact_distribution(model, temperature, top_k, length=3) -> dict:
    """P(first `length` tokens) under plain sampling from head 1, from full forwards."""
    dist = {}
    with torch.no_grad():
        for seq in itertools.product(range(V), repeat=length):
            prob, ids = 1.0, list(PROMPT)
            for token in seq:
                logits = model(torch.tensor([ids]), heads=1).logits[0, -1, 0]  # head 1 at the last position
                prob *= float(probabilities(logits, temperature, top_k)[token])
                ids.append(token)
            dist[seq] = prob
    return dist


def p_value(counts: Counter, dist: dict) -> float:
    """Chi-square goodness of fit, pooling the cells expected fewer than 5 times into one."""
    total = sum(counts.values())
    observed, expected, rest_o, rest_e = [], [], 0, 0.0
    for cell, prob in dist.items():
        if prob * total >= 5:
            observed.append(counts[cell])
            expected.append(prob * total)
        else:
            rest_o += counts[cell]
            rest_e += prob * total
    if rest_e > 0:
        observed.append(rest_o)
        expected.append(rest_e)
    return float(chisquare(observed, expected).pvalue)
