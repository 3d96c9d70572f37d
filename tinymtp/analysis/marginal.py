"""What a parallel head aims at: the marginal it must guess, against the conditional it is checked by.

In a round of exact speculative sampling at position t, head 1 draws the sure token c ~ p1(. | x[..t]);
head 2's draft of the token after c is then kept with probability sum_x min(p1(x | x[..t], c), q(x))
(Leviathan et al. 2023): the verifier's distribution is the *conditional*, given c. A parallel head 2
(linear, mlp, block) reads only x[..t], so its q cannot depend on c. Trained with cross-entropy (or
distilled toward head 1), its target is the *marginal* q*(x) = sum_c p1(c | x[..t]) p1(x | x[..t], c),
head 1's own two-step law with c summed out: in loss the best any parallel head can do, short of the
conditional by I(X; Y | C) (notebook 08). A head that reads c (causal, sequential: notebook 09) can
match the conditional itself, and then every draft is kept. `head2_acceptance` computes, at every
position of some windows of real text, the expected acceptance of

- the model's own head 2 (reading c when its type reads the tokens before the one it predicts),
- the marginal q* (a parallel head 2 that learned its training target exactly),

both averaged over c ~ p1, and the share of p1's mass the sum covered: c runs over head 1's `top`
likeliest tokens (renormalised). The marginal is the cross-entropy optimum, not the acceptance
optimum: a head that puts all its mass on the likeliest continuation can be kept more often when one
c dominates, and in the symmetric case (two equally likely c, each with one certain continuation)
no parallel q beats the marginal's 1/2. Left out: heads 3..n (their marginal sums over more tokens
in between) and temperatures other than the one given. Explained in notebooks/09_trees_and_causal_heads.ipynb.
"""

from __future__ import annotations

import torch

from ..core.errors import TinyMTPError
from ..data.corpora import shift_targets


def head2_acceptance(model, windows: torch.Tensor, top: int = 8, temperature: float = 1.0) -> dict:
    """windows (B, L) of real text -> {"head 2": mean acceptance of the model's head 2, "marginal": of
    the marginal q*, "covered": mean share of p1's mass the `top` sure tokens hold, "positions"}."""
    if model.config.n_heads < 2:
        raise TinyMTPError("head 2's acceptance needs a model with at least 2 heads")
    B, L = windows.shape
    if L < 2 or not temperature > 0 or top < 1:
        raise TinyMTPError("need windows of at least 2 tokens, a temperature > 0 and top >= 1")
    with torch.no_grad():
        first = torch.softmax(model(windows, heads=1).logits[:, :, 0].double() / temperature, -1)  # (B, L, V)
        head2, marginal_kept, covered = [], [], []
        for t in range(L - 1):  # the sure token c goes at t + 1
            p_c, c = first[:, t].topk(min(top, first.size(-1)), dim=-1)  # (B, K) each
            K = c.size(1)
            fed = torch.cat([windows[:, : t + 1].repeat_interleave(K, 0), c.reshape(-1, 1)], dim=1)  # (B*K, t+2)
            out = model(fed, heads=2, ahead=shift_targets(fed, 2)).logits.double() / temperature  # (B*K, t+2, 2, V)
            after = torch.softmax(out[:, t + 1, 0], -1).view(B, K, -1)  # (B, K, V): p1(. | x[..t], c)
            q = torch.softmax(out[:, t, 1], -1).view(B, K, -1)  # (B, K, V): head 2 at t (reads c if it can)
            weight = p_c / p_c.sum(-1, keepdim=True)  # (B, K): c ~ p1, renormalised over the top K
            marginal = (weight[..., None] * after).sum(1, keepdim=True)  # (B, 1, V): q*
            head2.append((weight * torch.minimum(after, q).sum(-1)).sum(-1))  # (B,)
            marginal_kept.append((weight * torch.minimum(after, marginal).sum(-1)).sum(-1))  # (B,)
            covered.append(p_c.sum(-1))  # (B,)
    mean = lambda values: float(torch.cat(values).mean())  # noqa: E731
    return {"head 2": mean(head2), "marginal": mean(marginal_kept), "covered": mean(covered),
            "positions": B * (L - 1)}
