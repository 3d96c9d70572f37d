"""Shared test helpers: a small trained checkpoint, a CLI runner, and paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import strategies as st

from tinymtp.core.config import HEAD_TYPES
from tinymtp.core.kvcache import KVCache
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.files.paths import checkpoints_dir

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = checkpoints_dir()  # the one place that says where (tinymtp/files/paths.py)


def run_cli(*args, timeout=300, cwd=None, env=None):
    """Run `python -m tinymtp ARGS` in a subprocess; returns CompletedProcess with text output."""
    return subprocess.run([sys.executable, "-m", "tinymtp", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or ROOT, env={**os.environ, **(env or {})})


def assert_one_line_error(proc, *words):
    """A user error: non-zero exit, exactly one line on stderr naming the problem, no traceback."""
    assert proc.returncode != 0, proc.stdout
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]


@pytest.fixture(scope="session")
def small_text_file(tmp_path_factory) -> Path:
    from tinymtp.data.corpora import stories_text

    path = tmp_path_factory.mktemp("corpus") / "stories.txt"
    path.write_text(stories_text(seed=1, size=40_000), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory, small_text_file) -> Path:
    """A micro 3-head model trained for a few steps, saved with its optimizer state."""
    from tinymtp.core.model import ModelConfig
    from tinymtp.data.corpora import load_corpus
    from tinymtp.files.checkpoint import save_checkpoint
    from tinymtp.training.train import TrainConfig, train, training_metadata

    corpus = load_corpus(str(small_text_file))
    model_config = ModelConfig.from_preset("micro", vocab_size=corpus.tokenizer.vocab_size, n_heads=3)
    train_config = TrainConfig(steps=20, batch_size=8, eval_every=10, eval_batches=2, seed=3)
    result = train(model_config, train_config, corpus)
    path = tmp_path_factory.mktemp("ckpt") / "micro3"
    save_checkpoint(str(path), result.model, corpus.tokenizer, training_metadata(result, corpus, train_config),
                    result.optimizer_tensors)
    return path


def random_model(vocab_size=6, n_heads=3, head_type="linear", context_length=16, seed=0, std=0.3):
    """A tiny float64 model with random weights everywhere (so the heads disagree with head 1).

    Large embeddings keep the text varied; smaller other weights keep the softmaxes from saturating.
    """
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=vocab_size, context_length=context_length, d_model=16, n_layers=1,
                      attn_heads=2, n_heads=n_heads, head_type=head_type)
    model = MTPModel(cfg).double().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.normal_(0.0, 1.0 if "embedding" in name else std)
    return model


@pytest.fixture(scope="module")
def one_thread():
    """One PyTorch thread for a module of many tiny forwards: a second thread only adds wake-up latency."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# One random decoding case for the property-based exactness tests (speculative and tree decoding):
# a float64 random model of any head type, contexts short enough that the window restarts.
DECODING_CASES = dict(head_type=st.sampled_from(HEAD_TYPES), n_heads=st.integers(1, 4),
                      vocab_size=st.integers(2, 7), context_length=st.integers(2, 16), seed=st.integers(0, 10_000),
                      prompt=st.lists(st.integers(0, 6), min_size=1, max_size=24),
                      max_new_tokens=st.integers(1, 48))


def greedy_case(head_type, n_heads, vocab_size, context_length, seed, prompt, max_new_tokens):
    """(model, prompt, plain greedy result) for one DECODING_CASES example."""
    from tinymtp.decoding.decode import decode_ids

    if head_type == "sequential":
        n_heads = max(n_heads, 2)  # a sequential model has heads 2..n that read the drafts: at least two
    model = random_model(vocab_size, n_heads, head_type, context_length, seed)
    prompt = [t % vocab_size for t in prompt]
    return model, prompt, decode_ids(model, prompt, DecodeSettings("greedy", max_new_tokens))


class PoisonedCache(KVCache):
    """Every slot a `truncate` or `keep` forgets becomes NaN: reading a rejected entry would show."""

    def keep(self, start, offsets):
        super().keep(start, offsets)
        self.keys[:, :, :, self.length :] = float("nan")
        self.values[:, :, :, self.length :] = float("nan")

    def truncate(self, length):
        super().truncate(length)
        self.keys[:, :, :, length:] = float("nan")
        self.values[:, :, :, length:] = float("nan")


def poison_forgotten_slots(model, monkeypatch) -> None:
    """Make `model.new_cache` hand out PoisonedCaches of the same shape."""
    original = model.new_cache

    def poisoned_cache(batch_size=1):
        c = original(batch_size)
        return PoisonedCache(c.keys.size(0), c.keys.size(2), c.keys.size(4), c.max_length, batch_size,
                             c.keys.dtype, c.keys.device)

    monkeypatch.setattr(model, "new_cache", poisoned_cache)
