"""The MTP transformer: one shared trunk, n prediction heads, one shared unembedding.

    tokens (B, T) -> trunk -> hidden (B, T, d) -> head k -> (B, T, d) -> norm + unembed -> (B, T, V)
                                                  (k = 1..n, stacked)                   -> (B, T, n, V)

Head k at position t predicts token x[t+k]; head 1 is the ordinary next-token head and n = 1 is
the next-token baseline. The trunk is a small GPT written out by hand: token and position
embeddings, pre-norm blocks of causal self-attention and an MLP. Attention is written out step
by step (`fast=False`, used to show attention weights); the default fast path calls PyTorch's
scaled_dot_product_attention, and a test checks the two agree.

Names: "heads" always means prediction heads (`n_heads`); the attention's heads are
`attn_heads`. The `causal` head type (DeepSeek-V3) chains the heads: head k also reads the
embedding of token x[t+k-1] (`ahead`; in training the targets provide it). Left out on purpose:
dropout schedules, rotary embeddings, weight tying. Explained in notebooks/02_trunk.ipynb and
notebooks/03_heads_and_loss.ipynb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from .config import ModelConfig
from .errors import TinyMTPError
from .heads import SequentialHead, make_head
from .kvcache import KVCache
from .layers import Block, CausalSelfAttention, forward_mask
from .loss import combine_head_losses, head_losses


class Trunk(nn.Module):
    """The shared body: embeddings and n_layers blocks. Output: one hidden vector per position."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.position_embedding = nn.Embedding(cfg.context_length, cfg.d_model)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layers)])
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, idx, cache: KVCache | None = None, positions=None, mask=None):
        """idx (B, T) -> hidden (B, T, C). Tree decoding passes each token's `positions` (T,) and
        the `mask` (T, T) of which new tokens may see which; by default a plain causal sequence."""
        B, T = idx.shape
        if positions is None:
            start = cache.length if cache is not None else 0
            positions = torch.arange(start, start + T, device=idx.device)  # (T,)
        x = self.token_embedding(idx) + self.position_embedding(positions)  # (B, T, C)
        x = self.drop(x)
        S = T + (cache.length if cache is not None else 0)  # keys each layer sees
        rule = forward_mask(T, S, mask, idx.device, x.dtype)  # (T, S), once for every layer (or None)
        for layer, block in enumerate(self.blocks):
            x = block(x, cache, layer, mask, rule)  # (B, T, C)
        return x


@dataclass
class MTPOutput:
    logits: torch.Tensor  # (B, T, n, V): logits[:, t, k-1] is head k's guess for x[t+k]
    loss: torch.Tensor | None = None  # the weighted combination of the heads' losses
    head_losses: list | None = None  # one scalar tensor per head, head 1 first
    hidden: torch.Tensor | None = None  # (B, T, n, C): each head's hidden state before the shared norm
    trunk: torch.Tensor | None = None  # (B, T, C): the trunk's hidden state (what sequential heads read)

    @property
    def next_token_loss(self):
        return None if self.head_losses is None else self.head_losses[0]


class MTPModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.trunk = Trunk(cfg)
        # a comprehension, not [make_head(cfg)] * n, which would share ONE head n times
        self.heads = nn.ModuleList([make_head(cfg, k) for k in range(1, cfg.n_heads + 1)])
        self.final_norm = nn.LayerNorm(cfg.d_model)  # shared by every head
        self.unembedding = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)  # shared by every head
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale the residual projections down
            if name.endswith("attn.proj.weight") or name.endswith("mlp.down.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layers))
        for head in self.heads:
            head.reset_parameters()  # head types choose their own start (e.g. zero, identity)
        # where each head's own attention layer (block heads) sits in a KV cache, after the trunk's
        attention_heads = [h.has_attention for h in self.heads]
        self.head_cache_layers = [cfg.n_layers + sum(attention_heads[:k]) for k in range(cfg.n_heads)]

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    @property
    def n_heads(self) -> int:
        return self.config.n_heads

    def attention_layers(self) -> int:
        """How many attention layers a KV cache needs: the trunk's plus one per `block` head."""
        return self.config.n_layers + sum(h.has_attention for h in self.heads)

    def new_cache(self, batch_size: int = 1) -> KVCache:
        p = next(self.parameters())
        cfg = self.config
        return KVCache(self.attention_layers(), cfg.attn_heads, cfg.d_model // cfg.attn_heads,
                       cfg.context_length, batch_size, p.dtype, p.device)

    @property
    def chained(self) -> bool:
        """True for the causal head type: heads 2..n need the tokens ahead, so they draft in turn."""
        return any(getattr(h, "reads_token_ahead", False) for h in self.heads)

    def head_logits(self, hidden, head: int, cache: KVCache | None = None):
        """Head `head` (1-based) applied to the trunk's hidden states: (B, T, C) -> (B, T, V)."""
        z = self.heads[head - 1](hidden, cache, self.head_cache_layers[head - 1])  # (B, T, C)
        return self.unembedding(self.final_norm(z))  # (B, T, V)

    def chain_step(self, head: int, previous, token_ids, cache: KVCache | None = None):
        """Causal head `head` (>= 2): previous head's hidden (B, T, C) + tokens x[t+head-1] (B, T)
        -> (this head's hidden (B, T, C), its logits (B, T, V)). The cache (if any) is the head's own."""
        embedded = self.trunk.token_embedding(token_ids.clamp(min=0))  # (B, T, C); ignored targets -> 0
        z = self.heads[head - 1](previous, embedded, cache, 0)  # (B, T, C)
        return z, self.unembedding(self.final_norm(z))  # (B, T, C), (B, T, V)

    def draft_step(self, head: int, hidden, token_ids):
        """Sequential head `head` (>= 2): the trunk's hidden state (R, C) and the tokens x[t+1..t+head-1]
        (R, head-1) -> its logits (R, V). One small MLP: what a sequential draft costs."""
        embedded = [self.trunk.token_embedding(token_ids[:, j]) for j in range(head - 1)]  # head-1 x (R, C)
        return self.unembedding(self.final_norm(self.heads[head - 1](hidden, embedded)))  # (R, V)

    def _head_hidden(self, k: int, hidden, zs: list, ahead, cache, mask):
        """Head k+1's hidden state (B, T, C): from the trunk; or (causal) from head k's and a token;
        or (sequential) from the trunk and the k tokens x[t+1..t+k]."""
        head = self.heads[k]
        if not getattr(head, "reads_token_ahead", False):
            return head(hidden, cache, self.head_cache_layers[k], mask)
        if ahead is None:
            raise TinyMTPError(f"head {k + 1} is a {self.config.head_type} head: it reads the tokens before the one "
                               "it predicts (pass `ahead`, or decode with its drafter)")
        if isinstance(head, SequentialHead):
            return head(hidden, [self.trunk.token_embedding(ahead[..., j].clamp(min=0)) for j in range(k)])
        embedded = self.trunk.token_embedding(ahead[..., k - 1].clamp(min=0))  # x[t+k]: (B, T, C)
        return head(zs[-1], embedded, cache, self.head_cache_layers[k], mask)

    def forward(self, idx, targets=None, cache: KVCache | None = None, heads: int | None = None,
                positions=None, mask=None, ahead=None):
        """idx (B, T) -> MTPOutput with logits (B, T, n, V); with targets (B, T, n), the losses.

        `heads` computes only heads 1..heads (e.g. 1 for plain next-token decoding). Tree
        decoding passes `positions` (T,) and `mask` (T, T) (see Trunk.forward). Causal heads
        read `ahead` (B, T, >= n-1): ahead[..., j] = x[t+j+1], the targets by default.
        """
        T = idx.size(1)
        start = cache.length if cache is not None else 0
        last = start + T if positions is None else int(positions.max()) + 1
        if last > self.config.context_length:
            raise TinyMTPError(f"sequence of {last} tokens exceeds the context length "
                               f"{self.config.context_length}")
        hidden = self.trunk(idx, cache, positions, mask)  # (B, T, C)
        n = heads or self.config.n_heads
        ahead = targets if ahead is None else ahead
        zs = []
        for k in range(n):
            zs.append(self._head_hidden(k, hidden, zs, ahead, cache, mask))  # (B, T, C)
        z = torch.stack(zs, dim=2)  # (B, T, n, C)
        logits = self.unembedding(self.final_norm(z))  # the shared norm and unembedding, once: (B, T, n, V)
        if cache is not None:
            cache.advance(T)
        if targets is None:
            return MTPOutput(logits, hidden=z, trunk=hidden)
        losses = head_losses(logits, targets[..., :n])
        return MTPOutput(logits, combine_head_losses(losses, self.config.loss_weights), losses, z, hidden)

    def set_fast_attention(self, fast: bool) -> None:
        for module in self.modules():
            if isinstance(module, CausalSelfAttention):
                module.fast = fast

    def with_heads(self, n_heads: int, head_type: str | None = None) -> MTPModel:
        """A new model with `n_heads` heads (of `head_type`, default this model's): this model's trunk,
        head 1, final norm and unembedding (copies), and heads 2..n freshly started (e.g. on a
        next-token model's frozen trunk, as in Medusa-1, then taught by distill.py). Heads this
        model already has are copied too when the type stays the same."""
        if n_heads < 1:
            raise TinyMTPError(f"a model needs at least 1 head, got {n_heads}")
        head_type = head_type or self.config.head_type
        cfg = ModelConfig(**{**self.config.to_dict(), "n_heads": n_heads, "head_type": head_type})
        p = next(self.parameters())
        grown = MTPModel(cfg).to(device=p.device, dtype=p.dtype)
        same = head_type == self.config.head_type
        first = type(grown.heads[0]) is type(self.heads[0])  # head 1 is linear in every chain-like type
        kept = {k: v for k, v in self.state_dict().items()
                if not k.startswith("heads.") or (int(k.split(".")[1]) < n_heads
                                                   and (same or (first and k.startswith("heads.0."))))}
        grown.load_state_dict(kept, strict=False)
        return grown.train(self.training)

    def same_next_token_model(self, other: MTPModel) -> bool:
        """True when `other` has this model's trunk, head 1, final norm and unembedding, weight for weight
        (as `with_heads` and a frozen-trunk distillation leave them): then head 1 writes the same text in
        both, and other's heads 2..n can draft for this model."""
        if other.config.attn_heads != self.config.attn_heads or type(other.heads[0]) is not type(self.heads[0]):
            return False
        theirs = other.state_dict()
        return all(key in theirs and torch.equal(value, theirs[key]) for key, value in self.state_dict().items()
                   if not key.startswith("heads.") or key.startswith("heads.0."))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
