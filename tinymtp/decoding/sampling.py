"""Turning logits into choices: temperature, top-k, and the exact speculative-sampling rule.

Every decoding mode goes through these few functions, so "the distribution p of head 1" means
the same thing in plain sampling and in speculative sampling (same temperature, same top-k):

    probabilities(logits, temperature, top_k)   softmax(logits / T) over the k largest logits
    accept_exact(p_x, q_x, u)                   keep a draft x ~ q when u < min(1, p(x) / q(x))
    residual(p, q)                              norm(max(0, p - q)): where a rejected draft's
                                                replacement is drawn from (p when the sum is 0)

Why the rule is exact (Leviathan et al. 2023; Chen et al. 2023): a draft x ~ q survives with
probability min(q(x), p(x)); a rejection happens with probability sum_x max(0, q(x) - p(x)),
which equals sum_x max(0, p(x) - q(x)), and the replacement then adds exactly the missing mass
max(0, p(x) - q(x)). Together: p(x). Mind the letters: here p is always the main model (head 1)
and q the drafter; some papers swap them.

Left out on purpose: nucleus (top-p) sampling and Medusa's "typical acceptance" (not exact).
Explained in notebooks/07_speculative_sampling.ipynb.
"""

from __future__ import annotations

import torch


def probabilities(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None) -> torch.Tensor:
    """softmax(logits / temperature) over the top_k largest logits: (..., V) -> (..., V).

    temperature must be > 0 here (temperature 0 is greedy and never asks for a distribution).
    """
    logits = logits / temperature  # (..., V)
    if top_k is not None:
        logits = top_k_mask(logits, top_k)  # (..., V)
    return torch.softmax(logits, dim=-1)  # (..., V)


def top_k_mask(logits: torch.Tensor, top_k: int) -> torch.Tensor:
    """The logits with every one below the k-th largest set to -inf: (..., V) -> (..., V)."""
    if top_k >= logits.size(-1):
        return logits
    kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # the k-th largest: (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))  # (..., V)


def choose(logits: torch.Tensor, temperature: float, top_k: int | None,
           generator: torch.Generator | None) -> tuple[int, float]:
    """Head 1's pick from one row of logits (V,): (token, its probability).

    temperature 0: the argmax (its probability under the plain softmax); otherwise a sample
    from `probabilities`.
    """
    if temperature == 0:  # softmax then max, exactly as the greedy verifier does, so ties break alike
        prob, token = torch.softmax(logits, dim=-1).max(dim=-1)
        return int(token), float(prob)
    probs = probabilities(logits, temperature, top_k)  # (V,)
    token = sample(probs, generator)
    return token, float(probs[token])


def sample(probs: torch.Tensor, generator: torch.Generator) -> int:
    """One token drawn from a (V,) distribution."""
    return int(torch.multinomial(probs, 1, generator=generator))


def uniform(generator: torch.Generator) -> float:
    """One draw of u ~ Uniform[0, 1), from the same seeded generator as the samples."""
    return float(torch.rand((), generator=generator, dtype=torch.float64))


def accept_exact(p_x: float, q_x: float, u: float) -> bool:
    """Keep the draft x when u < min(1, p(x) / q(x)); q(x) > 0 because x was drawn from q."""
    return u * q_x < p_x  # the same test without dividing (u < 1 always, so the min is implied)


accept_exact.label = "u < min(1, p/q)"


def residual(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """norm(max(0, p - q)): the replacement distribution after a rejection; (V,) -> (V,).

    A zero sum means p <= q everywhere, i.e. p == q, where a rejection cannot happen; rounding
    can still get us here, and then p itself is the right distribution.
    """
    extra = torch.clamp(p - q, min=0)  # (V,)
    total = float(extra.sum())
    return extra / total if total > 0 else p
