"""Self-distillation of the heads: teach heads 2..n what the model itself would write.

A speculative decoder with exact greedy checking keeps head k's draft only when it equals the
token that greedy decoding (head 1, one token at a time) writes k steps on, not the token the
text has there. Training on the text teaches the wrong target wherever the model would write
something else. `distill(model, corpus, DistillConfig(...))` retrains heads 2..n on the model's
own target, for head k at position t (tinymtp/training/distill_targets.py): the token that greedy
decoding from x[0..t] writes at t+k (target="hard", for greedy speculative decoding), or head
1's distribution at that step (target="soft", a KL loss, for speculative sampling):
self-distillation, as Medusa-2 (Cai et al. 2024) and FastMTP (2025) train their draft heads on
the model's own outputs.

Two recipes. By default (the frozen recipe, Medusa-1's) the trunk, head 1, the shared final norm
and the shared unembedding are frozen (requires_grad False), so head 1's output, and with it
everything greedy decoding writes, stays bit-identical. With train_trunk (Medusa-2's joint
recipe) every parameter trains: loss = cross-entropy of head 1 to the text's next token +
drafting_weight * the mean of heads 2..n's distillation losses against the current model's
greedy targets (recomputed every step); the shared parts get learning_rate * trunk_lr_ratio.
Head 1 then changes, so its validation loss is reported before and after (in either recipe).
Causal heads read the greedy continuation as their tokens ahead: what they read while drafting
a run that the checker keeps.

While decoding, the heads read the model's own continuation, not the corpus: text="generated"
distills on windows that start with a short prompt of the text and go on with greedy's own
tokens (FastMTP fine-tunes on self-generated data for the same reason); text="sampled" goes on
with the model's own samples at temperature 1 instead, the text speculative sampling drafts on,
and its targets are read off the window itself (distill_targets.teacher_forced_losses; follow="text",
which also works on the corpus, a cheaper stand-in for the model's samples: no generation, and
windows as long as the context). In the joint recipe head 1 always learns the real text's next
token, from the real windows.

The defaults are the recipe of the shipped mtp-4head (README): the joint recipe, soft targets,
the trunk at a tenth of the rate, 1000 steps. Growing heads on a frozen trunk (`with_heads`,
`distill --heads`) is Medusa-1's order and passes train_trunk=False.

Left out: a teacher at a temperature other than 1 (sampled text is drawn at temperature 1 too),
and Medusa-2's per-head loss weights and heads-only warm-up. Explained in docs/usage.md, with what each recipe measured (notebook 06
measures the speed-up that head agreement buys).
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from ..core.errors import TinyMTPError
from ..data.corpora import Corpus, check_long_enough, make_batch, shift_targets
from ..decoding.batched import continue_rows
from .distill_targets import (
    greedy_agreement,
    greedy_path,
    greedy_targets,
    hard_losses,
    head_logits,
    sampling_agreement,
    soft_losses,
    teacher_forced_losses,
    teacher_log_probs,
)
from .evaluate import evaluate
from .loop import check_budget, run_loop

__all__ = ["DistillConfig", "DistillResult", "DistillStep", "distill", "distill_metadata", "generated_windows",
           "greedy_agreement", "greedy_targets", "head_scores", "held_out_windows", "parameter_groups"]


TEXTS = ("corpus", "generated", "sampled")


@dataclass
class DistillConfig:
    steps: int | None = None  # optimizer steps (the default when neither is given: 1000, the shipped recipe)
    minutes: float | None = None  # or: distill for this much wall-clock time
    batch_size: int = 8
    window: int = 32  # tokens per window; its greedy targets cost window * (window + n) tokens of forwards
    learning_rate: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 20
    eval_every: int = 50
    eval_windows: int = 16  # held-out windows of the validation text for the greedy agreement
    text: str = "corpus"  # "corpus": windows of the text; "generated" / "sampled": a prompt of it, then the
    # model's own greedy tokens / samples at temperature 1
    prompt_tokens: int = 8  # with text="generated": how much of each window is real text
    seed: int = 1337
    threads: int | None = None
    target: str = "soft"  # "hard": the model's token at t+k; "soft": head 1's distribution there (KL)
    follow: str | None = None  # whose continuation from t the targets follow: "greedy" (greedy decoding's,
    # what greedy speculative decoding checks) or "text" (the window's own, teacher-forced: what sampling
    # checks); default "text" for sampled text, "greedy" otherwise
    train_trunk: bool = True  # Medusa-2's joint recipe: every parameter trains, head 1 on the text
    drafting_weight: float = 1.0  # with train_trunk: weight of heads 2..n's mean loss beside head 1's
    trunk_lr_ratio: float = 0.1  # with train_trunk: the trunk, head 1, norm and unembedding get lr * this
    head1_eval_windows: int = 256  # validation windows for head 1's loss before and after (as train() scores it)

    def __post_init__(self):
        check_budget(self, default_steps=1000, positive=("batch_size", "window", "eval_every", "eval_windows",
                                                        "threads", "warmup_steps", "head1_eval_windows"))
        if self.text not in TEXTS:
            raise TinyMTPError(f"text must be {', '.join(TEXTS)}, got '{self.text}'")
        if not 0 < self.prompt_tokens < self.window:
            raise TinyMTPError(f"prompt_tokens must be between 1 and window - 1, got {self.prompt_tokens}")
        if self.follow is None:
            self.follow = "text" if self.text == "sampled" else "greedy"
        if self.follow not in ("greedy", "text"):
            raise TinyMTPError(f"follow must be greedy or text, got '{self.follow}'")
        if self.target not in ("hard", "soft"):
            raise TinyMTPError(f"target must be hard or soft, got '{self.target}'")
        if not self.drafting_weight >= 0:
            raise TinyMTPError(f"drafting_weight must not be negative, got {self.drafting_weight}")
        if not self.trunk_lr_ratio > 0:
            raise TinyMTPError(f"trunk_lr_ratio must be positive, got {self.trunk_lr_ratio}")


@dataclass
class DistillStep:
    step: int
    total_steps: int | None  # None when distilling for a number of minutes
    progress: float  # 0..1 of the schedule
    seconds: float
    learning_rate: float  # heads 2..n's (the trunk's is learning_rate * trunk_lr_ratio with train_trunk)
    loss: float  # the mean of heads 2..n's losses
    head_losses: list  # distillation loss of heads 2..n, head 2 first
    eval: dict | None = None  # set on evaluation steps: see head_scores()
    head1_loss: float | None = None  # with train_trunk: head 1's cross-entropy to the text


@dataclass
class DistillResult:
    model: object  # the distilled MTPModel (a copy; the model passed in is left as it was)
    steps: int
    seconds: float
    interrupted: bool
    history: dict = field(default_factory=dict)  # "train": [step, loss of head 2, ...], "eval": list
    final_agreement: list = field(default_factory=list)  # [{"head": k, "greedy_agreement": share, "kl": ...}]
    head1_val_loss_before: float | None = None  # head 1's validation loss before distilling
    head1_val_loss: float | None = None  # and after (equal in the frozen recipe)
    heads: list = field(default_factory=list)  # after: every head's val loss and accuracy on the text (evaluate)


def check_distill(model, corpus: Corpus, cfg: DistillConfig) -> int:
    """Every check before any work; returns the window length (at most the context minus n - 1)."""
    n = model.config.n_heads
    if n < 2:
        raise TinyMTPError("the checkpoint has 1 head: nothing to distill (distillation teaches heads 2..n)")
    if corpus.tokenizer.vocab_size != model.config.vocab_size:
        raise TinyMTPError(f"corpus '{corpus.name}' has {corpus.tokenizer.vocab_size} characters, the model "
                           f"{model.config.vocab_size}: use the corpus the checkpoint was trained on")
    window = min(cfg.window, model.config.context_length - (n - 1 if cfg.follow == "greedy" else 0))  # fits the context
    if window < 1:
        raise TinyMTPError(f"context length {model.config.context_length} is too short for {n} heads")
    check_long_enough(corpus, window, n)
    return window


def parameter_groups(model, cfg: DistillConfig) -> list:
    """The optimizer's groups, each with its share of the learning rate ("lr_scale").
    Frozen recipe: heads 2..n only, everything else requires_grad False. Joint recipe: every
    parameter, the shared parts (trunk, head 1, norm, unembedding) at trunk_lr_ratio."""
    drafting = [p for head in model.heads[1:] for p in head.parameters()]
    drafting_ids = {id(p) for p in drafting}
    shared = [p for p in model.parameters() if id(p) not in drafting_ids]
    for p in shared:
        p.requires_grad_(cfg.train_trunk)
    for p in drafting:
        p.requires_grad_(True)
    groups = [{"params": drafting, "lr_scale": 1.0}]
    return groups + [{"params": shared, "lr_scale": cfg.trunk_lr_ratio}] if cfg.train_trunk else groups


def generated_windows(model, x: torch.Tensor, cfg: DistillConfig, generator: torch.Generator | None) -> torch.Tensor:
    """Each window's first `prompt_tokens` tokens, then what the model writes after them (greedy for
    text="generated", samples at temperature 1 for "sampled"): the text the heads read while
    decoding. x (B, L) -> (B, L)."""
    prompt = x[:, : cfg.prompt_tokens]  # (B, p)
    ends = torch.full((x.size(0),), cfg.prompt_tokens - 1, device=x.device)  # (B,)
    temperature = 1.0 if cfg.text == "sampled" else 0.0
    more, _ = continue_rows(model, prompt, ends, x.size(1) - cfg.prompt_tokens, temperature, generator)
    return torch.cat([prompt, more], dim=1)  # (B, L)


def training_windows(model, data: torch.Tensor, cfg: DistillConfig, window: int, generator) -> tuple:
    """A batch to distill on: the windows the heads learn from x (B, L) (random windows of the
    text, or generated from them), and the real windows with their next tokens, (B, L) each, for
    head 1 in the joint recipe."""
    real, targets = make_batch(data, cfg.batch_size, window, model.n_heads, generator)  # (B, L), (B, L, n)
    x = real if cfg.text == "corpus" else generated_windows(model, real, cfg, generator)
    return x, real, targets[..., 0]  # (B, L), (B, L), (B, L)


def held_out_windows(model, val_data: torch.Tensor, window: int, count: int,
                     cfg: DistillConfig | None = None) -> torch.Tensor:
    """Evenly spaced windows of the validation text (B, L), generated from when cfg.text says so."""
    starts = torch.linspace(0, len(val_data) - window, count).long().unique()
    x = torch.stack([val_data[s : s + window] for s in starts.tolist()])  # (B, L)
    if cfg is None or cfg.text == "corpus":
        return x
    return generated_windows(model, x, cfg, torch.Generator().manual_seed(cfg.seed + 1))  # the same every time


def head_scores(model, x: torch.Tensor) -> list:
    """Heads 2..n on windows x (B, L): against the model's own greedy path, top-1 agreement with
    greedy's token and KL from head 1's distribution ("kl"); and, teacher-forced on x, how much of
    head 1's distribution head k's covers ("sampling_agreement"), one dict per head."""
    greedy, path = greedy_path(model, x)  # (B, L, n), (B, L, n, V)
    scores = greedy_agreement(model, x, greedy, teacher_log_probs(path))
    return [{**s, **a} for s, a in zip(scores, sampling_agreement(model, x))]


def drafting_losses(model, cfg: DistillConfig, x: torch.Tensor) -> tuple:
    """Every head's logits on the windows x (B, L, n, V) and heads 2..n's losses, head 2 first:
    against greedy's path from each position (follow greedy), or read off the window itself,
    teacher-forced (follow text: the model's own samples, or the corpus as a stand-in for them)."""
    if cfg.follow == "text":
        ahead = shift_targets(x, model.n_heads)[..., : model.n_heads - 1] if model.chained else None
        logits = model(x, ahead=ahead).logits  # (B, L, n, V): causal heads read the window's own tokens
        return logits, teacher_forced_losses(logits, x, cfg.target)
    greedy, path = greedy_path(model, x)  # (B, L, n), (B, L, n, V): from the model as it is now
    logits = head_logits(model, x, greedy)  # (B, L, n, V)
    losses = hard_losses(logits, greedy) if cfg.target == "hard" else soft_losses(logits, teacher_log_probs(path))
    return logits, losses


def distill_step(model, optimizer, cfg: DistillConfig, x: torch.Tensor, real: torch.Tensor,
                 next_tokens: torch.Tensor) -> tuple:
    """One optimizer step on windows x (B, L) (real: the text's windows, next_tokens their next
    tokens, for head 1 in the joint recipe); returns (heads 2..n's losses, head 1's loss or None)."""
    logits, losses = drafting_losses(model, cfg, x)
    loss = sum(losses) / len(losses)
    head1 = None
    if cfg.train_trunk:
        first = logits[:, :, 0] if x is real else model(real, heads=1).logits[:, :, 0]  # (B, L, V)
        head1 = F.cross_entropy(first.reshape(-1, first.size(-1)), next_tokens.reshape(-1))
        loss = head1 + cfg.drafting_weight * loss
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], 1.0)
    optimizer.step()
    return [round(float(v.detach()), 4) for v in losses], None if head1 is None else round(float(head1.detach()), 4)


def text_scores(model, val_data: torch.Tensor, cfg: DistillConfig) -> dict:
    """Every head's validation loss and accuracy on the text, as training scores them (evaluate)."""
    return evaluate(model, val_data, n_windows=cfg.head1_eval_windows)


def distill(model, corpus: Corpus, config: DistillConfig | None = None, on_step=None) -> DistillResult:
    """Distill a copy of `model`'s heads 2..n on `corpus`'s training text; `on_step(DistillStep)`
    is called after every step and stops the run by returning True (Ctrl-C stops it too)."""
    cfg = config or DistillConfig()
    window = check_distill(model, corpus, cfg)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model = copy.deepcopy(model).eval()  # no dropout: the greedy targets are the decoder's
    optimizer = torch.optim.AdamW(parameter_groups(model, cfg), lr=cfg.learning_rate, weight_decay=0.0)
    generator = torch.Generator().manual_seed(cfg.seed)
    device = next(model.parameters()).device
    train_data, val_data = corpus.tokens("train").to(device), corpus.tokens("val").to(device)
    scored = min(window, model.config.context_length - model.n_heads + 1)  # greedy's path must fit too
    held_out = held_out_windows(model, val_data, scored, cfg.eval_windows, cfg)  # (B, L)
    val_before = text_scores(model, val_data, cfg)["next_token_val_loss"]
    history = {"train": [], "eval": [{"step": 0, "heads": head_scores(model, held_out)}]}
    if cfg.train_trunk:
        history["head1_train"] = []  # [step, head 1's loss to the text]
    started = time.perf_counter()

    def one_step(step: int, progress: float, lr: float) -> DistillStep:  # the loop's step: loop.py
        losses, head1 = distill_step(model, optimizer, cfg, *training_windows(model, train_data, cfg, window, generator))
        history["train"].append([step + 1] + losses)
        if head1 is not None:
            history["head1_train"].append([step + 1, head1])
        evaluation = None
        if (step + 1) % cfg.eval_every == 0:
            evaluation = {"step": step + 1, "heads": head_scores(model, held_out)}
            history["eval"].append(evaluation)
        return DistillStep(step=step + 1, total_steps=cfg.steps, progress=progress,
                           seconds=time.perf_counter() - started, learning_rate=lr, loss=sum(losses) / len(losses),
                           head_losses=losses, eval=evaluation, head1_loss=head1)

    end = run_loop(cfg, optimizer, one_step, on_step)
    step, interrupted = end.steps, end.interrupted
    if history["eval"][-1]["step"] != step:
        history["eval"].append({"step": step, "heads": head_scores(model, held_out)})
    seconds, scores = time.perf_counter() - started, text_scores(model, val_data, cfg)
    return DistillResult(model=model, steps=step, seconds=seconds, interrupted=interrupted,
                         history=history, final_agreement=history["eval"][-1]["heads"],
                         head1_val_loss_before=val_before, head1_val_loss=scores["next_token_val_loss"],
                         heads=scores["heads"])


def distill_metadata(result: DistillResult, source: str, source_metadata: dict, cfg: DistillConfig) -> dict:
    """config.json's "metadata" for a distilled checkpoint: the source's training record (without
    its training curves, which described the old model) with every head's validation scores on
    the text measured anew (`heads`; with train_trunk head 1's validation loss too), and how it
    was distilled."""
    kept = {key: value for key, value in source_metadata.items() if key != "history"}
    if result.heads:  # head 1's score with them: grown heads change which positions have targets, so it moves
        kept["heads"], kept["next_token_val_loss"] = result.heads, result.heads[0]["val_loss"]
    if cfg.train_trunk:
        kept["next_token_val_loss"] = result.head1_val_loss
    return {**kept, "distilled": {
        "from": source, "steps": result.steps, "seconds": round(result.seconds, 2),
        "interrupted": result.interrupted, "config": asdict(cfg),
        "greedy_agreement_before": result.history["eval"][0]["heads"],
        "greedy_agreement": result.final_agreement,
        "head1_val_loss_before": result.head1_val_loss_before, "head1_val_loss": result.head1_val_loss,
        "history": result.history,
    }}
