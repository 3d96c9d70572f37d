"""Benchmarks: what do the extra heads cost in training? (`python -m tinymtp bench train`)

Training cost is measured as ratios inside one process, because these machines are small and
noisy: every configuration (n = 1 and n = 4 for each head type) is built once, warmed up, and
then timed in interleaved rounds (A B C ... A B C ...), so a slow spell of the machine hits all
of them alike. Reported per configuration: the median step time (forward + backward + AdamW
step on one batch) and tokens per second; and per head type the n=4 / n=1 step-time ratio.
`step_time_ratio` is that ratio for the default head type.

The decoding speed-up benchmark (`bench decode`) lives in bench_decode.py and speedup.py.
"""

from __future__ import annotations

import json
import statistics
import time

import torch

from ..core.config import HEAD_TYPES
from ..core.model import ModelConfig, MTPModel
from ..data.corpora import make_batch
from ..training.train import TrainConfig, build_optimizer, train_step
from .bench_decode import bench_decode

DEFAULT_HEAD_TYPE = ModelConfig().head_type


def measure_training_cost(preset: str = "tiny", head_types=HEAD_TYPES, heads=(1, 4), batch_size: int = 32,
                          rounds: int = 5, steps_per_round: int = 4, warmup: int = 3, vocab_size: int = 96,
                          on_progress=None) -> dict:
    """Median step time and tokens/s per (head type, n), timed in interleaved rounds."""
    torch.manual_seed(0)
    setups = {}
    for head_type in head_types:
        for n in heads:
            one_head = n == 1 and head_type == "sequential"  # head 1 of a sequential model is linear
            cfg = ModelConfig.from_preset(preset, vocab_size=vocab_size, n_heads=n,
                                          head_type="linear" if one_head else head_type)
            model = MTPModel(cfg)
            model.train()
            setups[(head_type, n)] = (model, build_optimizer(model, TrainConfig(steps=1)))  # train()'s own optimizer
    T = next(iter(setups.values()))[0].config.context_length
    data = torch.randint(0, vocab_size, (100_000,), generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    batch = make_batch(data, batch_size, T, max(heads), gen)  # the same batch for everyone
    times = {key: [] for key in setups}
    step_config = TrainConfig(steps=1, batch_size=batch_size)
    for key, (model, opt) in setups.items():
        n = key[1]
        for _ in range(warmup):
            train_step(model, opt, step_config, batch[0], batch[1][..., :n])
    for r in range(rounds):
        for key, (model, opt) in setups.items():
            n = key[1]
            start = time.perf_counter()
            for _ in range(steps_per_round):
                train_step(model, opt, step_config, batch[0], batch[1][..., :n])  # the step train() runs
            times[key].append((time.perf_counter() - start) / steps_per_round)
        if on_progress is not None:
            on_progress(r + 1, rounds)
    configs = []
    for (head_type, n), samples in times.items():
        step = statistics.median(samples)
        configs.append({"head_type": head_type, "n_heads": n, "step_time_s": round(step, 5),
                        "tokens_per_s": round(batch_size * T / step, 1),
                        "parameters": setups[(head_type, n)][0].num_parameters()})
    by_key = {(c["head_type"], c["n_heads"]): c for c in configs}
    ratios = {ht: round(by_key[(ht, max(heads))]["step_time_s"] / by_key[(ht, min(heads))]["step_time_s"], 3)
              for ht in head_types}
    return {
        "preset": preset, "batch_size": batch_size, "context_length": T, "rounds": rounds,
        "steps_per_round": steps_per_round, "threads": torch.get_num_threads(),
        "configs": configs, "ratio_per_head_type": ratios,
        "default_head_type": DEFAULT_HEAD_TYPE,
        "step_time_ratio": ratios.get(DEFAULT_HEAD_TYPE),
    }


def print_training_cost(result: dict) -> None:
    print(f"training step cost, preset {result['preset']}, batch {result['batch_size']} x context "
          f"{result['context_length']}, median of {result['rounds']} interleaved rounds, "
          f"{result['threads']} threads")
    print(f"{'head type':<10}{'n':>3}{'step ms':>10}{'tokens/s':>11}{'params':>10}")
    for c in result["configs"]:
        print(f"{c['head_type']:<10}{c['n_heads']:>3}{c['step_time_s'] * 1000:>10.1f}"
              f"{c['tokens_per_s']:>11.0f}{c['parameters']:>10}")
    for head_type, ratio in result["ratio_per_head_type"].items():
        marker = "  <- default" if head_type == result["default_head_type"] else ""
        print(f"n=4 / n=1 step time, {head_type}: {ratio:.3f}x{marker}")


def cmd_bench(args) -> int:
    if args.what == "decode":
        return bench_decode(args)
    quick = dict(rounds=2, steps_per_round=2, warmup=1, preset="micro") if args.quick else {}
    result = measure_training_cost(**quick)
    if args.json:
        print(json.dumps(result))
    else:
        print_training_cost(result)
    return 0
