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
"""

from __future__ import annotations

import statistics

from ..core.errors import TinyMTPError
from ..training.train import TrainConfig, train
from .runner import run_record, train_run

MEANING = ("equal wall-clock budget: each configuration's median step time was measured first "
           "(interleaved rounds of a few train() steps each, one process), and each run trained for "
           "round(budget / step time) steps, so steps x step time equals the budget to within one step; "
           "tokens = steps x batch x context")


def measure_step_times(configs: dict, corpus, batch_size: int, rounds: int = 3, steps_per_round: int = 5,
                       warmup: int = 2, learning_rate: float = 3e-3, threads: int | None = None) -> dict:
    """{label: ModelConfig} -> {label: median seconds per training step}, timed interleaved."""
    if not configs:
        raise TinyMTPError("no configurations to time")
    samples = {label: [] for label in configs}
    total = warmup + steps_per_round
    for r in range(rounds):
        for label, model_config in configs.items():
            stamps = []  # seconds since the start of training, after each step
            train_config = TrainConfig(steps=total, batch_size=batch_size, learning_rate=learning_rate,
                                       eval_every=total + 1, eval_batches=1, seed=r, threads=threads)
            train(model_config, train_config, corpus, on_step=lambda info, stamps=stamps: stamps.append(info.seconds))
            samples[label] += [b - a for a, b in zip(stamps[warmup - 1 :], stamps[warmup:])]
    return {label: statistics.median(s) for label, s in samples.items()}


def cost_key(model_config) -> str:
    """What a training step's cost depends on: the model's shape, not its loss weights."""
    return repr(sorted((k, v) for k, v in model_config.to_dict().items() if k != "loss_weights"))


def plan_steps(budget_seconds: float, step_times: dict, min_steps: int = 1) -> dict:
    """{label: seconds per step} -> {label: steps} so that steps x step time ~ the budget for all."""
    if not budget_seconds > 0:
        raise TinyMTPError(f"the compute budget must be positive, got {budget_seconds}")
    return {label: max(min_steps, round(budget_seconds / t)) for label, t in step_times.items()}


def train_at_equal_compute(configs: dict, corpus, settings, budget_seconds: float, progress,
                           batch_size: int = 32, learning_rate: float = 3e-3, after_run=None) -> tuple:
    """Time every configuration, plan its steps, then train each one for every seed.

    configs: {label: (ModelConfig, {extra labels for the record})}. Runs go seed by seed, every
    configuration in turn, so a slow spell of the machine is shared. `after_run(label, result)`
    may return more numbers for the run's record (e.g. a decoding measurement of its model).
    Returns (plan, records): plan = {label: {"step_time_s", "steps", "compute_s"}}.
    """
    progress.set(what=f"timing {len(configs)} configurations")
    timed = {}  # one configuration per cost: loss weights change what a step learns, not what it costs
    for label, (cfg, _) in configs.items():
        timed.setdefault(cost_key(cfg), (label, cfg))
    measured = measure_step_times(dict(timed.values()), corpus, batch_size, learning_rate=learning_rate,
                                  threads=settings.threads, rounds=2 if settings.smoke else 3)
    # rounded as the results record them, so a run's steps are planned from the step time it records
    step_times = {label: round(measured[timed[cost_key(cfg)][0]], 6) for label, (cfg, _) in configs.items()}
    steps = plan_steps(budget_seconds, step_times)
    plan = {label: {"step_time_s": step_times[label], "steps": steps[label],
                    "compute_s": round(steps[label] * step_times[label], 3)} for label in configs}
    progress.set(total=len(settings.seed_list) * sum(steps.values()))
    records = []
    for seed in settings.seed_list:
        for label, (model_config, labels) in configs.items():
            progress.set(what=f"{label}, seed {seed}")
            train_config = TrainConfig(steps=steps[label], batch_size=batch_size, learning_rate=learning_rate,
                                       eval_every=steps[label] + 1, seed=seed, threads=settings.threads)
            result, _ = train_run(model_config, train_config, corpus, progress=progress)
            record = run_record(result, train_config, step_times[label], label=label, **labels)
            if after_run is not None:
                progress.set(what=f"{label}, seed {seed}: measuring")
                record.update(after_run(label, result))
            records.append(record)
    return plan, records
