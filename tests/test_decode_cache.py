"""The KV cache and the sliding window give the logits a full forward pass would (float64)."""

from __future__ import annotations

import pytest
import torch

from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.decoding.window import SlidingWindow, window_start

HEAD_TYPES = ["linear", "mlp", "block"]


def random_model(head_type: str, context_length: int = 24, n_heads: int = 3) -> MTPModel:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=7, context_length=context_length, d_model=16, n_layers=2, attn_heads=2,
                      n_heads=n_heads, head_type=head_type)
    model = MTPModel(cfg).double().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.normal_(0.0, 1.0 if "embedding" in name else 0.3)
    return model


@pytest.mark.parametrize("head_type", HEAD_TYPES)
def test_cached_chunks_give_the_full_forward_logits(head_type):
    model = random_model(head_type)
    tokens = torch.randint(0, 7, (1, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full = model(tokens).logits  # (1, 24, n, V)
        cache = model.new_cache()
        pieces, start = [], 0
        for size in (5, 1, 1, 4, 3, 1, 6, 2, 1):  # a prefill, single tokens, verify-sized blocks
            pieces.append(model(tokens[:, start : start + size], cache=cache).logits)
            start += size
        assert start == 24 and cache.length == 24
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=0, atol=1e-10)


@pytest.mark.parametrize("head_type", HEAD_TYPES)
def test_rollback_then_refeed_gives_the_full_forward_logits(head_type):
    model = random_model(head_type)
    tokens = torch.randint(0, 7, (1, 12), generator=torch.Generator().manual_seed(2))
    wrong = (tokens[:, 6:10] + 1) % 7  # drafts that will be rejected
    with torch.no_grad():
        full = model(tokens).logits
        cache = model.new_cache()
        model(tokens[:, :6], cache=cache)
        model(wrong, cache=cache)  # a verify block...
        cache.truncate(6)  # ...rejected entirely: roll back
        again = model(tokens[:, 6:], cache=cache).logits
    torch.testing.assert_close(again, full[:, 6:], rtol=0, atol=1e-10)


def test_window_start_depends_on_position_only_and_fits_the_context():
    for C in range(1, 20):
        starts = [window_start(i, C) for i in range(200)]
        assert starts[: C] == [0] * C  # the first window holds positions 0 .. C-1
        for i, s in enumerate(starts):
            assert 0 <= s <= i and i - s < C  # position i sees at most C tokens, itself included
        assert starts == sorted(starts)
        for i in range(C, 200):  # a restart keeps the last C // 2 tokens before it
            if starts[i] != starts[i - 1]:
                assert starts[i] == i - C // 2


@pytest.mark.parametrize("head_type", HEAD_TYPES)
def test_sliding_window_rows_equal_a_full_forward_over_each_window(head_type):
    C = 8
    model = random_model(head_type, context_length=C)
    tokens = torch.randint(0, 7, (40,), generator=torch.Generator().manual_seed(3)).tolist()
    window = SlidingWindow(model)
    end, rereads = 5, 0
    with torch.inference_mode():
        logits = window.feed(tokens, end).logits  # prefill positions 0..4
        while end < len(tokens):
            size = min(3, window.last_position(end) - end + 1, len(tokens) - end)  # blocks stay in one window
            fed = window.feed(tokens, end + size)
            logits, reread = fed.logits, fed.reread
            rereads += reread > 0
            assert logits.shape[0] == size
            for row, position in enumerate(range(end, end + size)):
                s = window_start(position, C)
                reference = model(torch.tensor([tokens[s : position + 1]])).logits[0, -1]  # (n, V)
                torch.testing.assert_close(logits[row], reference, rtol=0, atol=1e-10)
            end += size
    assert rereads >= 5


def test_sliding_window_truncate_forgets_and_prompt_longer_than_context():
    model = random_model("linear", context_length=8)
    window = SlidingWindow(model, heads=1)
    tokens = list(range(7)) * 3  # 21 tokens, longer than the context
    with torch.inference_mode():
        fed = window.feed(tokens, 20)
        logits, reread = fed.logits, fed.reread
        assert window.start == window_start(19, 8) and reread == 0
        assert logits.shape[0] == 20 - window.start and window.end == 20
        window.truncate(18)
        assert window.end == 18 and window.cache.length == 18 - window.start
