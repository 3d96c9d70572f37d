"""Equal compute: the same wall-clock budget for every configuration, turned into step counts.

"Same wall-clock budget" is easy to say and hard to reproduce: train for M minutes and the
number of steps depends on whatever else the machine was doing. So the experiments do it in two
parts:

1. time a training step of every configuration with `train()` itself (so the batch sampling
   and bookkeeping around forward, backward and AdamW are counted too): a few steps of each in
   turn, in interleaved rounds (A B C A B C ...), the median of the per-step times, so a slow
   spell of the machine hits all of them alike;
2. give configuration i `steps_i = round(budget / step_time_i)` steps, and then train by steps,
   which is deterministic given the seed.

So `steps_i * step_time_i` equals the budget for every configuration, to within one step: that
is what "equal compute" means in every results file, which also records the seconds each run
really took and the tokens it saw (steps x batch x context).

A training curriculum (training/curriculum.py) changes a run's step time as heads join or leave
the loss: a step with heads 1..m in it costs what an m-head model's step costs. Such a
configuration's step time is the mean over its schedule, `sum_m share_m * step_time(m heads)`,
with every head count's step time measured in the same interleaved rounds.

`clock="cpu"` measures a step in CPU seconds of this process (time.process_time) instead of wall
seconds. With one thread per run that is what the step would take on an idle machine: on a shared
one the wall clock also counts the time spent waiting for a core, which comes and goes with the
other jobs (measured here under load: 0.81 s of wall clock for 0.32 s of CPU per step, and the
wall-clock ratio of two configurations off by a quarter), so a budget in CPU seconds is the one
that stays equal. The runs then record their CPU seconds too (`cpu_seconds`).
"""

from __future__ import annotations

import statistics
import time

from ..core.errors import TinyMTPError
from ..core.model import ModelConfig
from ..training.curriculum import stage_shares
from ..training.train import TrainConfig, train
from .runner import run_record, train_run

MEANING = ("equal wall-clock budget: each configuration's median step time was measured first "
           "(interleaved rounds of a few train() steps each, one process), and each run trained for "
           "round(budget / step time) steps, so steps x step time equals the budget to within one step; "
           "tokens = steps x batch x context")


def measure_step_times(configs: dict, corpus, batch_size: int, rounds: int = 3, steps_per_round: int = 5,
                       warmup: int = 2, learning_rate: float = 3e-3, threads: int | None = None,
                       clock: str = "wall") -> dict:
    """{label: ModelConfig} -> {label: median seconds per training step}, timed interleaved;
    `clock`: "wall" (seconds of the wall clock) or "cpu" (CPU seconds of this process)."""
    now = {"wall": lambda info: info.seconds, "cpu": lambda info: time.process_time()}[clock]
    if not configs:
        raise TinyMTPError("no configurations to time")
    samples = {label: [] for label in configs}
    total = warmup + steps_per_round
    for r in range(rounds):
        for label, model_config in configs.items():
            stamps = []  # seconds since the start of training, after each step
            train_config = TrainConfig(steps=total, batch_size=batch_size, learning_rate=learning_rate,
                                       eval_every=total + 1, eval_batches=1, seed=r, threads=threads)
            train(model_config, train_config, corpus, on_step=lambda info, stamps=stamps: stamps.append(now(info)))
            samples[label] += [b - a for a, b in zip(stamps[warmup - 1 :], stamps[warmup:])]
    return {label: statistics.median(s) for label, s in samples.items()}


def cost_key(model_config) -> str:
    """What a training step's cost depends on: the model's shape, not its loss weights."""
    return repr(sorted((k, v) for k, v in model_config.to_dict().items() if k != "loss_weights"))


def with_heads_in_loss(model_config, heads: int):
    """The m-head model whose step costs what a step with heads 1..m in the loss costs (head 1 of
    every head type is a linear head, so one sequential head is timed as one linear head)."""
    if heads == model_config.n_heads:
        return model_config
    head_type = "linear" if heads == 1 and model_config.head_type == "sequential" else model_config.head_type
    return ModelConfig(**{**model_config.to_dict(), "n_heads": heads, "head_type": head_type, "loss_weights": "equal"})


def plan_steps(budget_seconds: float, step_times: dict, min_steps: int = 1) -> dict:
    """{label: seconds per step} -> {label: steps} so that steps x step time ~ the budget for all."""
    if not budget_seconds > 0:
        raise TinyMTPError(f"the compute budget must be positive, got {budget_seconds}")
    return {label: max(min_steps, round(budget_seconds / t)) for label, t in step_times.items()}


def schedule_step_times(configs: dict, curricula: dict, corpus, batch_size: int, learning_rate: float,
                        settings, rounds: int | None = None, clock: str = "wall") -> tuple:
    """({label: seconds per step over its schedule}, {label: {m: seconds per step with m heads in the loss}}).

    Each cost is timed once (loss weights change what a step learns, not what it costs), every head
    count a curriculum passes through included, all in the same interleaved rounds."""
    shares = {label: stage_shares(curricula.get(label, "none"), cfg.n_heads) for label, (cfg, _) in configs.items()}
    timed = {}  # cost key -> (a label to time it under, the model config to time)
    for label, (cfg, _) in configs.items():
        for m in shares[label]:
            timed.setdefault(cost_key(with_heads_in_loss(cfg, m)), (f"{label}, {m} heads", with_heads_in_loss(cfg, m)))
    measured = measure_step_times(dict(timed.values()), corpus, batch_size, learning_rate=learning_rate,
                                  threads=settings.threads, rounds=rounds or (2 if settings.smoke else 3), clock=clock)
    by_heads = {label: {m: measured[timed[cost_key(with_heads_in_loss(cfg, m))][0]] for m in shares[label]}
                for label, (cfg, _) in configs.items()}
    # rounded as the results record them, so a run's steps are planned from the step time it records
    step_times = {label: round(sum(share * by_heads[label][m] for m, share in shares[label].items()), 6)
                  for label in configs}
    return step_times, by_heads


def train_at_equal_compute(configs: dict, corpus, settings, budget_seconds: float, progress,
                           batch_size: int = 32, learning_rate: float = 3e-3, after_run=None,
                           curricula: dict | None = None, timing_rounds: int | None = None,
                           clock: str = "wall") -> tuple:
    """Time every configuration, plan its steps, then train each one for every seed.

    configs: {label: (ModelConfig, {extra labels for the record})}; curricula: {label: curriculum}
    for the ones trained with a curriculum (the rest: none); timing_rounds: rounds of the step-time
    measurement (default 3, 2 in smoke mode); clock: "wall" or "cpu" seconds (see above). Runs go
    seed by seed, every configuration in turn, so a slow spell of the machine is shared. `after_run(label, result)`
    may return more numbers for the run's record (e.g. a decoding measurement of its model).
    Returns (plan, records): plan = {label: {"step_time_s", "steps", "compute_s"}}, with
    "step_time_by_heads" for a curriculum.
    """
    progress.set(what=f"timing {len(configs)} configurations")
    curricula = curricula or {}
    step_times, by_heads = schedule_step_times(configs, curricula, corpus, batch_size, learning_rate, settings,
                                               timing_rounds, clock)
    steps = plan_steps(budget_seconds, step_times)
    plan = {label: {"step_time_s": step_times[label], "steps": steps[label],
                    "compute_s": round(steps[label] * step_times[label], 3)} for label in configs}
    for label in curricula:
        plan[label]["step_time_by_heads"] = {str(m): round(t, 6) for m, t in by_heads[label].items()}
    progress.set(total=len(settings.seed_list) * sum(steps.values()))
    records = []
    for seed in settings.seed_list:
        for label, (model_config, labels) in configs.items():
            progress.set(what=f"{label}, seed {seed}")
            train_config = TrainConfig(steps=steps[label], batch_size=batch_size, learning_rate=learning_rate,
                                       eval_every=steps[label] + 1, seed=seed, threads=settings.threads,
                                       curriculum=curricula.get(label, "none"))
            cpu_started = time.process_time()
            result, _ = train_run(model_config, train_config, corpus, progress=progress)
            record = run_record(result, train_config, step_times[label], label=label, **labels)
            if clock == "cpu":  # the run's CPU seconds, its final evaluation included
                record["cpu_seconds"] = round(time.process_time() - cpu_started, 2)
            if after_run is not None:
                progress.set(what=f"{label}, seed {seed}: measuring")
                record.update(after_run(label, result))
            records.append(record)
    return plan, records
