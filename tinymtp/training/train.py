"""Training: `train(model_config, train_config, corpus, on_step=...)` -> TrainResult.

One function trains from Python, and three callers drive it: the CLI (a tqdm bar), the app (a
live loss chart and a Stop button) and the notebooks (a live plot). They all pass `on_step`,
called after every step with a `StepInfo`; returning True from it stops training early, and
Ctrl-C does the same, so both leave a usable model behind.

The recipe (every number a TrainConfig field): AdamW, linear warm-up then cosine decay to 10% of
the peak learning rate, gradient clipping at 1.0, and every `eval_every` steps an evaluation of
each head's validation loss and top-1 accuracy on fixed, evenly spaced windows of the validation
text; `curriculum` (curriculum.py: none, forward, reverse) says which heads are in each step's
loss, and a step runs only those. `train()` is a few named steps: `check_training` (every check,
before any work), `restore` (resuming), then the loop (loop.py, shared with distillation), whose
step here is `make_batch` and `train_step` (the one step `bench train` times too). With `steps` the
schedule runs over that many steps and the same seed on the same machine gives the same weights;
with `minutes` it runs over wall-clock time instead (convenient, not reproducible).
Under torchrun every process draws the same batch and trains on its share of the rows, and DDP
averages the gradients (distributed.py): the same steps as one process on the whole batch.

Explained in notebooks/04_training.ipynb.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch

from ..core.errors import TinyMTPError
from ..core.loss import check_memory_saving, head_weights, memory_saving_backward
from ..core.model import ModelConfig, MTPModel
from ..data.corpora import Corpus, check_long_enough, make_batch
from .curriculum import check_curriculum, check_curriculum_fits, heads_in_loss
from .distributed import ONE_PROCESS, Processes
from .evaluate import evaluate
from .loop import check_budget, run_loop
from .optimizer_state import optimizer_to_tensors, restore_optimizer


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
    curriculum: str = "none"  # which heads are in each step's loss: none, forward, reverse (curriculum.py)

    def __post_init__(self):
        check_budget(self, default_steps=800, positive=("batch_size", "eval_every", "eval_batches", "threads"))
        if not self.grad_clip > 0:
            raise TinyMTPError(f"grad_clip must be a positive number, got {self.grad_clip}")
        check_curriculum(self.curriculum)


@dataclass
class StepInfo:
    step: int  # steps done so far
    total_steps: int | None  # None when training for a number of minutes
    progress: float  # 0..1 of the schedule
    seconds: float
    learning_rate: float
    loss: float  # the weighted combination
    head_losses: list  # training loss of each head in the loss (all, or 1..m with a curriculum), head 1 first
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


def check_training(model_config: ModelConfig, train_config: TrainConfig, corpus: Corpus,
                   processes: Processes = ONE_PROCESS) -> str:
    """Every check on the settings that can fail before a step runs; returns the device to train on.

    train() calls it first, so a bad setting is a one-line error before any work (and before a
    progress bar, which draws on the first step)."""
    device = resolve_device(train_config.device)
    check_long_enough(corpus, model_config.context_length, model_config.n_heads)
    if train_config.memory_saving:
        check_memory_saving(model_config)
    check_curriculum_fits(train_config.curriculum, model_config.n_heads,
                          head_weights(model_config.loss_weights, model_config.n_heads)[0])
    processes.check(train_config.batch_size, train_config.minutes, device)  # torchrun: distributed.py
    return device


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


def train_step(model: MTPModel, optimizer, cfg: TrainConfig, x: torch.Tensor, targets: torch.Tensor,
               heads: int | None = None, processes: Processes = ONE_PROCESS) -> tuple:
    """One optimizer step on a batch: x (B, T), targets (B, T, n). Returns (loss, per-head losses).

    `heads`: only heads 1..heads are in the loss and run (a curriculum's step; default all); the
    others get no gradient, so AdamW leaves them as they are. Under torchrun `model` is DDP's
    wrapper and x is this process's rows; the losses returned are the means over the processes."""
    optimizer.zero_grad(set_to_none=True)  # None, not 0: a head out of the loss stays None and is skipped
    if cfg.memory_saving:
        loss, losses = memory_saving_backward(model, x, targets, heads)
        processes.average_gradients(model)  # this backward bypasses DDP, so the exchange is done here
    else:
        out = model(x, targets, heads=heads)
        out.loss.backward()
        loss, losses = out.loss, out.head_losses
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    values = processes.mean(torch.stack([loss, *losses]).detach()).tolist()  # (1 + heads,): the whole batch's
    return values[0], [round(v, 4) for v in values[1:]]


def train(model_config: ModelConfig, train_config: TrainConfig, corpus: Corpus, on_step=None,
          resume=None, processes: Processes = ONE_PROCESS) -> TrainResult:
    """Train an MTP model on `corpus`; `resume` is a loaded Checkpoint (with its optimizer) to continue.

    `processes`: under torchrun, which process this is (distributed.py); only process 0 evaluates,
    and the others' result has no evaluation."""
    cfg = train_config
    device = processes.start(check_training(model_config, cfg, corpus, processes))  # cuda:LOCAL_RANK under torchrun
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model = MTPModel(model_config).to(device)
    optimizer = build_optimizer(model, cfg)
    generator = torch.Generator().manual_seed(cfg.seed)
    step, start_seconds, history = restore(resume, model, optimizer, generator)
    learner = processes.wrap(model, cfg.memory_saving, cfg.curriculum)  # DDP under torchrun, else the model
    train_data, val_data = corpus.tokens("train").to(device), corpus.tokens("val").to(device)
    n, T = model_config.n_heads, model_config.context_length

    def one_step(step: int, progress: float, lr: float) -> StepInfo:  # the loop's step: loop.py
        processes.stop_together(device)  # torchrun: a Ctrl-C stops every process before the same step
        x, targets = make_batch(train_data, cfg.batch_size, T, n, generator)  # (B, T), (B, T, n): every process's
        x, targets = processes.my_rows(x), processes.my_rows(targets)  # (B/N, T), (B/N, T, n): this one's share
        heads = heads_in_loss(cfg.curriculum, n, progress)  # heads 1..heads are in this step's loss
        loss, head_values = train_step(learner, optimizer, cfg, x.to(device), targets.to(device), heads, processes)
        history["train"].append([step + 1] + head_values)
        evaluation = None
        if (step + 1) % cfg.eval_every == 0 and processes.main:
            evaluation = evaluate(model, val_data, cfg.eval_batches * cfg.batch_size)
            evaluation.update(step=step + 1, seconds=round(start_seconds + time.perf_counter() - started, 2))
            history["eval"].append(evaluation)
            model.train()
        return StepInfo(step + 1, cfg.steps, progress, start_seconds + time.perf_counter() - started, lr, loss,
                        head_values, evaluation)

    model.train()
    started = time.perf_counter()
    end = run_loop(cfg, optimizer, one_step, on_step, first_step=step)
    model.eval()
    total = start_seconds + end.seconds  # the run's clock, earlier runs of a resumed model included
    final = evaluate(model, val_data, cfg.eval_batches * cfg.batch_size) if processes.main else None
    if final is not None:
        final.update(step=end.steps, seconds=round(total, 2))
        if not history["eval"] or history["eval"][-1]["step"] != end.steps:
            history["eval"].append(final)
    return TrainResult(model, end.steps, total, end.interrupted, history, optimizer_to_tensors(optimizer, generator),
                       final)


def training_metadata(result: TrainResult, corpus: Corpus, train_config: TrainConfig) -> dict:
    """What a checkpoint records about how it was made (config.json's "metadata")."""
    final = result.final_eval or {}
    return {
        "corpus": corpus.name,
        "corpus_sha256": corpus.sha256,  # files/checkpoint.check_same_corpus compares it
        "steps": result.steps,
        "seconds": round(result.seconds, 2),
        "interrupted": result.interrupted,
        "seed": train_config.seed,
        "train_config": asdict(train_config),
        "next_token_val_loss": final.get("next_token_val_loss"),
        "heads": final.get("heads"),
        "history": result.history,
    }
