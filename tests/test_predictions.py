"""tinymtp.analysis.predictions: every head's guesses and both kinds of accuracy."""

from __future__ import annotations

import pytest
import torch

from tinymtp.analysis.predictions import (
    accuracy_rows,
    encode_prompt,
    greedy_continuations,
    head_predictions,
    max_prompt_length,
)
from tinymtp.core.errors import TinyMTPError, UnknownCharactersError
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.data.tokenizer import CharTokenizer
from tinymtp.decoding.decode import decode_ids
from tinymtp.decoding.settings import DecodeSettings

TEXT = "the cat sat on the mat. the dog sat on the log.\n"


@pytest.fixture(scope="module")
def tokenizer():
    return CharTokenizer.from_text(TEXT)


@pytest.fixture(scope="module")
def model(tokenizer):
    """A random micro model in float64, so batched and one-by-one arithmetic pick the same argmax."""
    torch.manual_seed(1)
    cfg = ModelConfig.from_preset("micro", vocab_size=tokenizer.vocab_size, n_heads=3)
    return MTPModel(cfg).double().eval()


def greedy_by_hand(model, tokens, steps):
    """Head 1's greedy continuation, one token at a time, no batching, no cache."""
    seq, out = list(tokens), []
    for _ in range(steps):
        logits = model(torch.tensor([seq])).logits[0, -1, 0]
        out.append(int(logits.argmax()))
        seq.append(out[-1])
    return out


def test_greedy_continuations_match_one_by_one_decoding(model, tokenizer):
    tokens = tokenizer.encode("the cat sat on")
    batched = greedy_continuations(model, tokens, 3)
    assert batched.shape == (len(tokens), 3)
    for t in range(len(tokens)):
        assert batched[t].tolist() == greedy_by_hand(model, tokens[: t + 1], 3), t


def test_greedy_continuations_equal_the_library_greedy_decoder(model, tokenizer):
    """Every position at once (batched) gives what decoding's greedy mode writes prefix by prefix."""
    tokens = tokenizer.encode("the dog sat on the")
    batched = greedy_continuations(model, tokens, 3)
    for t in range(len(tokens)):
        assert batched[t].tolist() == decode_ids(model, tokens[: t + 1], DecodeSettings(max_new_tokens=3)).tokens, t


def test_head_predictions_layout_and_targets(model, tokenizer):
    text = "the dog sat"
    pred = head_predictions(model, tokenizer, text, top_k=4)
    T, n = len(text), 3
    assert pred.length == T and pred.n_heads == n and pred.chars == list(text)
    assert len(pred.top_tokens) == T and all(len(row) == n for row in pred.top_tokens)
    assert all(len(guesses) == 4 for row in pred.top_probs for guesses in row)
    # probabilities sorted, and the top guess is the argmax of head k's logits at t
    logits = model(torch.tensor([pred.tokens])).logits[0]  # (T, n, V)
    for t in range(T):
        for k in range(1, n + 1):
            probs = pred.top_probs[t][k - 1]
            assert probs == sorted(probs, reverse=True)
            assert pred.guess(t, k) == int(logits[t, k - 1].argmax())
            # head k at t is scored against x[t+k], and nothing past the prompt
            assert pred.real[t][k - 1] == (pred.tokens[t + k] if t + k < T else None)
            assert pred.matches_text(t, k) == (None if t + k >= T else pred.guess(t, k) == pred.tokens[t + k])
    assert pred.greedy_chars[0] == [tokenizer.vocab[i] for i in pred.greedy[0]]


def test_accuracy_both_kinds(model, tokenizer):
    pred = head_predictions(model, tokenizer, "the cat sat on the mat")
    rows = pred.accuracy()
    T = pred.length
    assert [r["head"] for r in rows] == [1, 2, 3]
    assert [r["text_count"] for r in rows] == [T - 1, T - 2, T - 3]
    assert all(r["greedy_count"] == T for r in rows)
    assert rows[0]["greedy_accuracy"] == 1.0  # head 1 always matches its own greedy choice
    for r in rows:
        k = r["head"]
        hits = sum(pred.matches_text(t, k) for t in range(T - k))
        assert r["text_accuracy"] == round(hits / (T - k), 4)
        assert r["greedy_accuracy"] == round(sum(pred.matches_greedy(t, k) for t in range(T)) / T, 4)


def test_accuracy_rows_pool_several_prompts(model, tokenizer):
    a = head_predictions(model, tokenizer, "the cat")
    b = head_predictions(model, tokenizer, "sat on the log")
    pooled = accuracy_rows([a, b])
    assert pooled[1]["text_count"] == a.accuracy()[1]["text_count"] + b.accuracy()[1]["text_count"]
    assert pooled[2]["greedy_count"] == a.length + b.length


def test_bad_prompts(model, tokenizer):
    with pytest.raises(TinyMTPError, match="empty"):
        head_predictions(model, tokenizer, "")
    with pytest.raises(UnknownCharactersError, match="'Z'"):
        head_predictions(model, tokenizer, "the Zoo")
    too_long = "the cat " * 10
    assert len(too_long) > max_prompt_length(model) == 32 - 3 + 1
    with pytest.raises(TinyMTPError, match="at most 30"):
        head_predictions(model, tokenizer, too_long)
    assert encode_prompt(tokenizer, "the") == tokenizer.encode("the")
