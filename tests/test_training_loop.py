"""One training loop (tinymtp/training/loop.py) for training and distillation, and one training step
that `bench train` times."""

from __future__ import annotations

import pytest
import torch

import tinymtp.analysis.bench as bench
import tinymtp.training.distill as distill_module
import tinymtp.training.train as train_module
from tinymtp.core.model import ModelConfig
from tinymtp.data.corpora import load_corpus
from tinymtp.training.distill import DistillConfig
from tinymtp.training.loop import learning_rate, run_loop
from tinymtp.training.train import TrainConfig


class Schedule:
    def __init__(self, steps=None, minutes=None):
        self.steps, self.minutes = steps, minutes
        self.learning_rate, self.min_lr_ratio, self.warmup_steps = 1.0, 0.1, 2


def test_the_loop_follows_the_schedule_and_scales_each_group():
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([{"params": [weight]}, {"params": [torch.nn.Parameter(torch.zeros(1))],
                                                        "lr_scale": 0.1}], lr=0.0)
    seen = []
    end = run_loop(Schedule(steps=5), optimizer,
                   lambda step, progress, lr: seen.append((step, progress, lr, [g["lr"] for g in optimizer.param_groups])))
    assert end.steps == 5 and not end.interrupted
    assert [s[0] for s in seen] == [0, 1, 2, 3, 4] and [s[1] for s in seen] == [0, 0.2, 0.4, 0.6, 0.8]
    for step, progress, lr, lrs in seen:
        assert lr == learning_rate(Schedule(steps=5), step, progress)
        assert lrs == [lr, pytest.approx(lr * 0.1)]
    assert seen[0][2] == 0.5 and seen[1][2] == 1.0  # warm-up over two steps, then the cosine from the peak


def test_the_callback_and_ctrl_c_stop_the_loop_with_the_steps_done():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.0)
    end = run_loop(Schedule(steps=100), optimizer, lambda step, p, lr: step, on_step=lambda info: info == 3)
    assert end.steps == 4 and end.interrupted

    def interrupted_at_2(step, progress, lr):
        if step == 2:
            raise KeyboardInterrupt
        return step

    end = run_loop(Schedule(steps=100), optimizer, interrupted_at_2)
    assert end.steps == 2 and end.interrupted
    end = run_loop(Schedule(steps=5), optimizer, lambda step, p, lr: step, first_step=3)  # a resumed run
    assert end.steps == 5


def test_training_and_distillation_run_the_same_loop(monkeypatch):
    calls = []

    def counting(cfg, optimizer, one_step, on_step=None, first_step=0):
        calls.append(type(cfg).__name__)
        return loop_run(cfg, optimizer, one_step, on_step, first_step)

    loop_run = run_loop
    monkeypatch.setattr(train_module, "run_loop", counting)
    monkeypatch.setattr(distill_module, "run_loop", counting)
    corpus = load_corpus("stories")
    config = ModelConfig.from_preset("micro", vocab_size=corpus.tokenizer.vocab_size, n_heads=2)
    result = train_module.train(config, TrainConfig(steps=2, batch_size=2, eval_every=10, eval_batches=1), corpus)
    assert result.steps == 2
    distilled = distill_module.distill(result.model, corpus, DistillConfig(steps=2, batch_size=2, window=12,
                                                                           eval_every=10, eval_windows=2,
                                                                           head1_eval_windows=2))
    assert distilled.steps == 2
    assert calls == ["TrainConfig", "DistillConfig"]


def test_bench_train_times_the_step_train_runs(monkeypatch):
    calls = []
    real = train_module.train_step

    def counting(model, optimizer, cfg, x, targets):
        calls.append(targets.size(-1))
        return real(model, optimizer, cfg, x, targets)

    monkeypatch.setattr(bench, "train_step", counting)
    bench.measure_training_cost(preset="micro", head_types=("linear",), rounds=1, steps_per_round=1, warmup=1,
                                batch_size=2)
    assert sorted(calls) == [1, 1, 4, 4]  # warm-up and one timed step, for n = 1 and n = 4
