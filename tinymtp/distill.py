"""Self-distillation of the heads: teach heads 2..n what the model itself would write.

A speculative decoder with exact greedy checking keeps head k's draft only when it equals the
token that greedy decoding (head 1, one token at a time) writes k steps on, not the token the
text has there. Training on the text teaches the wrong target wherever the model would write
something else. `distill(model, corpus, DistillConfig(...))` retrains heads 2..n on the model's
own target: for head k at position t, the token that greedy decoding from x[0..t] writes at t+k
(`greedy_continuations`, one batched pass per window): self-distillation, as Medusa-2 (Cai et
al. 2024) and FastMTP (2025) train their draft heads on the model's own outputs.

The trunk, head 1, the shared final norm and the shared unembedding are frozen (requires_grad
False), so head 1's output, and with it everything greedy decoding writes, stays bit-identical.
Causal heads read the greedy continuation as their tokens ahead: what they read while drafting
a run that the checker keeps.

While decoding, the heads read the model's own continuation, not the corpus: text="generated"
distills on windows that start with a short prompt of the text and go on with greedy's own
tokens (FastMTP fine-tunes on self-generated data for the same reason).

Left out: the soft (KL to the model's distribution) target for sampling, and distilling with an
unfrozen trunk (Medusa-2's joint recipe). Explained in docs/usage.md (notebook 06 measures the
speed-up that head agreement buys).
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from .analysis.predictions import greedy_continuations
from .corpora import Corpus, check_long_enough, make_batch
from .decoding.decode import decode_ids
from .errors import TinyMTPError
from .train import check_budget, learning_rate, schedule_progress


@dataclass
class DistillConfig:
    steps: int | None = None  # optimizer steps (the default when neither is given: 300)
    minutes: float | None = None  # or: distill for this much wall-clock time
    batch_size: int = 8
    window: int = 32  # tokens per window; its greedy targets cost window * (window + n) tokens of forwards
    learning_rate: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 20
    eval_every: int = 50
    eval_windows: int = 16  # held-out windows of the validation text for the greedy agreement
    text: str = "corpus"  # "corpus": windows of the text; "generated": a prompt of it, then greedy's own tokens
    prompt_tokens: int = 8  # with text="generated": how much of each window is real text
    seed: int = 1337
    threads: int | None = None

    def __post_init__(self):
        check_budget(self, default_steps=300,
                     positive=("batch_size", "window", "eval_every", "eval_windows", "threads", "warmup_steps"))
        if not self.learning_rate > 0:
            raise TinyMTPError(f"learning rate must be positive, got {self.learning_rate}")
        if self.text not in ("corpus", "generated"):
            raise TinyMTPError(f"text must be corpus or generated, got '{self.text}'")
        if not 0 < self.prompt_tokens < self.window:
            raise TinyMTPError(f"prompt_tokens must be between 1 and window - 1, got {self.prompt_tokens}")


@dataclass
class DistillStep:
    step: int
    total_steps: int | None  # None when distilling for a number of minutes
    progress: float  # 0..1 of the schedule
    seconds: float
    learning_rate: float
    loss: float  # the mean of heads 2..n's losses
    head_losses: list  # distillation loss of heads 2..n, head 2 first
    eval: dict | None = None  # set on evaluation steps: see greedy_agreement()


@dataclass
class DistillResult:
    model: object  # the distilled MTPModel (a copy; the model passed in is left as it was)
    steps: int
    seconds: float
    interrupted: bool
    history: dict = field(default_factory=dict)  # "train": [step, loss of head 2, ...], "eval": list
    final_agreement: list = field(default_factory=list)  # [{"head": k, "greedy_agreement": share}], k >= 2


def check_distill(model, corpus: Corpus, cfg: DistillConfig) -> int:
    """Every check before any work; returns the window length (at most the context minus n - 1)."""
    n = model.config.n_heads
    if n < 2:
        raise TinyMTPError("the checkpoint has 1 head: nothing to distill (distillation teaches heads 2..n)")
    if corpus.tokenizer.vocab_size != model.config.vocab_size:
        raise TinyMTPError(f"corpus '{corpus.name}' has {corpus.tokenizer.vocab_size} characters, the model "
                           f"{model.config.vocab_size}: use the corpus the checkpoint was trained on")
    window = min(cfg.window, model.config.context_length - n + 1)  # greedy continuations must fit the context
    if window < 1:
        raise TinyMTPError(f"context length {model.config.context_length} is too short for {n} heads")
    check_long_enough(corpus, window, n)
    return window


def freeze_all_but_drafting_heads(model) -> list:
    """requires_grad False everywhere but heads 2..n; returns their parameters."""
    for p in model.parameters():
        p.requires_grad_(False)
    params = [p for head in model.heads[1:] for p in head.parameters()]
    for p in params:
        p.requires_grad_(True)
    return params


def greedy_targets(model, x: torch.Tensor) -> torch.Tensor:
    """x (B, L) -> (B, L, n): [b, t, k-1] is the token greedy decoding from x[b, 0..t] writes at t+k."""
    return torch.stack([greedy_continuations(model, row.tolist(), model.n_heads) for row in x])  # (B, L, n)


def generated_windows(model, x: torch.Tensor, prompt_tokens: int) -> torch.Tensor:
    """Each window's first `prompt_tokens` tokens, then what greedy decoding writes after them:
    the text the heads read while decoding. x (B, L) -> (B, L)."""
    L = x.size(1)
    rows = [row[:prompt_tokens].tolist() for row in x]
    rows = [row + decode_ids(model, row, "greedy", L - prompt_tokens, keep_rounds=False).tokens for row in rows]
    return torch.tensor(rows, dtype=torch.long, device=x.device)  # (B, L)


def training_windows(model, data: torch.Tensor, cfg: DistillConfig, window: int, generator) -> torch.Tensor:
    """A batch of windows (B, L) to distill on: random windows of the text, or generated from them."""
    x, _ = make_batch(data, cfg.batch_size, window, model.n_heads, generator)  # (B, L)
    return generated_windows(model, x, cfg.prompt_tokens) if cfg.text == "generated" else x


def head_logits(model, x: torch.Tensor, greedy: torch.Tensor) -> torch.Tensor:
    """Every head's logits (B, L, n, V); causal heads read the greedy continuation as tokens ahead."""
    ahead = greedy[..., : model.n_heads - 1] if model.chained else None  # (B, L, n-1): x[t+1..t+n-1]
    return model(x, ahead=ahead).logits  # (B, L, n, V)


def distill_losses(logits: torch.Tensor, greedy: torch.Tensor) -> list:
    """Cross-entropy of heads 2..n against the greedy targets, one scalar per head, head 2 first."""
    V = logits.size(-1)
    return [F.cross_entropy(logits[:, :, k].reshape(-1, V), greedy[:, :, k].reshape(-1))
            for k in range(1, logits.size(2))]


def held_out_windows(model, val_data: torch.Tensor, window: int, count: int, cfg: DistillConfig | None = None) -> tuple:
    """Evenly spaced windows of the validation text (B, L), generated from when cfg.text says so,
    with their greedy targets (B, L, n)."""
    starts = torch.linspace(0, len(val_data) - window, count).long().unique()
    x = torch.stack([val_data[s : s + window] for s in starts.tolist()])  # (B, L)
    if cfg is not None and cfg.text == "generated":
        x = generated_windows(model, x, cfg.prompt_tokens)  # (B, L)
    return x, greedy_targets(model, x)


@torch.no_grad()
def greedy_agreement(model, x: torch.Tensor, greedy: torch.Tensor) -> list:
    """Per head k >= 2: the share of positions where head k's top guess is greedy's token at t+k."""
    guesses = head_logits(model, x, greedy).argmax(-1)  # (B, L, n)
    hits = (guesses == greedy).float().mean(dim=(0, 1))  # (n,)
    return [{"head": k + 1, "greedy_agreement": round(float(hits[k]), 4)} for k in range(1, model.n_heads)]


def distill_step(model, optimizer, params: list, x: torch.Tensor) -> list:
    """One optimizer step of heads 2..n on windows x (B, L); returns their losses."""
    greedy = greedy_targets(model, x)  # (B, L, n)
    losses = distill_losses(head_logits(model, x, greedy), greedy)
    optimizer.zero_grad(set_to_none=True)
    (sum(losses) / len(losses)).backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    return [round(float(v.detach()), 4) for v in losses]


def distill(model, corpus: Corpus, config: DistillConfig | None = None, on_step=None) -> DistillResult:
    """Distill a copy of `model`'s heads 2..n on `corpus`'s training text; `on_step(DistillStep)`
    is called after every step and stops the run by returning True (Ctrl-C stops it too)."""
    cfg = config or DistillConfig()
    window = check_distill(model, corpus, cfg)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model = copy.deepcopy(model).eval()  # no dropout: the greedy targets are the decoder's
    params = freeze_all_but_drafting_heads(model)
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
    generator = torch.Generator().manual_seed(cfg.seed)
    device = next(model.parameters()).device
    train_data = corpus.tokens("train").to(device)
    held_out = held_out_windows(model, corpus.tokens("val").to(device), window, cfg.eval_windows, cfg)
    history = {"train": [], "eval": [{"step": 0, "heads": greedy_agreement(model, *held_out)}]}
    step, interrupted, started = 0, False, time.perf_counter()
    try:
        while (progress := schedule_progress(cfg, step, time.perf_counter() - started)) is not None:
            lr = learning_rate(cfg, step, progress)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x = training_windows(model, train_data, cfg, window, generator)  # (B, L)
            losses = distill_step(model, optimizer, params, x)
            step += 1
            history["train"].append([step] + losses)
            evaluation = None
            if step % cfg.eval_every == 0:
                evaluation = {"step": step, "heads": greedy_agreement(model, *held_out)}
                history["eval"].append(evaluation)
            info = DistillStep(step, cfg.steps, progress, time.perf_counter() - started, lr,
                               sum(losses) / len(losses), losses, evaluation)
            if on_step is not None and on_step(info):
                interrupted = True
                break
    except KeyboardInterrupt:
        interrupted = True
    final = greedy_agreement(model, *held_out)
    if history["eval"][-1]["step"] != step:
        history["eval"].append({"step": step, "heads": final})
    return DistillResult(model, step, time.perf_counter() - started, interrupted, history, final)


def distill_metadata(result: DistillResult, source: str, source_metadata: dict, cfg: DistillConfig) -> dict:
    """config.json's "metadata" for a distilled checkpoint: the source's training record (without
    its per-head text scores, which described the old heads 2..n) and how it was distilled."""
    kept = {key: value for key, value in source_metadata.items() if key not in ("heads", "history")}
    return {**kept, "distilled": {
        "from": source, "steps": result.steps, "seconds": round(result.seconds, 2),
        "interrupted": result.interrupted, "config": asdict(cfg),
        "greedy_agreement_before": result.history["eval"][0]["heads"],
        "greedy_agreement": result.final_agreement, "history": result.history,
    }}
