"""Shared by the statistical tests (tinymtp's exact sampler, transformers' sampler): the exact
distribution of the first few sampled tokens, computed from full forwards, and a chi-square test."""

from __future__ import annotations

import itertools
from collections import Counter

import torch
from scipy.stats import chisquare

from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.decoding.sampling import probabilities

V, PROMPT = 4, [0, 1]  # a 4-symbol random model continuing a 2-token prompt


def random_model(n_heads: int, seed: int, head_type: str = "linear", vocab_size: int = V) -> MTPModel:
    """A tiny float64 model whose embeddings and heads are loud (std 1) and the rest quiet (0.3), so
    the heads' distributions differ from head 1's and sampling has something to correct."""
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=vocab_size, context_length=16, d_model=8, n_layers=1, attn_heads=1, n_heads=n_heads,
                      head_type=head_type)
    model = MTPModel(cfg).double().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.normal_(0.0, 1.0 if "embedding" in name or "heads" in name else 0.3)
    return model


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
