"""The exercises of notebook 02_trunk (notebooks/02_trunk.py): right answers, hints, checks."""

from __future__ import annotations

import math

import torch

from ..core.layers import causal_attention_weights
from .kinds import CodeExercise, Exercise, close


def _weights_unscaled(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The classic slip: no division by sqrt(hs), so the softmax comes out too sharp."""
    T = q.size(-2)
    scores = q @ k.transpose(-2, -1)  # (B, H, T, T)
    scores = scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), -math.inf)  # (B, H, T, T)
    return torch.softmax(scores, dim=-1)  # (B, H, T, T)


def _attention_cases(generator: torch.Generator) -> list[dict]:
    # small first, so a wrong function's message stays readable; then one attention head, one
    # position alone (its only weight is 1), a head size of 1, and sizes like the notebook's.
    cases = []
    for B, H, T, hs in [(1, 1, 3, 4), (2, 3, 5, 8), (1, 1, 1, 4), (1, 2, 6, 1), (2, 4, 8, 32), (3, 2, 12, 16)]:
        q = torch.randn(B, H, T, hs, generator=generator)  # (B, H, T, hs)
        k = torch.randn(B, H, T, hs, generator=generator)  # (B, H, T, hs)
        cases.append({"q": q, "k": k})
    return cases


EXERCISES = {
    "02.attention_weights": CodeExercise(
        "Write causal_attention_weights(q, k): (B, H, T, hs) queries and keys -> (B, H, T, T) weights.",
        "scores q @ k.transpose(-2, -1) / sqrt(hs); scores of keys s > t set to -inf; softmax over the last dimension",
        reference=causal_attention_weights, cases=_attention_cases, wrong=_weights_unscaled,
        compare=close(rtol=1e-5, atol=1e-6)),
    "02.scores_shape": Exercise(
        "Shape of the attention weights for B=2, T=5, 4 attention heads, d_model=32?",
        "(B, attention heads, queries T, keys T); the head size does not appear", lambda: (2, 4, 5, 5)),
    "02.qkv_parameters": Exercise(
        "How many parameters does attn.qkv hold for d_model=128 (no bias)?",
        "one d_model x d_model matrix each for queries, keys and values", lambda: 3 * 128 * 128),
    "02.allowed_pairs": Exercise(
        "With T=6, how many (query, key) pairs does the causal mask allow?",
        "query t sees keys 0..t, that is t + 1 keys", lambda: 21),
}
