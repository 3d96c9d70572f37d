"""How far a counted distribution lands from the true one by chance alone.

Notebook 07 checks that speculative sampling is exact by sampling many times and comparing the
observed frequencies with the exact distribution. Even a perfect sampler misses by a little, so the
comparison needs a yardstick: `chance_total_variation` draws the same number of samples from the
exact distribution itself, many times over, and reports how far those land (the mean, and the
distances exceeded only one time in twenty and one time in a hundred). A sampler that lands within that distance is
consistent with being exact; a wrong rule sits further away, and stays there as the draws grow.

Explained in notebooks/07_speculative_sampling.ipynb.
"""

from __future__ import annotations

import torch

from ..core.errors import TinyMTPError


def total_variation(p, q) -> float:
    """Total variation distance between two distributions over the same outcomes: ½ Σ |p - q|."""
    p, q = torch.as_tensor(p, dtype=torch.float64), torch.as_tensor(q, dtype=torch.float64)  # (V,), (V,)
    if p.shape != q.shape:
        raise TinyMTPError(f"two distributions over different outcomes: {tuple(p.shape)} and {tuple(q.shape)}")
    return float(0.5 * (p - q).abs().sum())


def chance_total_variation(p, draws: int, repeats: int = 2000, seed: int = 0) -> dict:
    """The total variation between p and the frequencies of `draws` samples from p itself.

    Repeated `repeats` times: {"mean": the average distance, "p95" and "p99": the distances exceeded
    in only 5% and 1% of the repeats}."""
    p = torch.as_tensor(p, dtype=torch.float64)  # (V,)
    if draws < 1 or repeats < 1:
        raise TinyMTPError(f"draws and repeats must be at least 1, got {draws} and {repeats}")
    if (p < 0).any() or abs(float(p.sum()) - 1) > 1e-6:
        raise TinyMTPError("p must be a probability distribution (non-negative, summing to 1)")
    generator = torch.Generator().manual_seed(seed)
    samples = torch.multinomial(p.expand(repeats, -1), draws, replacement=True, generator=generator)  # (R, N)
    counts = torch.zeros(repeats, p.numel(), dtype=torch.float64)  # (R, V)
    counts.scatter_add_(1, samples, torch.ones_like(samples, dtype=torch.float64))
    distances = 0.5 * (counts / draws - p).abs().sum(dim=1)  # (R,)
    return {"mean": float(distances.mean()), "p95": float(distances.quantile(0.95)),
            "p99": float(distances.quantile(0.99))}
