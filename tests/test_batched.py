"""The one batched decoder (tinymtp/decoding/batched.py) against the decoder a learner watches."""

from __future__ import annotations

import pytest
import torch
from conftest import random_model

from tinymtp.core.errors import TinyMTPError
from tinymtp.decoding.batched import continue_rows, every_prefix
from tinymtp.decoding.decode import decode_ids
from tinymtp.decoding.settings import DecodeSettings


@pytest.mark.parametrize("head_type", ["linear", "causal"])
def test_rows_of_different_lengths_continue_exactly_as_greedy_decoding(head_type):
    model = random_model(vocab_size=7, n_heads=3, head_type=head_type, context_length=16, seed=4)
    texts = [[1, 2, 3, 4, 5], [6, 0], [3, 3, 3, 1]]
    rows = torch.zeros(3, 5, dtype=torch.long)  # padded on the right with 0s
    for r, text in enumerate(texts):
        rows[r, : len(text)] = torch.tensor(text)
    ends = torch.tensor([len(t) - 1 for t in texts])
    tokens, logits = continue_rows(model, rows, ends, steps=6)  # (3, 6), (3, 6, V)
    for r, text in enumerate(texts):
        assert tokens[r].tolist() == decode_ids(model, text, DecodeSettings("greedy", 6)).tokens
    assert torch.equal(logits.argmax(-1), tokens)


def test_every_prefix_is_every_prefix_continued():
    model = random_model(vocab_size=6, n_heads=2, context_length=16, seed=1)
    x = torch.tensor([[1, 4, 2, 5, 0], [3, 3, 1, 2, 4]])  # (2, 5)
    tokens, logits = every_prefix(model, x, steps=3)  # (2, 5, 3), (2, 5, 3, V)
    assert tokens.shape == (2, 5, 3) and logits.shape == (2, 5, 3, 6)
    for b in range(2):
        for t in range(5):
            assert tokens[b, t].tolist() == decode_ids(model, x[b, : t + 1].tolist(), DecodeSettings("greedy", 3)).tokens


def test_sampling_is_seeded_and_follows_head_1():
    model = random_model(vocab_size=4, n_heads=1, context_length=16, seed=2, std=0.3)
    rows = torch.tensor([[1, 2]]).repeat(4000, 1)  # (4000, 2): one prompt, many draws
    ends = torch.full((4000,), 1)
    draw = lambda seed: continue_rows(model, rows, ends, 1, temperature=1.0,  # noqa: E731
                                      generator=torch.Generator().manual_seed(seed))
    (a, logits), (b, _) = draw(0), draw(0)
    assert torch.equal(a, b) and not torch.equal(a, draw(1)[0])
    expected = torch.softmax(logits[0, 0].float(), dim=-1)  # (V,)
    observed = torch.bincount(a[:, 0], minlength=4).float() / 4000
    assert torch.allclose(observed, expected, atol=0.03)  # 4000 draws: a standard error of about 0.008


def test_too_long_for_the_context_is_one_clear_error():
    model = random_model(vocab_size=5, n_heads=2, context_length=8, seed=0)
    with pytest.raises(TinyMTPError, match="exceed the context length 8"):
        continue_rows(model, torch.zeros(1, 6, dtype=torch.long), torch.tensor([5]), steps=4)
