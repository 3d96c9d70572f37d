"""The MTP loss: each head's cross-entropy, combined with weights.

Head k's loss is the cross-entropy of its guesses against the text shifted by k. The training
loss is the weighted mean of the heads' losses, sum_k w_k L_k / sum_k w_k, so it stays on the
same scale as one head's loss (near ln V at the start) whatever the weights:
- `equal`: every head weighs the same (Gloeckle et al. 2024 add the losses unweighted);
- `decay`: head 1 weighs 1 and head k >= 2 weighs 0.2 * 0.8^(k-1), the Medusa-2 recipe, which
  keeps the next-token head in charge (DeepSeek-V3 likewise adds its extra losses at 0.1-0.3);
- or an explicit list, one weight per head.

A curriculum (training/curriculum.py) keeps only heads 1..m in the loss at a step. The rule stays
one weighted mean: head k weighs w_k for k <= m and 0 after, so the loss is
sum_{k<=m} w_k L_k / sum_{k<=m} w_k (`combine_head_losses` given the losses of heads 1..m).

`memory_saving_backward` is Meta's order of work: run the trunk once, then each head's forward
AND backward in turn, adding up the gradient at the trunk's output, then one backward through
the trunk. Only one head's logits (B, T, V) live at a time instead of all n; the gradients are
the same as the plain path's (a test checks).

Explained in notebooks/03_heads_and_loss.ipynb.
"""

from __future__ import annotations

import torch.nn.functional as F

from .errors import TinyMTPError

IGNORE = -100  # target value for "no target here" (cross-entropy skips it); data.corpora writes it


def head_weights(scheme, n_heads: int) -> list[float]:
    if isinstance(scheme, (list, tuple)):
        if len(scheme) != n_heads or any(w < 0 for w in scheme) or sum(scheme) <= 0:
            raise TinyMTPError(f"loss weights must be {n_heads} non-negative numbers, not all zero")
        return [float(w) for w in scheme]
    if scheme == "equal":
        return [1.0] * n_heads
    if scheme == "decay":
        return [1.0] + [0.2 * 0.8 ** (k - 1) for k in range(2, n_heads + 1)]
    raise TinyMTPError(f"unknown loss weighting '{scheme}' (choose equal, decay, or a list)")


def head_loss(logits, targets):
    """One head's cross-entropy. logits (B, T, V), targets (B, T); IGNORE marks 'no target'."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE)


def head_losses(logits, targets) -> list:
    """logits (B, T, n, V), targets (B, T, n) -> one scalar per head, head 1 first."""
    return [head_loss(logits[:, :, k], targets[:, :, k]) for k in range(logits.size(2))]


def weights_in_loss(scheme, n_heads: int, heads: int | None = None) -> list[float]:
    """The weights of heads 1..heads (default all n): the scheme's first `heads` weights, which must
    not all be 0 (the rest of the n heads are out of the loss at this step)."""
    heads = n_heads if heads is None else heads
    if not 1 <= heads <= n_heads:
        raise TinyMTPError(f"the heads in the loss must be 1..m with m from 1 to {n_heads}, got m = {heads}")
    weights = head_weights(scheme, n_heads)[:heads]
    if not sum(weights) > 0:
        raise TinyMTPError(f"the heads in the loss (1..{heads}) all have loss weight 0")
    return weights


def combine_head_losses(losses, scheme="equal"):
    """The weighted mean of the losses of heads 1..m (m = len(losses); a list scheme may name more heads)."""
    n_heads = max(len(scheme), len(losses)) if isinstance(scheme, (list, tuple)) else len(losses)
    weights = weights_in_loss(scheme, n_heads, len(losses))
    return sum(w * loss for w, loss in zip(weights, losses)) / sum(weights)


def check_memory_saving(model_config) -> None:
    """The head-by-head backward needs heads that read only the trunk: not causal or sequential heads."""
    if model_config.head_type in ("causal", "sequential"):
        raise TinyMTPError(f"the memory-saving backward works with linear, mlp and block heads; {model_config.head_type} "
                           "heads read the tokens ahead, so train them without --memory-saving")


def memory_saving_backward(model, idx, targets, heads: int | None = None):
    """Backward pass in Meta's order; returns (combined loss, per-head losses) as floats' tensors.

    idx (B, T), targets (B, T, n). `heads`: only heads 1..heads are in the loss (a curriculum's
    step; default all n), and only they run. Gradients land in model's .grad exactly as
    loss.backward() of the plain forward with the same `heads` would put them.
    """
    check_memory_saving(model.config)
    weights = weights_in_loss(model.config.loss_weights, model.n_heads, heads)
    total = sum(weights)
    hidden = model.trunk(idx)  # (B, T, C)
    hidden_leaf = hidden.detach().requires_grad_(True)  # the heads' gradients collect here
    losses = []
    for k in range(1, len(weights) + 1):
        logits = model.head_logits(hidden_leaf, k)  # (B, T, V): only this head's logits are alive
        loss = head_loss(logits, targets[:, :, k - 1])
        (loss * (weights[k - 1] / total)).backward()  # frees this head's graph before the next
        losses.append(loss.detach())
    hidden.backward(hidden_leaf.grad)  # one pass back through the trunk
    combined = sum(w * loss for w, loss in zip(weights, losses)) / total
    return combined, losses
