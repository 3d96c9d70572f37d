"""The exercises of notebook 04_training (notebooks/04_training.py): right answers, hints, checks.

The code exercise asks for the training loop itself: a function with `train()`'s signature that
returns the loss of every step. The check runs it and `train()` on small hidden runs (a micro model
on a slice of the stories corpus, 30 steps) and compares the two lists of losses: with the same
seed, the same batches and the same optimizer they agree to float rounding, and any slip (no
warm-up, no clipping, another batch order) shows up within a few steps.
"""

from __future__ import annotations

import torch

from ..core.model import ModelConfig, MTPModel
from ..data.corpora import Corpus, make_batch, stories_text
from ..training.train import TrainConfig, build_optimizer, train
from .kinds import CodeExercise, Exercise

LOOP_STEPS = 30  # the "same losses as train() for 30 steps"


_TRAINED: dict[str, list] = {}  # the check grades every attempt against the same hidden runs: train each once


def training_losses(model_config: ModelConfig, train_config: TrainConfig, corpus: Corpus) -> list:
    """The library's answer: the loss of every step of `train()` (the weighted sum over the heads)."""
    key = repr((model_config, train_config, corpus.name, corpus.text))
    if key not in _TRAINED:
        losses = []

        def keep(info) -> bool:
            losses.append(info.loss)
            return False

        with torch.random.fork_rng():  # train() seeds the global generator: leave the caller's alone
            train(model_config, train_config, corpus, on_step=keep)
        _TRAINED[key] = losses
    return list(_TRAINED[key])


def _loop_without_warmup(model_config: ModelConfig, train_config: TrainConfig, corpus: Corpus) -> list:
    """A plausible slip: the whole loop right, but the peak learning rate from step 0 (no schedule)."""
    cfg = train_config
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        model = MTPModel(model_config)
    optimizer = build_optimizer(model, cfg)
    generator = torch.Generator().manual_seed(cfg.seed)
    data = corpus.tokens("train")
    losses = []
    model.train()
    for _ in range(cfg.steps):
        x, targets = make_batch(data, cfg.batch_size, model_config.context_length, model_config.n_heads,
                                generator)  # (B, T), (B, T, n)
        optimizer.zero_grad(set_to_none=True)
        out = model(x, targets)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        losses.append(out.loss.item())
    return losses


def _loop_cases(generator: torch.Generator) -> list[dict]:
    # arguments in train()'s order (the check passes them by position). Two small runs: a warm-up shorter than the run, so the cosine part is checked too, and one
    # with clipping that bites (a tiny clip norm) and another seed; the corpus is a slice of the
    # stories, so each case takes well under a second
    text = stories_text(seed=int(torch.randint(0, 1000, (1,), generator=generator)), size=20_000)
    corpus = Corpus("hidden stories", text)
    V = corpus.tokenizer.vocab_size
    micro = ModelConfig.from_preset("micro", vocab_size=V, n_heads=3)
    return [
        {"model_config": micro,
         "train_config": TrainConfig(steps=LOOP_STEPS, batch_size=8, warmup_steps=10, eval_every=LOOP_STEPS,
                                     eval_batches=1, seed=0),
         "corpus": corpus},
        {"model_config": ModelConfig.from_preset("micro", vocab_size=V, n_heads=2, context_length=16),
         "train_config": TrainConfig(steps=LOOP_STEPS, batch_size=4, warmup_steps=5, learning_rate=1e-2,
                                     grad_clip=0.05, eval_every=LOOP_STEPS, eval_batches=1, seed=7),
         "corpus": corpus},
    ]


def same_losses(expected: list, got) -> bool:
    """Same number of steps, each loss within float rounding (a list or a 1-D tensor of numbers)."""
    got = torch.as_tensor([float(v) for v in got], dtype=torch.float64)
    expected = torch.tensor(expected, dtype=torch.float64)
    return got.shape == expected.shape and torch.allclose(got, expected, rtol=1e-5, atol=1e-6)


EXERCISES = {
    "04.first_learning_rate": Exercise(
        "The learning rate of the first step, with peak 3e-3 and 50 warm-up steps?",
        "warm-up grows linearly: step 0 uses peak * 1 / warmup_steps", lambda: 3e-3 / 50, 1e-6),
    "04.training_loop": CodeExercise(
        "Write my_train(model_config, train_config, corpus): train()'s loop, returning every step's loss.",
        "seed with torch.manual_seed(cfg.seed) before MTPModel, a Generator seeded with cfg.seed for make_batch, "
        "set every param group's lr to learning_rate(cfg, step, step / cfg.steps) before the step, clip to "
        "cfg.grad_clip after backward",
        reference=training_losses, cases=_loop_cases, wrong=_loop_without_warmup,
        compare=same_losses),
    "04.targets_per_step": Exercise(
        "How many target tokens does ONE step train on, over all 4 heads, with batch 32 and context 128?",
        "every position of every window has a target for every head: B * T * n", lambda: 32 * 128 * 4),
}
