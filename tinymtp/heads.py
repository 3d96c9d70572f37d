"""The prediction head types: what turns the trunk's hidden state into head k's guess.

Every head maps the trunk's hidden state (B, T, d) to its own hidden state (B, T, d); the model
then applies the shared final norm and the shared unembedding to get head k's logits. So the
heads differ only in the small piece between the trunk and the unembedding:

| type   | the piece                                              | from                          |
|--------|--------------------------------------------------------|-------------------------------|
| linear | one d x d linear map, started as the identity          | the simplest baseline         |
| mlp    | x + SiLU(W x + b), W and b zero, so it starts as x     | Medusa (Cai et al. 2024)      |
| block  | one full transformer layer per head (own attention)    | Gloeckle et al. 2024 (Meta)   |

All n heads, head 1 included, have the same type, so an n = 1 model is exactly "trunk + head 1"
and dropping heads 2..n of an MTP model leaves a model of the same shape as the baseline.
Left out: the DeepSeek-V3 `causal` chain (its drafts depend on earlier drafts).

Explained in notebooks/03_heads_and_loss.ipynb.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import Block

HEAD_TYPES = ("linear", "mlp", "block")


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


def make_head(cfg) -> nn.Module:
    return {"linear": LinearHead, "mlp": MLPHead, "block": BlockHead}[cfg.head_type](cfg)
