"""The hand-written attention weights (tinymtp.core.layers.attention_weights, the reference of notebook 02's
exercise) against PyTorch's fused attention, and the causal rule they follow."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tinymtp.core.layers import CausalSelfAttention, causal_attention_weights
from tinymtp.core.model import ModelConfig


def _qkv(B=2, H=3, T=7, hs=8, S=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    S = S or T
    q = torch.randn(B, H, T, hs, generator=g, dtype=torch.float64)  # (B, H, T, hs)
    k = torch.randn(B, H, S, hs, generator=g, dtype=torch.float64)  # (B, H, S, hs)
    v = torch.randn(B, H, S, hs, generator=g, dtype=torch.float64)  # (B, H, S, hs)
    return q, k, v


def test_weights_times_values_equal_pytorch_fused_causal_attention():
    q, k, v = _qkv()
    weights = causal_attention_weights(q, k)  # (B, H, T, T)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, hs)
    assert torch.allclose(weights @ v, expected, atol=1e-12)


def test_each_row_sums_to_one_and_never_looks_ahead():
    q, k, _ = _qkv(T=9)
    weights = causal_attention_weights(q, k)  # (B, H, T, T)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3, 9, dtype=torch.float64))
    assert torch.equal(weights.triu(diagonal=1), torch.zeros_like(weights))  # exactly 0 above the diagonal
    assert torch.equal(weights[..., 0, :1], torch.ones(2, 3, 1, dtype=torch.float64))  # query 0 sees only key 0


def test_new_queries_over_a_longer_cache_see_every_cached_key():
    q, k, v = _qkv(T=3, S=8)  # 3 new queries at positions 5, 6, 7 over 8 keys
    weights = causal_attention_weights(q, k)  # (B, H, 3, 8)
    assert torch.equal(weights[..., 0, 6:], torch.zeros(2, 3, 2, dtype=torch.float64))
    assert (weights[..., 2, :] > 0).all()
    padded = torch.cat([torch.zeros(2, 3, 5, 8, dtype=torch.float64), q], dim=2)  # (B, H, 8, hs): 5 earlier queries
    full = causal_attention_weights(padded, k)  # (B, H, 8, 8)
    assert torch.allclose(full[..., 5:, :], weights)


def test_the_written_out_attention_keeps_exactly_these_weights():
    torch.manual_seed(0)
    attn = CausalSelfAttention(ModelConfig.from_preset("micro", vocab_size=10)).double()
    attn.fast = False
    x = torch.randn(2, 6, 32, dtype=torch.float64)  # (B, T, C)
    attn(x)
    q, k, _ = attn.qkv(x).split(32, dim=2)  # 3 x (B, T, C)
    q = q.view(2, 6, 2, 16).transpose(1, 2)  # (B, H, T, hs)
    k = k.view(2, 6, 2, 16).transpose(1, 2)  # (B, H, T, hs)
    assert torch.allclose(attn.weights, causal_attention_weights(q, k), atol=1e-12)


def test_the_forward_mask_is_the_causal_rule_as_numbers_and_none_where_no_mask_is_needed():
    from tinymtp.core.layers import block_mask, causal_mask, forward_mask

    assert forward_mask(1, 9) is None  # one new token sees every cached key
    assert forward_mask(6, 6) is None  # the plain triangle: is_causal
    rule = forward_mask(4, 10)  # 4 new tokens over 6 cached
    assert rule.shape == (4, 10) and rule.dtype == torch.float32
    assert torch.equal(rule == 0, causal_mask(4, 10))
    assert torch.isinf(rule[~causal_mask(4, 10)]).all()
    tree = torch.tensor([[1, 0, 0], [1, 1, 0], [1, 0, 1]], dtype=torch.bool)  # two siblings below a root
    assert torch.equal(forward_mask(3, 8, tree) == 0, block_mask(tree, 8))
    assert forward_mask(1, 5, torch.ones(1, 1, dtype=torch.bool)) is not None  # a given rule is always kept


def test_one_shared_mask_gives_what_each_layer_building_its_own_gives():
    """The trunk builds the forward's mask once (layers.forward_mask); a layer called alone builds
    it itself. Both, fast and written out, must agree over a cache and with a tree rule."""
    from tinymtp.core.kvcache import KVCache
    from tinymtp.core.layers import forward_mask

    torch.manual_seed(0)
    attn = CausalSelfAttention(ModelConfig(d_model=16, attn_heads=2)).eval()
    past, new = torch.randn(1, 5, 16), torch.randn(1, 3, 16)  # (B, T, C)
    tree = torch.tensor([[1, 0, 0], [1, 1, 0], [1, 0, 1]], dtype=torch.bool)
    for mask in (None, tree):
        outs = []
        for fast in (True, False):
            for shared in (True, False):
                attn.fast = fast
                cache = KVCache(1, 2, 8, 16)
                attn(past, cache)
                cache.advance(5)
                rule = forward_mask(3, 8, mask) if shared else None
                outs.append(attn(new, cache, 0, mask, rule))
        for out in outs[1:]:
            assert torch.allclose(out, outs[0], atol=1e-6)
