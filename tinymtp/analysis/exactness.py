"""Is speculative sampling exact on a trained model? The second new token, counted against its exact law.

A speculative-sampling run's first new token comes from the prefill, a plain draw from head 1; the
second is the first one a head drafts, so it is where a wrong acceptance rule shows. Its exact
distribution under plain sampling can be computed: the sum over first tokens c of
p(c | prompt) x p(. | prompt, c) (`second_token_distribution`, with the decoders' own temperature
and top-k). `second_token_check` decodes 3 new tokens (so one token is drafted and checked) once
per seed, for each named sampler (plain sampling, exact speculative sampling, a rule that is not
exact), and reports the total variation distance between the counted second tokens and the exact
distribution after the first N runs, for growing N, beside what chance alone gives an exact sampler
after N draws (noise.chance_total_variation: the mean and the 99th percentile). An exact sampler's
distance shrinks like 1 / sqrt(N) and stays inside that band; a wrong rule's stops shrinking at its
bias. Left out: tokens after the second (their exact law needs a sum over every earlier token).
Explained in notebooks/07_speculative_sampling.ipynb.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..core.errors import TinyMTPError
from ..decoding.decode import decode_ids
from ..decoding.sampling import probabilities
from .noise import chance_total_variation, total_variation


def second_token_distribution(model, prompt_ids: list, temperature: float = 1.0, top_k: int | None = None) -> torch.Tensor:
    """(V,) float64: P(the second new token = v) under plain sampling from head 1."""
    if not temperature > 0:
        raise TinyMTPError(f"the second token's law is for sampling: temperature must be > 0, got {temperature}")
    with torch.no_grad():
        logits = model(torch.tensor([list(prompt_ids)]), heads=1).logits[0, -1, 0]  # (V,)
        first = probabilities(logits.double(), temperature, top_k)  # (V,): the first new token
        exact = torch.zeros_like(first)  # (V,)
        for c in first.nonzero().flatten().tolist():
            after = model(torch.tensor([list(prompt_ids) + [c]]), heads=1).logits[0, -1, 0]  # (V,)
            exact += first[c] * probabilities(after.double(), temperature, top_k)
    return exact


def second_token_counts(model, prompt_ids: list, settings, runs: int, draft_model=None) -> torch.Tensor:
    """(runs, ) long: the second new token of `runs` decodings of 3 new tokens, seeds 0..runs-1."""
    three = replace(settings, max_new_tokens=3)
    return torch.tensor([decode_ids(model, list(prompt_ids), replace(three, seed=seed), draft_model).tokens[1]
                         for seed in range(runs)])


def second_token_check(model, prompt_ids: list, samplers: dict, runs: int, steps: int = 4) -> dict:
    """Each sampler (name -> DecodeSettings at one temperature and top-k) decoded `runs` times.

    Returns {"exact": the (V,) law, "runs": [N1 < ... < runs] (`steps` of them, doubling up to runs),
    "distance": {name: [total variation after the first N runs, for each N]}, "chance": [{"mean",
    "p95", "p99"} for each N]}. Every sampler must use the same temperature and top-k."""
    if not samplers or runs < 1 or steps < 1:
        raise TinyMTPError("need at least one sampler, one run and one step")
    laws = {(s.temperature, s.top_k) for s in samplers.values()}
    if len(laws) != 1:
        raise TinyMTPError(f"every sampler must sample the same law (temperature, top-k), got {sorted(laws, key=str)}")
    temperature, top_k = laws.pop()
    exact = second_token_distribution(model, prompt_ids, temperature, top_k)
    sizes = sorted({max(1, runs >> (steps - 1 - i)) for i in range(steps)})  # runs / 2^k, doubling to runs
    distance = {}
    for name, settings in samplers.items():
        seen = second_token_counts(model, prompt_ids, settings, runs)
        distance[name] = [total_variation(torch.bincount(seen[:N], minlength=exact.numel()).double() / N, exact)
                          for N in sizes]
    chance = [chance_total_variation(exact, draws=N, repeats=1000) for N in sizes]
    return {"exact": exact, "runs": sizes, "distance": distance, "chance": chance}
