"""The training loop, once: the schedule, the learning rate, the callback and Ctrl-C.

Training (train.py) and self-distillation (distill.py) run the same loop and differ only in what
one step does:

    while the schedule is not done (a number of steps, or of minutes):
        progress = how far through the schedule this step is (0..1)
        lr = linear warm-up over warmup_steps, then cosine decay to min_lr_ratio * peak
        every optimizer group gets lr * its "lr_scale" (1 unless a caller sets it)
        info = one_step(step, progress, lr)          # the caller's work: a batch, a backward, a step
        on_step(info) returning True stops the run; so does Ctrl-C

`run_loop` returns how many steps ran, the seconds it took and whether it was stopped, so both
callers leave a usable model behind however the run ended. The schedule's numbers live in the
caller's config (TrainConfig, DistillConfig): `steps` or `minutes`, `learning_rate`,
`min_lr_ratio`, `warmup_steps`. Explained in notebooks/04_training.ipynb.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..core.errors import TinyMTPError


def check_budget(config, default_steps: int, positive: tuple) -> None:
    """A run's length and sizes, shared by TrainConfig and DistillConfig: `steps` (default
    `default_steps`) or `minutes`, and the named fields, must be positive (one-line errors)."""
    if config.steps is None and config.minutes is None:
        config.steps = default_steps
    if config.steps is not None and config.steps <= 0:
        raise TinyMTPError(f"--steps must be a positive number, got {config.steps}")
    if config.minutes is not None and not config.minutes > 0:
        raise TinyMTPError(f"--minutes must be a positive number, got {config.minutes}")
    for name in positive:
        if getattr(config, name) is not None and getattr(config, name) <= 0:
            raise TinyMTPError(f"{name} must be a positive number, got {getattr(config, name)}")
    if not config.learning_rate > 0:
        raise TinyMTPError(f"learning rate must be positive, got {config.learning_rate}")


def learning_rate(cfg, step: int, progress: float) -> float:
    """Linear warm-up over `warmup_steps`, then cosine decay to min_lr_ratio * peak."""
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    floor = cfg.learning_rate * cfg.min_lr_ratio
    return floor + 0.5 * (cfg.learning_rate - floor) * (1 + math.cos(math.pi * min(progress, 1.0)))


def schedule_progress(cfg, step: int, elapsed: float) -> float | None:
    """How far through the schedule (0..1) the next step is, or None when the run is done."""
    if cfg.steps is not None and step >= cfg.steps:
        return None
    if cfg.minutes is not None and elapsed >= cfg.minutes * 60:
        return None
    return step / cfg.steps if cfg.steps is not None else elapsed / (cfg.minutes * 60)


@dataclass
class LoopEnd:
    steps: int  # steps done, the ones before a resumed run included
    seconds: float  # wall-clock seconds of this run
    interrupted: bool  # stopped by on_step or Ctrl-C


def run_loop(cfg, optimizer, one_step: Callable, on_step: Callable | None = None, first_step: int = 0) -> LoopEnd:
    """Run `one_step(step, progress, lr) -> info` until `cfg`'s schedule ends; `on_step(info)` after
    each step (True stops the run). `first_step`: steps already done (a resumed run)."""
    step, interrupted, started = first_step, False, time.perf_counter()
    try:
        while (progress := schedule_progress(cfg, step, time.perf_counter() - started)) is not None:
            lr = learning_rate(cfg, step, progress)
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
            info = one_step(step, progress, lr)
            step += 1
            if on_step is not None and on_step(info):
                interrupted = True
                break
    except KeyboardInterrupt:
        interrupted = True
    return LoopEnd(step, time.perf_counter() - started, interrupted)
