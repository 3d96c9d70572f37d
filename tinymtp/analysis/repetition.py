"""How repetitive is a text? The share of its n-character pieces that are distinct.

Tokens per forward measures how predictable the decoded text is to the drafter, and repetitive
text is predictable: a model that loops keeps almost every draft, and prompt lookup, which
learns nothing, gains as much. So a recipe that raises tokens per forward should also show how
repetitive its greedy text became: `bench decode` prints this share for greedy's output, and
the `loss-weights` experiment records it per run. 1.0: every piece occurs once; near 0: a loop.
Explained in docs/usage.md (distill) and notebooks/06_self_speculative_decoding.ipynb.
"""

from __future__ import annotations


def distinct_ngram_share(tokens: list, n: int = 8) -> float | None:
    """Distinct n-grams / all n-grams of one token sequence; None when it is shorter than n."""
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


def mean_distinct_share(texts: list, n: int = 8) -> float | None:
    """The mean of distinct_ngram_share over several outputs (each counted on its own)."""
    shares = [s for s in (distinct_ngram_share(t, n) for t in texts) if s is not None]
    return round(sum(shares) / len(shares), 4) if shares else None
