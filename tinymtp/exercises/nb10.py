"""The exercises of notebook 10_mtp_at_scale (notebooks/10_mtp_at_scale.py): right answers, hints, checks."""

from __future__ import annotations

import torch

from ..analysis.cost_model import predicted_speedup, roofline_time
from .kinds import CodeExercise, Exercise
from .nb08 import same_number

H200_BF16_DENSE_FLOPS = 989e12  # NVIDIA H200 datasheet: 1,979 TFLOPS BF16 with sparsity, half of it dense
H200_BYTES_PER_SECOND = 4.8e12  # NVIDIA H200 datasheet: 4.8 TB/s of HBM3e bandwidth


def forward_time(parameters: float, tokens: int, flops_per_second: float, bytes_per_second: float) -> float:
    """The roofline's time of one batch-1 forward, weights in 2 bytes (bf16): the library's answer."""
    return roofline_time(parameters, tokens, flops_per_second, bytes_per_second)["seconds"]


def _time_as_a_sum(parameters, tokens, flops_per_second, bytes_per_second) -> float:
    """The common slip: adding the two times, as if the chip could not read and compute at once."""
    return 2 * parameters * tokens / flops_per_second + 2 * parameters / bytes_per_second


def _chips_and_models(generator: torch.Generator) -> list[dict]:
    # memory-bound (batch 1, few tokens) and compute-bound (many tokens) cases, tiny to huge models
    cases = [{"parameters": 7e9, "tokens": 1, "flops_per_second": H200_BF16_DENSE_FLOPS,
              "bytes_per_second": H200_BYTES_PER_SECOND},
             {"parameters": 7e9, "tokens": 4096, "flops_per_second": H200_BF16_DENSE_FLOPS,
              "bytes_per_second": H200_BYTES_PER_SECOND}]
    for _ in range(8):
        parameters = float(10 ** (6 + 5 * torch.rand(1, generator=generator)))  # 1M .. 100B
        tokens = int(2 ** int(torch.randint(0, 13, (1,), generator=generator)))  # 1 .. 4096
        flops = float(10 ** (12 + 3 * torch.rand(1, generator=generator)))  # 1 .. 1000 TFLOP/s
        bandwidth = float(10 ** (10 + 2.7 * torch.rand(1, generator=generator)))  # 10 GB/s .. 5 TB/s
        cases.append({"parameters": parameters, "tokens": tokens, "flops_per_second": flops,
                      "bytes_per_second": bandwidth})
    return cases


def _relative(expected: float, got) -> bool:
    return same_number(expected / expected, float(got) / expected)  # seconds are tiny: compare relative


EXERCISES = {
    "10.predicted_speedup": Exercise(
        "A verifying round commits 3.2 tokens on average and costs 1.6 greedy steps: the predicted speed-up?",
        "speed-up = tokens per verifying round / (verifying round time / greedy step time)",
        lambda: predicted_speedup(3.2, 1.6), tolerance=0.01),
    "10.forward_time": CodeExercise(
        "Write forward_time(parameters, tokens, flops_per_second, bytes_per_second): the roofline's seconds "
        "for one batch-1 forward with 2-byte weights.",
        "flops = 2 x parameters x tokens, bytes = 2 x parameters (each weight read once); the time is the "
        "LARGER of flops / flops_per_second and bytes / bytes_per_second (reading and computing overlap)",
        reference=forward_time, cases=_chips_and_models, wrong=_time_as_a_sum, compare=_relative),
    "10.ridge_tokens": Exercise(
        "On an H200 (989 dense BF16 TFLOP/s, 4.8 TB/s), from how many tokens fed in one forward does a "
        "bf16 model stop being memory-bound?",
        "each token adds 2 flops per weight and a weight is 2 bytes, so the intensity is `tokens` flops per "
        "byte; it crosses the ridge point flops_per_second / bytes_per_second",
        lambda: H200_BF16_DENSE_FLOPS / H200_BYTES_PER_SECOND, tolerance=0.03),
}
