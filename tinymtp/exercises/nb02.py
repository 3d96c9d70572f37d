"""The exercises of notebook 02_trunk (notebooks/02_trunk.py): right answers, hints, checks."""

from __future__ import annotations

from tinymtp.exercises.kinds import Exercise

EXERCISES = {
    "02.scores_shape": Exercise(
        "Shape of the attention scores for B=2, T=5, 4 attention heads, d_model=32?",
        "(B, attention heads, queries T, keys T); the head size does not appear", lambda: (2, 4, 5, 5)),
    "02.qkv_parameters": Exercise(
        "How many parameters does attn.qkv hold for d_model=128 (no bias)?",
        "one d_model x d_model matrix each for queries, keys and values", lambda: 3 * 128 * 128),
    "02.allowed_pairs": Exercise(
        "With T=6, how many (query, key) pairs does the causal mask allow?",
        "query t sees keys 0..t, that is t + 1 keys", lambda: 21),
}
