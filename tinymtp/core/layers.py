"""The transformer's building blocks: causal self-attention, the MLP, and the pre-norm block.

The trunk stacks these blocks, and the `block` head type gives each prediction head one more.
Attention is written out step by step (`fast=False`: scores, mask, softmax, weighted sum, and
the weights kept for drawing); the default fast path calls PyTorch's
scaled_dot_product_attention, and a test checks that the two agree. Both paths accept a KV
cache, so a forward pass can feed just the new tokens.

Explained in notebooks/02_trunk.ipynb.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F

from .kvcache import KVCache

if TYPE_CHECKING:
    from .model import ModelConfig


def causal_mask(T: int, S: int, device=None) -> torch.Tensor:
    """(T, S) booleans: new query i sits at position S - T + i and may see keys 0 .. S - T + i."""
    return torch.ones(T, S, dtype=torch.bool, device=device).tril(diagonal=S - T)


def block_mask(new_mask: torch.Tensor, S: int) -> torch.Tensor:
    """(T, T) rules among the T new tokens -> (T, S): every new token also sees the S - T cached ones.

    Tree decoding (tree.py) feeds many candidate continuations at once; `new_mask[i, j]` says
    whether new token i may see new token j (its ancestors and itself).
    """
    T = new_mask.size(0)
    seen = torch.ones(T, S - T, dtype=torch.bool, device=new_mask.device)  # the cached prefix: (T, S-T)
    return torch.cat([seen, new_mask], dim=1)  # (T, S)


def forward_mask(T: int, S: int, new_mask: torch.Tensor | None = None, device=None,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor | None:
    """The (T, S) mask one forward's attention layers share, as numbers added to the scores.

    0 where new query i may see key j, -inf where it may not (the causal rule, or tree decoding's
    `new_mask` among the new tokens). None where scaled_dot_product_attention needs no mask: one
    new token sees every cached key, and T == S is the plain causal triangle (`is_causal`).
    The trunk builds it once per forward and hands it to every layer: built per layer, and given as
    booleans that PyTorch turns into numbers each call, it made a verifying forward about 7% dearer.
    """
    if new_mask is None and (T == 1 or T == S):
        return None
    allowed = causal_mask(T, S, device) if new_mask is None else block_mask(new_mask, S)  # (T, S)
    return torch.zeros(T, S, device=device, dtype=dtype).masked_fill(~allowed, float("-inf"))  # (T, S)


def attention_weights(q: torch.Tensor, k: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Scores, mask, softmax: q (B, H, T, hs), k (B, H, S, hs), allowed (T, S) -> weights (B, H, T, S).

    Row i holds how much new query i draws from each key; forbidden keys get exactly 0."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # affinities: (B, H, T, S)
    scores = scores.masked_fill(~allowed, float("-inf"))  # no looking ahead
    return F.softmax(scores, dim=-1)  # each row sums to 1: (B, H, T, S)


def causal_attention_weights(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The causal attention weights of T queries over T keys: (B, H, T, hs) twice -> (B, H, T, T)."""
    T, S = q.size(-2), k.size(-2)
    return attention_weights(q, k, causal_mask(T, S, q.device))  # (B, H, T, S)


class CausalSelfAttention(nn.Module):
    """Each position looks back at itself and earlier positions, never ahead."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attn_heads = cfg.attn_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.fast = True  # False: the written-out path below, which also keeps `weights`
        self.weights = None  # (B, H, T, S) attention weights of the last slow forward

    def forward(self, x, cache: KVCache | None = None, layer: int = 0, mask: torch.Tensor | None = None,
                rule: torch.Tensor | None = None):
        """x (B, T, C) -> (B, T, C). `mask` (T, T) replaces the causal rule among the new tokens;
        `rule` is the forward's shared (T, S) mask from `forward_mask` (built here when not given)."""
        B, T, C = x.shape
        H, hs = self.attn_heads, C // self.attn_heads
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, H, hs).transpose(1, 2)  # (B, H, T, hs)
        k = k.view(B, T, H, hs).transpose(1, 2)  # (B, H, T, hs)
        v = v.view(B, T, H, hs).transpose(1, 2)  # (B, H, T, hs)
        if cache is not None:
            k, v = cache.append(layer, k, v)  # (B, H, S, hs), S = past + T
        S = k.size(2)
        if rule is None:
            rule = forward_mask(T, S, mask, x.device, x.dtype)  # (T, S), or None: no mask needed
        if self.fast:
            # rule None: one new query may see every cached key, or T == S: the plain causal triangle
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=rule, is_causal=rule is None and T > 1)  # (B, H, T, hs)
        else:
            allowed = causal_mask(T, S, x.device) if rule is None else rule == 0  # (T, S)
            weights = attention_weights(q, k, allowed)  # (B, H, T, S)
            self.weights = weights.detach()
            y = weights @ v  # weighted sum of values: (B, H, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble heads: (B, T, C)
        return self.proj(y)  # (B, T, C)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.up = nn.Linear(cfg.d_model, 4 * cfg.d_model, bias=False)
        self.down = nn.Linear(4 * cfg.d_model, cfg.d_model, bias=False)

    def forward(self, x):
        return self.down(F.gelu(self.up(x)))  # (B, T, C) -> (B, T, 4C) -> (B, T, C)


class Block(nn.Module):
    """Pre-norm transformer layer: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, cache: KVCache | None = None, layer: int = 0, mask: torch.Tensor | None = None,
                rule: torch.Tensor | None = None):
        x = x + self.drop(self.attn(self.norm1(x), cache, layer, mask, rule))  # (B, T, C)
        return x + self.drop(self.mlp(self.norm2(x)))  # (B, T, C)
