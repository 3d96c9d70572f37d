"""Training: `train(model_config, train_config, corpus, on_step=...)` -> TrainResult.

One function trains from Python, and three callers drive it: the CLI (a tqdm bar), the app (a
live loss chart and a Stop button) and the notebooks (a live plot). They all pass `on_step`,
called after every step with a `StepInfo`; returning True from it stops training early, and
Ctrl-C does the same, so both leave a usable model behind.

The recipe (every number a TrainConfig field): AdamW, linear warm-up then cosine decay to 10% of
the peak learning rate, gradient clipping at 1.0, and every `eval_every` steps an evaluation of
each head's validation loss and top-1 accuracy on fixed, evenly spaced windows of the validation
text. `train()` is a few named steps: `check_training` (every check, before any work), `restore`
(resuming), then per step `schedule_progress`, `learning_rate`, `make_batch` and `train_step`. With `steps` the
schedule runs over that many steps and the same seed on the same machine gives the same weights;
with `minutes` it runs over wall-clock time instead (convenient, not reproducible).

Explained in notebooks/04_training.ipynb.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import torch

from ..core.errors import TinyMTPError
from ..core.loss import check_memory_saving, memory_saving_backward
from ..core.model import ModelConfig, MTPModel
from ..data.corpora import Corpus, check_long_enough, make_batch
from .evaluate import evaluate
from .optimizer_state import optimizer_to_tensors, restore_optimizer


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


@dataclass
class TrainConfig:
    steps: int | None = None  # total optimizer steps (the default when neither is given: 800)
    minutes: float | None = None  # or: train for this much wall-clock time
    batch_size: int = 32
    learning_rate: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 50
    weight_decay: float = 0.1
    grad_clip: float = 1.0  # the largest gradient norm a step may use (longer gradients are scaled down)
    betas: tuple = (0.9, 0.99)  # AdamW's averaging rates for the gradient and its square
    eval_every: int = 100
    eval_batches: int = 8
    seed: int = 1337
    device: str = "cpu"
    memory_saving: bool = False  # Meta's head-by-head backward (same gradients, less memory)
    threads: int | None = None  # CPU threads for PyTorch (None: its default); part of reproducibility

    def __post_init__(self):
        check_budget(self, default_steps=800, positive=("batch_size", "eval_every", "eval_batches", "threads"))
        if not self.learning_rate > 0:
            raise TinyMTPError(f"learning rate must be positive, got {self.learning_rate}")
        if not self.grad_clip > 0:
            raise TinyMTPError(f"grad_clip must be a positive number, got {self.grad_clip}")


@dataclass
class StepInfo:
    step: int  # steps done so far
    total_steps: int | None  # None when training for a number of minutes
    progress: float  # 0..1 of the schedule
    seconds: float
    learning_rate: float
    loss: float  # the weighted combination
    head_losses: list  # training loss of each head, head 1 first
    eval: dict | None = None  # set on evaluation steps: see evaluate()


@dataclass
class TrainResult:
    model: MTPModel
    steps: int
    seconds: float
    interrupted: bool
    history: dict = field(default_factory=dict)  # "train": per-step head losses, "eval": list
    optimizer_tensors: dict | None = None
    final_eval: dict | None = None


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise TinyMTPError("--device cuda was asked for but no CUDA GPU is available (try --device auto)")
    if device not in ("cpu", "cuda"):
        raise TinyMTPError(f"unknown device '{device}' (choose auto, cpu or cuda)")
    return device


def check_training(model_config: ModelConfig, train_config: TrainConfig, corpus: Corpus) -> str:
    """Every check on the settings that can fail before a step runs; returns the device to train on.

    train() calls it first, so a bad setting is a one-line error before any work (and before a
    progress bar, which draws on the first step)."""
    device = resolve_device(train_config.device)
    check_long_enough(corpus, model_config.context_length, model_config.n_heads)
    if train_config.memory_saving:
        check_memory_saving(model_config)
    return device


def learning_rate(cfg: TrainConfig, step: int, progress: float) -> float:
    """Linear warm-up over `warmup_steps`, then cosine decay to min_lr_ratio * peak."""
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    floor = cfg.learning_rate * cfg.min_lr_ratio
    return floor + 0.5 * (cfg.learning_rate - floor) * (1 + math.cos(math.pi * min(progress, 1.0)))


def build_optimizer(model: MTPModel, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on norms and biases)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=tuple(cfg.betas))


def restore(resume, model: MTPModel, optimizer, generator: torch.Generator) -> tuple:
    """Load a checkpoint's weights, optimizer and batch generator to continue where it stopped.

    Returns (steps done, seconds spent, history) of the run so far; a fresh start without `resume`."""
    if resume is None:
        return 0, 0.0, {"train": [], "eval": []}
    model.load_state_dict(resume.model.state_dict())
    if resume.optimizer_tensors is None:
        raise TinyMTPError("the checkpoint to resume has no optimizer state (optimizer.safetensors)")
    restore_optimizer(optimizer, generator, resume.optimizer_tensors)
    history = resume.metadata.get("history", {"train": [], "eval": []})
    return int(resume.metadata.get("steps", 0)), float(resume.metadata.get("seconds", 0.0)), history


def schedule_progress(cfg: TrainConfig, step: int, elapsed: float) -> float | None:
    """How far through the schedule (0..1) the next step is, or None when training is done."""
    if cfg.steps is not None and step >= cfg.steps:
        return None
    if cfg.minutes is not None and elapsed >= cfg.minutes * 60:
        return None
    return step / cfg.steps if cfg.steps is not None else elapsed / (cfg.minutes * 60)


def train_step(model: MTPModel, optimizer, cfg: TrainConfig, x: torch.Tensor, targets: torch.Tensor) -> tuple:
    """One optimizer step on a batch: x (B, T), targets (B, T, n). Returns (loss, per-head losses)."""
    optimizer.zero_grad(set_to_none=True)
    if cfg.memory_saving:
        loss, losses = memory_saving_backward(model, x, targets)
    else:
        out = model(x, targets)
        out.loss.backward()
        loss, losses = out.loss, out.head_losses
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    return float(loss.detach()), [round(float(v.detach()), 4) for v in losses]


def train(model_config: ModelConfig, train_config: TrainConfig, corpus: Corpus, on_step=None,
          resume=None) -> TrainResult:
    """Train an MTP model on `corpus`; `resume` is a loaded Checkpoint (with its optimizer) to continue."""
    cfg = train_config
    device = check_training(model_config, cfg, corpus)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model = MTPModel(model_config).to(device)
    optimizer = build_optimizer(model, cfg)
    generator = torch.Generator().manual_seed(cfg.seed)
    step, start_seconds, history = restore(resume, model, optimizer, generator)
    train_data, val_data = corpus.tokens("train").to(device), corpus.tokens("val").to(device)
    n, T = model_config.n_heads, model_config.context_length
    interrupted, started = False, time.perf_counter()

    def seconds() -> float:  # the run's clock, earlier runs of a resumed model included
        return start_seconds + time.perf_counter() - started

    model.train()
    try:
        while (progress := schedule_progress(cfg, step, time.perf_counter() - started)) is not None:
            lr = learning_rate(cfg, step, progress)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x, targets = make_batch(train_data, cfg.batch_size, T, n, generator)  # (B, T), (B, T, n)
            loss, head_values = train_step(model, optimizer, cfg, x.to(device), targets.to(device))
            step += 1
            history["train"].append([step] + head_values)
            evaluation = None
            if step % cfg.eval_every == 0:
                evaluation = evaluate(model, val_data, cfg.eval_batches * cfg.batch_size)
                evaluation.update(step=step, seconds=round(seconds(), 2))
                history["eval"].append(evaluation)
                model.train()
            info = StepInfo(step, cfg.steps, progress, seconds(), lr, loss, head_values, evaluation)
            if on_step is not None and on_step(info):
                interrupted = True
                break
    except KeyboardInterrupt:
        interrupted = True
    model.eval()
    total = seconds()
    final = evaluate(model, val_data, cfg.eval_batches * cfg.batch_size)
    final.update(step=step, seconds=round(total, 2))
    if not history["eval"] or history["eval"][-1]["step"] != step:
        history["eval"].append(final)
    return TrainResult(model, step, total, interrupted, history, optimizer_to_tensors(optimizer, generator), final)


def training_metadata(result: TrainResult, corpus: Corpus, train_config: TrainConfig) -> dict:
    """What a checkpoint records about how it was made (config.json's "metadata")."""
    final = result.final_eval or {}
    return {
        "corpus": corpus.name,
        "steps": result.steps,
        "seconds": round(result.seconds, 2),
        "interrupted": result.interrupted,
        "seed": train_config.seed,
        "train_config": asdict(train_config),
        "next_token_val_loss": final.get("next_token_val_loss"),
        "heads": final.get("heads"),
        "history": result.history,
    }
