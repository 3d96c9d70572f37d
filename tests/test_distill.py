"""Self-distillation (tinymtp/distill.py): head 1 never changes, heads 2..n come to agree with
greedy decoding on held-out text, speculative decoding stays exact, and the CLI writes safely."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import assert_one_line_error, run_cli

from tinymtp.checkpoint import load_checkpoint
from tinymtp.corpora import load_corpus
from tinymtp.decoding.decode import decode_ids
from tinymtp.distill import (
    DistillConfig,
    distill,
    generated_windows,
    greedy_agreement,
    greedy_targets,
    held_out_windows,
)
from tinymtp.errors import TinyMTPError
from tinymtp.model import ModelConfig, MTPModel


@pytest.fixture(scope="module")
def corpus(small_text_file):
    return load_corpus(str(small_text_file))


@pytest.fixture(scope="module")
def random_heads(trained_checkpoint):
    """The trained micro model with heads 2..n set back to random weights: a start to distill from."""
    model = load_checkpoint(str(trained_checkpoint)).model
    torch.manual_seed(5)
    with torch.no_grad():
        for head in model.heads[1:]:
            for p in head.parameters():
                p.normal_(0.0, 0.2)
    return model


def config(**overrides):
    return DistillConfig(**{"steps": 60, "batch_size": 8, "learning_rate": 3e-3, "warmup_steps": 5,
                            "eval_every": 30, "eval_windows": 8, "seed": 2, "threads": 1, **overrides})


@pytest.fixture(scope="module")
def distilled(random_heads, corpus):
    return distill(random_heads, corpus, config())


def test_greedy_targets_are_the_greedy_decoders_tokens(random_heads):
    x = torch.tensor([[3, 5, 7, 2, 9, 4], [1, 1, 2, 3, 5, 8]])  # (2, 6)
    targets = greedy_targets(random_heads, x)  # (2, 6, 3)
    for b in range(2):
        for t in range(6):
            expected = decode_ids(random_heads, x[b, : t + 1].tolist(), "greedy", 3).tokens
            assert targets[b, t].tolist() == expected


def test_head_1_and_the_trunk_are_bit_identical(random_heads, distilled, corpus):
    x = corpus.tokens("val")[:30][None]  # (1, 30)
    before, after = random_heads(x).logits, distilled.model(x).logits  # (1, 30, n, V) each
    assert torch.equal(before[:, :, 0], after[:, :, 0])
    assert not torch.equal(before[:, :, 1:], after[:, :, 1:])  # heads 2..n did train
    for name, p in random_heads.state_dict().items():
        if not name.startswith(("heads.1.", "heads.2.")):
            assert torch.equal(p, distilled.model.state_dict()[name]), name


def test_the_model_passed_in_is_left_alone(trained_checkpoint, corpus):
    model = load_checkpoint(str(trained_checkpoint)).model
    weights = copy.deepcopy(model.state_dict())
    distill(model, corpus, config(steps=3))
    assert all(torch.equal(weights[name], p) for name, p in model.state_dict().items())


def test_greedy_agreement_rises_on_held_out_windows(random_heads, distilled, corpus):
    x, greedy = held_out_windows(random_heads, corpus.tokens("val"), 30, 12)  # windows the run never saw
    before = [h["greedy_agreement"] for h in greedy_agreement(random_heads, x, greedy)]
    after = [h["greedy_agreement"] for h in greedy_agreement(distilled.model, x, greedy)]
    assert [h["head"] for h in distilled.final_agreement] == [2, 3]
    for head_before, head_after in zip(before, after):
        assert head_after > head_before + 0.15, (before, after)
    first, last = distilled.history["train"][0], distilled.history["train"][-1]
    assert last[1] < first[1] and last[2] < first[2]  # heads 2 and 3's losses fell


def test_speculative_decoding_still_equals_greedy(distilled, corpus):
    prompt = corpus.tokens("val")[:10].tolist()
    greedy = decode_ids(distilled.model, prompt, "greedy", 60).tokens
    assert decode_ids(distilled.model, prompt, "speculative", 60).tokens == greedy


def test_causal_heads_distill_and_stay_exact(corpus):
    torch.manual_seed(0)
    cfg = ModelConfig.from_preset("micro", vocab_size=corpus.tokenizer.vocab_size, n_heads=3, head_type="causal")
    result = distill(MTPModel(cfg), corpus, config(steps=30))
    before = result.history["eval"][0]["heads"]
    assert all(a["greedy_agreement"] > b["greedy_agreement"] for a, b in zip(result.final_agreement, before))
    prompt = corpus.tokens("val")[:10].tolist()
    assert (decode_ids(result.model, prompt, "speculative", 40).tokens
            == decode_ids(result.model, prompt, "greedy", 40).tokens)


def test_generated_windows_are_a_prompt_then_greedy_decoding(random_heads, corpus):
    x = corpus.tokens("val")[:60].view(2, 30)  # (2, 30)
    windows = generated_windows(random_heads, x, 8)  # (2, 30)
    for b in range(2):
        assert windows[b, :8].tolist() == x[b, :8].tolist()
        assert windows[b, 8:].tolist() == decode_ids(random_heads, x[b, :8].tolist(), "greedy", 22).tokens


def test_distilling_on_generated_text_raises_agreement_there(random_heads, corpus):
    result = distill(random_heads, corpus, config(text="generated", steps=40))
    before = result.history["eval"][0]["heads"]
    assert all(a["greedy_agreement"] > b["greedy_agreement"] + 0.1 for a, b in zip(result.final_agreement, before))
    x = corpus.tokens("val")[:30][None]  # (1, 30)
    assert torch.equal(random_heads(x).logits[:, :, 0], result.model(x).logits[:, :, 0])


def test_bad_settings_are_one_line_errors():
    with pytest.raises(TinyMTPError, match="text must be"):
        DistillConfig(text="poems")
    with pytest.raises(TinyMTPError, match="prompt_tokens"):
        DistillConfig(window=8, prompt_tokens=8)


def test_reproducible_with_a_seed(random_heads, corpus):
    a = distill(random_heads, corpus, config(steps=5))
    b = distill(random_heads, corpus, config(steps=5))
    assert a.history["train"] == b.history["train"]
    assert all(torch.equal(p, b.model.state_dict()[n]) for n, p in a.model.state_dict().items())


def test_one_head_model_has_nothing_to_distill(corpus):
    cfg = ModelConfig.from_preset("micro", vocab_size=corpus.tokenizer.vocab_size, n_heads=1)
    with pytest.raises(TinyMTPError, match="nothing to distill"):
        distill(MTPModel(cfg), corpus, config())


def test_cli_writes_a_loadable_checkpoint_and_refuses_to_replace_it(trained_checkpoint, tmp_path):
    out = tmp_path / "distilled"
    args = ["distill", "--checkpoint", trained_checkpoint, "--out", out, "--steps", "3", "--threads", "1", "--json"]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    loaded = load_checkpoint(str(out))
    assert loaded.metadata["distilled"]["from"] == str(trained_checkpoint)
    assert loaded.metadata["distilled"]["steps"] == 3
    written = (out / "model.safetensors").read_bytes()
    assert_one_line_error(run_cli(*args), "--overwrite")
    assert (out / "model.safetensors").read_bytes() == written
    assert run_cli(*args, "--overwrite").returncode == 0


def test_cli_refuses_a_one_head_checkpoint(tmp_path, corpus):
    from tinymtp.checkpoint import save_checkpoint

    cfg = ModelConfig.from_preset("micro", vocab_size=corpus.tokenizer.vocab_size, n_heads=1)
    save_checkpoint(str(tmp_path / "one"), MTPModel(cfg), corpus.tokenizer, {"corpus": corpus.name})
    proc = run_cli("distill", "--checkpoint", tmp_path / "one", "--out", tmp_path / "out", "--steps", "2")
    assert_one_line_error(proc, "nothing to distill")
    assert not (tmp_path / "out").exists()
