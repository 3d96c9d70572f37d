"""The prediction head types: what turns the trunk's hidden state into head k's guess.

Every head maps the trunk's hidden state (B, T, d) to its own hidden state (B, T, d); the model
then applies the shared final norm and the shared unembedding to get head k's logits. So the
heads differ only in the small piece between the trunk and the unembedding:

| type   | the piece                                              | from                          |
|--------|--------------------------------------------------------|-------------------------------|
| linear | one d x d linear map, started as the identity          | the simplest baseline         |
| mlp    | x + SiLU(W x + b), W and b zero, so it starts as x     | Medusa (Cai et al. 2024)      |
| block  | one full transformer layer per head (own attention)    | Gloeckle et al. 2024 (Meta)   |
| causal | head k mixes head k-1's hidden state with the EMBEDDING of | DeepSeek-V3 (2024)            |
|        | token t+k-1, then runs one transformer layer: a chain      |                               |
| sequential | head k reads the trunk's hidden state at t AND the     | Hydra (Ankner et al. 2024)    |
|        | embeddings of x[t+1..t+k-1] through a two-layer MLP        |                               |

For linear, mlp and block all n heads, head 1 included, have the same type, so an n = 1 model
is exactly "trunk + head 1" and dropping heads 2..n leaves a model of the baseline's shape.

The causal chain is different: head k (k >= 2) at position t also reads token x[t+k-1], the
token just before the one it predicts. In training that token comes from the text (the
targets already hold it); in decoding it is the previous head's draft, so the drafts are made
one after the other (causal_drafts.py) instead of all at once. Head 1 of a causal model is a
linear head (the main model's own output, as in DeepSeek-V3, where the chain starts from the
main model's last hidden state). Both the token embedding and the unembedding are the main
model's, shared.

Sequential heads (Hydra's) sit between the two: head k reads the trunk's hidden state at t, like
a parallel head, and the embeddings of every token between t and the one it predicts,
x[t+1..t+k-1], like a drafter that sees its own earlier drafts. A parallel head can only learn
p(x[t+k] | x[..t]), the marginal over the tokens in between; a sequential head learns
p(x[t+k] | x[..t+k-1]), which is what head 1 checks it against. The price is small: drafting
is one two-layer MLP on one row per draft, not a transformer layer. Head 1 of a sequential
model is a linear head, so an ordinary next-token model can grow sequential heads.

Explained in notebooks/03_heads_and_loss.ipynb and 09_trees_and_causal_heads.ipynb (sequential).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import Block


class LinearHead(nn.Module):
    has_attention = False

    def __init__(self, cfg):
        super().__init__()
        self.linear = nn.Linear(cfg.d_model, cfg.d_model, bias=False)

    def reset_parameters(self):
        with torch.no_grad():
            self.linear.weight.copy_(torch.eye(self.linear.weight.size(0)))  # start as the identity

    def forward(self, hidden, cache=None, layer=0, mask=None):
        return self.linear(hidden)  # (B, T, C)


class MLPHead(nn.Module):
    """Medusa's residual block: the head starts as the identity and learns a correction."""

    has_attention = False

    def __init__(self, cfg):
        super().__init__()
        self.linear = nn.Linear(cfg.d_model, cfg.d_model)

    def reset_parameters(self):
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden, cache=None, layer=0, mask=None):
        return hidden + F.silu(self.linear(hidden))  # (B, T, C)


class BlockHead(nn.Module):
    """One transformer layer of its own (attention + MLP), as in Meta's MTP paper."""

    has_attention = True

    def __init__(self, cfg):
        super().__init__()
        self.block = Block(cfg)

    def reset_parameters(self):
        pass  # the model's GPT-style initialisation already suits a transformer layer

    def forward(self, hidden, cache=None, layer=0, mask=None):
        return self.block(hidden, cache, layer, mask)  # (B, T, C)


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2)) times a learned scale: LayerNorm without the mean subtraction."""

    def __init__(self, d: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight  # (..., d)


class CausalHead(nn.Module):
    """DeepSeek-V3's MTP module: [norm(previous head's hidden), norm(embedding of x[t+k-1])] ->
    project 2d -> d -> one transformer layer (own attention) -> this head's hidden state."""

    has_attention = True
    reads_token_ahead = True  # needs the embedding of the token before the one it predicts

    def __init__(self, cfg):
        super().__init__()
        self.hidden_norm = RMSNorm(cfg.d_model)
        self.embedding_norm = RMSNorm(cfg.d_model)
        self.mix = nn.Linear(2 * cfg.d_model, cfg.d_model, bias=False)
        self.block = Block(cfg)

    def reset_parameters(self):
        with torch.no_grad():  # start by passing the previous head's hidden state through
            d = self.mix.weight.size(0)
            self.mix.weight.zero_()
            self.mix.weight[:, :d].copy_(torch.eye(d))
            self.mix.weight[:, d:].normal_(0.0, 0.02)

    def forward(self, previous, embedded, cache=None, layer=0, mask=None):
        """previous: head k-1's hidden (B, T, C); embedded: embedding of x[t+k-1] (B, T, C)."""
        both = torch.cat([self.hidden_norm(previous), self.embedding_norm(embedded)], dim=-1)  # (B, T, 2C)
        return self.block(self.mix(both), cache, layer, mask)  # (B, T, C)


class SequentialHead(nn.Module):
    """Hydra's draft head k: [norm(trunk hidden at t), norm(embedding of x[t+1]), ..., of x[t+k-1]]
    -> Linear(k*d -> 4d) -> SiLU -> Linear(4d -> d), added to the hidden state (zero-initialised,
    so the head starts as head 1's input and learns what the tokens in between change)."""

    has_attention = False
    reads_token_ahead = True  # needs the tokens between t and the one it predicts: they draft in turn

    def __init__(self, cfg, k: int):
        super().__init__()
        d = cfg.d_model
        self.hidden_norm = RMSNorm(d)
        self.embedding_norm = RMSNorm(d)
        self.up = nn.Linear(k * d, 4 * d)
        self.down = nn.Linear(4 * d, d)

    def reset_parameters(self):
        nn.init.zeros_(self.down.weight)
        nn.init.zeros_(self.down.bias)

    def forward(self, hidden, embedded: list):
        """hidden: the trunk's hidden states (..., C); embedded: k-1 tensors (..., C), the embeddings
        of x[t+1] .. x[t+k-1]. Returns this head's hidden state (..., C)."""
        parts = [self.hidden_norm(hidden)] + [self.embedding_norm(e) for e in embedded]
        return hidden + self.down(F.silu(self.up(torch.cat(parts, dim=-1))))  # (..., C)


def make_head(cfg, k: int = 1) -> nn.Module:
    """Head k (1-based) of a model of `cfg.head_type`; causal and sequential heads start with a linear head 1."""
    if cfg.head_type in ("causal", "sequential") and k == 1:
        return LinearHead(cfg)
    if cfg.head_type == "sequential":
        return SequentialHead(cfg, k)
    return {"linear": LinearHead, "mlp": MLPHead, "block": BlockHead, "causal": CausalHead}[cfg.head_type](cfg)
