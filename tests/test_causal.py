"""Causal (DeepSeek-V3) heads: the chain's causality, its step-by-step drafts, training, decoding."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import PoisonedCache, assert_one_line_error, random_model

import tinymtp.decoding.causal_drafts as causal_drafts
from tinymtp.core.errors import TinyMTPError
from tinymtp.core.loss import memory_saving_backward
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.data.corpora import shift_targets
from tinymtp.decoding.causal_drafts import ChainDrafter
from tinymtp.decoding.decode import decode_ids
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.decoding.window import SlidingWindow


def micro(n_heads=4, vocab_size=13):
    return MTPModel(ModelConfig.from_preset("micro", vocab_size=vocab_size, n_heads=n_heads,
                                            head_type="causal")).double().eval()


def test_head_k_sees_tokens_up_to_t_plus_k_minus_1_and_no_further():
    """Head k at position t predicts x[t+k] from x[..t] and x[t+k-1] (through the chain): changing
    x[s] leaves head k's logits at every t < s-k+1 unchanged, and does change them at t = s-k+1."""
    model = random_model(vocab_size=9, n_heads=4, head_type="causal", context_length=24, seed=3)
    x = torch.randint(0, 9, (1, 24))
    s = 15
    changed = x.clone()
    changed[0, s] = (changed[0, s] + 1) % 9
    before = model(x, ahead=shift_targets(x, 4)).logits  # (1, T, 4, V)
    after = model(changed, ahead=shift_targets(changed, 4)).logits
    for k in range(1, 5):
        first_seen = s - k + 1  # the first position whose head k reads x[s]
        assert torch.equal(before[0, :first_seen, k - 1], after[0, :first_seen, k - 1]), k
        assert not torch.allclose(before[0, first_seen, k - 1], after[0, first_seen, k - 1]), k


def test_causal_heads_need_the_tokens_ahead():
    model = micro()
    x = torch.randint(0, 13, (1, 8))
    assert model(x, heads=1).logits.shape == (1, 8, 1, 13)  # head 1 alone needs nothing more
    with pytest.raises(TinyMTPError, match="causal head"):
        model(x)
    assert model(x, shift_targets(x, 4)).logits.shape == (1, 8, 4, 13)  # targets double as the tokens ahead


def test_the_chain_starts_from_a_linear_head_1():
    assert [type(h).__name__ for h in micro().heads] == ["LinearHead"] + ["CausalHead"] * 3


def test_memory_saving_backward_refuses_causal_heads():
    model = micro()
    x = torch.randint(0, 13, (2, 8))
    with pytest.raises(TinyMTPError, match="causal"):
        memory_saving_backward(model, x, shift_targets(x, 4))


@pytest.mark.parametrize("context_length", [9, 40])
def test_step_by_step_drafts_equal_a_full_forward_over_the_chain(context_length):
    """The drafter's incremental caches give the same drafts as the whole model run on the
    committed text followed by the drafts, teacher-forced: round after round, window restarts too."""
    model = random_model(vocab_size=5, n_heads=4, head_type="causal", context_length=context_length, seed=11)
    tokens = torch.randint(0, 5, (60,), generator=torch.Generator().manual_seed(2)).tolist()
    drafter, window = ChainDrafter(model, 3), SlidingWindow(model, heads=1)
    p, checked = 2, 0
    with torch.inference_mode():
        while p + 4 < len(tokens):
            window.truncate(min(window.end, p + 1))
            drafter.record(window, window.feed(tokens, p + 1))
            count = min(3, window.last_position(p + 1) - (p + 1))
            drafts, q = drafter.guess(tokens, p, count, 0.0, None, None)
            chain = tokens[: p + 2] + drafts + [0] * (3 - count)  # heads past `count` are not compared
            start = window.start
            x = torch.tensor([chain[start : p + 1]])  # the window up to position p: (1, L)
            ahead = torch.tensor([[chain[t + j + 1] for j in range(3)] for t in range(start, p + 1)])[None]  # (1, L, 3)
            full = model(x, ahead=ahead).logits[0, -1]  # (4, V): every head at position p
            assert drafts == full[1 : count + 1].argmax(-1).tolist(), p
            checked += count
            p += 1 + (p % 3)  # accept a varying number of tokens per round
    assert checked > 20


@pytest.mark.parametrize("context_length", [10, 32])
def test_speculative_with_causal_heads_equals_greedy_and_forgets_provisional_entries(context_length, monkeypatch):
    model = random_model(vocab_size=4, n_heads=4, head_type="causal", context_length=context_length, seed=3)
    greedy = decode_ids(model, [1, 2, 3], DecodeSettings("greedy", 80))
    plain = decode_ids(model, [1, 2, 3], DecodeSettings("speculative", 80))
    monkeypatch.setattr(causal_drafts, "KVCache", PoisonedCache)  # reading a forgotten entry gives NaN drafts
    poisoned = decode_ids(model, [1, 2, 3], DecodeSettings("speculative", 80))
    assert plain.tokens == greedy.tokens == poisoned.tokens
    assert [r.checks for r in plain.trace.rounds] == [r.checks for r in poisoned.trace.rounds]  # same drafts
    assert sum(r.accepted for r in plain.trace.rounds) > 0


def test_every_mode_runs_on_a_causal_model():
    model = random_model(vocab_size=5, n_heads=3, head_type="causal", context_length=12, seed=2)
    draft = random_model(vocab_size=5, n_heads=1, head_type="linear", context_length=12, seed=4)
    for mode in ("greedy", "sample", "speculative", "speculative-sample", "draft-model"):
        result = decode_ids(model, [0, 1], DecodeSettings(mode, 30, temperature=0.9, seed=1), draft_model=draft)
        assert len(result.tokens) == 30, mode
        json.dumps(result.trace.to_dict())


def test_causal_cli_train_generate_and_eval(tmp_path, small_text_file, cli):
    out = tmp_path / "causal"
    proc = cli("train", "--corpus", small_text_file, "--out", out, "--heads", 3, "--head-type", "causal",
               "--preset", "micro", "--steps", 30, "--threads", 1)
    assert proc.returncode == 0, proc.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["head_type"] == "causal"
    proc = cli("generate", "--checkpoint", out, "--prompt", "Tom ", "--mode", "speculative", "--json",
               "--max-new-tokens", 20)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["tokens"]) == 20
    proc = cli("eval", "--checkpoint", out, "--corpus", small_text_file, "--json")
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["heads"]) == 3
    bad = cli("train", "--corpus", small_text_file, "--out", tmp_path / "x", "--head-type", "causal",
              "--memory-saving", "--steps", 2, "--preset", "micro")
    assert_one_line_error(bad, "causal")
    assert not (tmp_path / "x").exists()


def test_head_predictions_feed_causal_heads_the_text_then_head_1s_continuation():
    from tinymtp.analysis.predictions import head_predictions, tokens_ahead
    from tinymtp.data.tokenizer import CharTokenizer

    greedy = torch.tensor([[7, 8, 9], [7, 8, 9], [7, 8, 9], [7, 8, 9]])  # (T=4, n=3)
    assert tokens_ahead([1, 2, 3, 4], greedy).tolist() == [[2, 3], [3, 4], [4, 8], [7, 8]]
    tokenizer = CharTokenizer.from_text("abcde")
    model = random_model(vocab_size=tokenizer.vocab_size, n_heads=3, head_type="causal", context_length=16, seed=1)
    pred = head_predictions(model, tokenizer, "abcabd", top_k=2)
    assert len(pred.top_tokens) == 6 and len(pred.top_tokens[0]) == 3
    x = torch.tensor([tokenizer.encode("abcabd")])
    full = model(x, ahead=tokens_ahead(pred.tokens, torch.tensor(pred.greedy))[None]).logits[0]  # (T, 3, V)
    assert [row[2][0] for row in pred.top_tokens] == full[:, 2].argmax(-1).tolist()


def test_tree_mode_candidates_of_causal_heads_equal_a_full_forward_along_first_choices():
    """In tree mode each causal head ranks its guesses after the first choices before it: the
    candidates of every round equal the whole model's top guesses at the last accepted position."""
    model = random_model(vocab_size=6, n_heads=4, head_type="causal", context_length=64, seed=4)
    prompt = [1, 2, 3]
    result = decode_ids(model, prompt, DecodeSettings("tree", 40, tree="3,2,2"))
    tokens = list(prompt) + result.trace.rounds[0].committed
    checked = 0
    for rnd in result.trace.rounds[1:]:
        nodes = rnd.tree["nodes"]
        first_choices = [n["token"] for n in nodes if n["rank"] == 0 and n["depth"] > 0]  # depth 1, 2, ...
        p = len(tokens) - 2  # the last accepted position; tokens[-1] is the round's sure token
        chain = tokens + first_choices + [0] * 3
        x = torch.tensor([tokens[: p + 1]])  # (1, p+1)
        ahead = torch.tensor([[chain[t + j + 1] for j in range(3)] for t in range(p + 1)])[None]  # (1, p+1, 3)
        with torch.no_grad():
            full = model(x, ahead=ahead).logits[0, -1]  # (4, V): every head at position p
        for depth in range(1, rnd.tree["depth"] + 1):
            ranked = [n["token"] for n in sorted((n for n in nodes if n["depth"] == depth), key=lambda n: n["rank"])]
            assert ranked == full[depth].topk(len(ranked)).indices.tolist(), (rnd.index, depth)
            checked += 1
        tokens += rnd.committed
    assert checked > 10
