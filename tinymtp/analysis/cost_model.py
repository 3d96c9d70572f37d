"""The speed-up of self-speculative decoding as a cost model, and a roofline for why GPUs differ.

Greedy decoding commits one token per step. A verifying round of speculative decoding commits
`acceptance_length` tokens (the kept drafts plus head 1's own token) but costs more than a greedy
step, because it feeds K tokens and computes K heads. So

    speed-up  =  tokens per verifying round  /  (time of a verifying round / time of a greedy step)

and the tokens per verifying round follow from the acceptance rates: Leviathan et al.'s Theorem 3.8
for equal, independent rates (`expected_tokens_per_round`), or 1 + c2 + c2 c3 + ... from the
conditional rates a run measured (`tokens_per_round_from_rates`).

Both inputs are measured on the learner's machine, from the decoding loop itself: the per-round
wall times that the trace records, with the KV cache (`round_cost_ratio`; prefill rounds left
out). `bench decode` (speedup.py) applies it to the traces of its own run, one cost ratio per
draft length and drafter, and prints the prediction beside the measured speed-up;
`measure_step_costs` makes a run of its own for notebook 10. Medians are used for the step
times, since a busy machine adds rare long pauses. The prediction leaves out the prefill and the
context window's re-reads, which the measured speed-up includes.

Why is the cost ratio near 1 on a GPU and not on this CPU? The roofline: a forward at batch 1
reads every weight once (bytes = parameters x bytes per parameter) and does about 2 multiply-adds
per parameter per token fed (flops = 2 x parameters x tokens). Its time is at least the larger of
flops / (the chip's FLOP/s) and bytes / (its memory bandwidth). While flops / bytes, the
arithmetic intensity, stays under the chip's FLOP/s over bandwidth (the ridge point), reading the
weights dominates and feeding K tokens costs what feeding 1 does. The roofline leaves out the
KV cache's reads, kernel launch and per-operation overhead: a tiny model like ours is dominated by
that overhead, which is why its cost ratio is measured here, not computed (`fed_token_costs`: a
forward's time on this machine as more tokens are fed, the measured counterpart of the roofline).

Explained in notebooks/10_mtp_at_scale.ipynb.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from ..core.errors import TinyMTPError
from ..decoding.decode import decode_ids
from ..decoding.settings import DecodeSettings


def predicted_speedup(tokens_per_round: float, cost_ratio: float) -> float:
    """Speed-up over greedy decoding: tokens per verifying round / (verifying round time / greedy step time)."""
    if not tokens_per_round >= 1 or not cost_ratio > 0:
        raise TinyMTPError(f"need tokens per round >= 1 and a cost ratio > 0, got {tokens_per_round!r} and {cost_ratio!r}")
    return tokens_per_round / cost_ratio


def expected_tokens_per_round(acceptance: float, draft_len: int) -> float:
    """Leviathan et al. 2023, Theorem 3.8: a round of draft_len drafts, each kept with the same
    probability `acceptance` independently of the others, commits (1 - a^(draft_len + 1)) / (1 - a)
    tokens on average (the bonus or corrected token included); draft_len + 1 when a = 1."""
    if not 0 <= acceptance <= 1 or draft_len < 0:
        raise TinyMTPError(f"need an acceptance in [0, 1] and draft_len >= 0, got {acceptance!r} and {draft_len!r}")
    if acceptance == 1:
        return float(draft_len + 1)
    return (1 - acceptance ** (draft_len + 1)) / (1 - acceptance)


def tokens_per_round_from_rates(conditional: list) -> float:
    """The same without assuming equal rates: 1 + c2 + c2 c3 + ..., with c_k the conditional acceptance
    of the k-th draft (P(kept | every earlier draft of the round kept)); a None rate (never reached) ends it."""
    total, reached = 1.0, 1.0
    for rate in conditional:
        if rate is None:
            break
        reached *= rate
        total += reached
    return total


def relative_error(predicted: float, measured: float) -> float:
    """(predicted - measured) / measured: 0.05 means the prediction is 5% too high."""
    if not measured > 0:
        raise TinyMTPError(f"the measured value must be > 0, got {measured!r}")
    return (predicted - measured) / measured


def step_seconds(traces: list, kind: str) -> list:
    """Wall seconds of every round of `kind` ("decode": a greedy step, "verify": a verifying round,
    drafting included) in some decoding traces; the prefill rounds, which read the whole prompt, are left out."""
    return [r.seconds for t in traces for r in t.rounds if r.kind == kind]


def round_cost_ratio(greedy_repeats: list, verify_repeats: list) -> float:
    """How much a verifying round costs over a greedy step, from the same run's traces.

    greedy_repeats, verify_repeats: one list of traces per repeat (greedy, and the speculative mode).
    Each repeat gives a ratio of medians (verifying round / greedy step), and the cost ratio is the
    median of those, so a slow spell of a busy machine that hits one repeat does not decide it."""
    ratios = []
    for greedy, verify in zip(greedy_repeats, verify_repeats, strict=True):
        greedy_s, verify_s = step_seconds(greedy, "decode"), step_seconds(verify, "verify")
        if not greedy_s or not verify_s:
            raise TinyMTPError("max_new_tokens is too small: no greedy step or verifying round after the prefill")
        ratios.append(statistics.median(verify_s) / statistics.median(greedy_s))
    if not ratios:
        raise TinyMTPError("need at least one repeat to measure the cost of a round")
    return statistics.median(ratios)


@dataclass(frozen=True)
class StepCosts:
    """What one decoding step costs on this machine, measured in the decoding loop."""

    heads: int  # K: the verifying forward feeds K tokens (the sure token and K - 1 drafts)
    greedy_ms: float  # median wall time of a greedy step (1 token in, head 1 out)
    verify_ms: float  # median wall time of a verifying round (K tokens in, heads 1..K out, drafts checked)
    cost_ratio: float  # verifying round over greedy step: the median of the repeats' ratios
    tokens_per_round: float  # acceptance length: tokens a verifying round commits, bonus/corrected included
    greedy_steps: int  # how many steps of each kind were timed
    verify_rounds: int

    @property
    def predicted_speedup(self) -> float:
        return predicted_speedup(self.tokens_per_round, self.cost_ratio)


def measure_step_costs(model, prompts: list, heads: int | None = None, max_new_tokens: int = 128,
                       repeats: int = 3, threads: int | None = 1) -> StepCosts:
    """Decode every prompt (token ids) greedily and speculatively with `heads` heads (default: all),
    `repeats` times, interleaved; time every greedy step and every verifying round from the trace.

    Each repeat gives a ratio of medians (verifying round / greedy step), and the cost ratio is the
    median of those, so a slow spell of a busy machine that hits one repeat does not decide it. The
    prefill rounds (which read the whole prompt) are left out."""
    heads = heads or model.config.n_heads
    if not 2 <= heads <= model.config.n_heads:
        raise TinyMTPError(f"heads must be 2..{model.config.n_heads} for this model, got {heads}")
    if not prompts or repeats < 1:
        raise TinyMTPError("need at least one prompt and one repeat to measure")
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    greedy_runs, verify_runs = [], []  # one list of traces per repeat
    try:
        decode_ids(model, prompts[0], DecodeSettings("speculative", 16, draft_len=heads - 1))  # warm-up, not counted
        for _ in range(repeats):
            greedy_runs.append([])
            verify_runs.append([])
            for prompt in prompts:
                greedy_runs[-1].append(decode_ids(model, prompt, DecodeSettings("greedy", max_new_tokens)).trace)
                verify_runs[-1].append(decode_ids(model, prompt, DecodeSettings("speculative", max_new_tokens, draft_len=heads - 1)).trace)
    finally:
        torch.set_num_threads(old_threads)
    cost_ratio = round_cost_ratio(greedy_runs, verify_runs)
    greedy_s = step_seconds([t for rep in greedy_runs for t in rep], "decode")
    verify_s = step_seconds([t for rep in verify_runs for t in rep], "verify")
    committed = [len(r.committed) for rep in verify_runs for t in rep for r in t.rounds if r.kind == "verify"]
    return StepCosts(heads=heads, greedy_ms=1000 * statistics.median(greedy_s),
                     verify_ms=1000 * statistics.median(verify_s), cost_ratio=cost_ratio,
                     tokens_per_round=sum(committed) / len(committed), greedy_steps=len(greedy_s),
                     verify_rounds=len(verify_s))


def roofline_time(parameters: float, tokens: int, flops_per_second: float, bytes_per_second: float,
                  bytes_per_parameter: float = 2.0) -> dict:
    """The roofline's lower bound on one forward at batch 1 feeding `tokens` tokens.

    Returns flops, bytes, intensity (flops per byte), ridge (the chip's flops per byte), the
    two times (compute_s, memory_s), seconds (the larger) and bound ("memory" or "compute")."""
    if not (parameters > 0 and tokens >= 1 and flops_per_second > 0 and bytes_per_second > 0 and bytes_per_parameter > 0):
        raise TinyMTPError("the roofline needs positive parameters, FLOP/s, bandwidth and bytes per parameter, "
                           "and tokens >= 1")
    flops = 2.0 * parameters * tokens  # a multiply and an add per weight per token
    weight_bytes = parameters * bytes_per_parameter  # every weight read once per forward
    compute_s, memory_s = flops / flops_per_second, weight_bytes / bytes_per_second
    return {"flops": flops, "bytes": weight_bytes, "intensity": flops / weight_bytes,
            "ridge": flops_per_second / bytes_per_second, "compute_s": compute_s, "memory_s": memory_s,
            "seconds": max(compute_s, memory_s), "bound": "memory" if memory_s >= compute_s else "compute"}


def roofline_cost_ratio(parameters: float, tokens: int, flops_per_second: float, bytes_per_second: float,
                        bytes_per_parameter: float = 2.0) -> float:
    """The roofline's forward time feeding `tokens` tokens over feeding 1: the cost ratio a GPU
    approaches when nothing but weights and arithmetic matter."""
    time = lambda t: roofline_time(parameters, t, flops_per_second, bytes_per_second, bytes_per_parameter)["seconds"]  # noqa: E731
    return time(tokens) / time(1)


def fed_token_costs(model, tokens=(1, 2, 4, 8, 16, 32), calls: int = 20, repeats: int = 3,
                    threads: int | None = 1) -> dict:
    """What a forward costs on this machine as more tokens are fed: {T: milliseconds of one forward
    feeding T tokens (head 1 only) after a cache holding half the context}, medians of interleaved
    repeats, and "ratio": {T: that time over feeding 1 token}. The measured counterpart of
    roofline_cost_ratio (notebook 10 draws both)."""
    cfg = model.config
    tokens = sorted(set(tokens) | {1})
    filled = cfg.context_length // 2
    if tokens[-1] > cfg.context_length - filled or calls < 1 or repeats < 1:
        raise TinyMTPError(f"feeding up to {tokens[-1]} tokens after {filled} needs a context of "
                           f"{filled + tokens[-1]} (this model's is {cfg.context_length}); calls and repeats >= 1")
    device = next(model.parameters()).device
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    samples = {t: [] for t in tokens}
    try:
        cache = model.new_cache()
        with torch.inference_mode():
            model(torch.zeros(1, filled, dtype=torch.long, device=device), cache=cache, heads=1)
            for _ in range(repeats):  # interleaved, so a slow spell of a busy machine hits every T alike
                for t in tokens:
                    ids = torch.zeros(1, t, dtype=torch.long, device=device)  # (1, T)
                    started = time.perf_counter()
                    for _ in range(calls):
                        model(ids, cache=cache, heads=1)
                        cache.truncate(filled)
                    samples[t].append((time.perf_counter() - started) / calls * 1000)
    finally:
        torch.set_num_threads(old_threads)
    ms = {t: statistics.median(v) for t, v in samples.items()}
    return {"ms": ms, "ratio": {t: ms[t] / ms[1] for t in tokens}, "cache_length": filled}
