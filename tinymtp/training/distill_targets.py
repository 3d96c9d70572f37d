"""What distillation teaches heads 2..n: greedy decoding's own tokens (hard) or its distribution (soft).

For head k at position t of a window x, the target comes from greedy decoding continued from
x[0..t]: the token it writes at t+k (the hard target, for greedy speculative decoding) or
head 1's whole distribution at the step where it writes that token (the soft target, for
speculative sampling, which keeps a draft with probability min(1, p/q): a head whose q is close to
head 1's p is kept more often). `greedy_path` computes both in one batched pass: every prefix
of every window is a row, padded on the right; attention is causal, so the padding never changes
the positions before it, and n forwards continue all rows together (the trick of
`analysis.predictions.greedy_continuations`, which continues the prefixes of one prompt).

The losses: cross-entropy to the hard token, or KL(teacher || head k) to the soft one (the
cross-entropy to the teacher's probabilities minus the teacher's entropy, a constant). Both are
the mean over positions. `greedy_agreement` scores heads on held-out windows the same two ways.

Explained in docs/usage.md (distill); notebook 06 measures the speed-up that head agreement buys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.errors import TinyMTPError


@torch.no_grad()
def greedy_path(model, x: torch.Tensor) -> tuple:
    """x (B, L) -> tokens (B, L, n) and head 1's logits (B, L, n, V) along greedy's path.

    tokens[b, t, k-1] is the token greedy decoding from x[b, 0..t] writes at t+k;
    logits[b, t, k-1] are head 1's logits in the forward that chooses it (tokens = their argmax).
    """
    B, L = x.shape
    n, V = model.n_heads, model.config.vocab_size
    if L + n - 1 > model.config.context_length:
        raise TinyMTPError(f"{L} tokens plus {n - 1} greedy steps exceed the context length "
                           f"{model.config.context_length}")
    rows = x.repeat_interleave(L, dim=0)  # (B*L, L): row b*L + t is window b; only x[b, 0..t] matters
    rows = torch.cat([rows, rows.new_zeros(B * L, n - 1)], dim=1)  # (B*L, L+n-1): room for the continuation
    ends = torch.arange(L, device=x.device).repeat(B)  # (B*L,): row b*L + t ends at position t
    every_row = torch.arange(B * L, device=x.device)  # (B*L,)
    logits = torch.empty(B * L, n, V, device=x.device)  # (B*L, n, V)
    for j in range(n):
        if j == 0:  # every row is still its window: one (B, L) forward serves all of them
            last = model(x, heads=1).logits[:, :, 0].reshape(B * L, V)  # (B*L, V)
        else:  # positions past every row's current end are never read
            step = model(rows[:, : L + j], heads=1).logits[:, :, 0]  # (B*L, L+j, V)
            last = step[every_row, ends + j]  # (B*L, V): head 1 at each row's end
        logits[:, j] = last
        if j + 1 < n:
            rows[every_row, ends + j + 1] = last.argmax(-1)  # append greedy's token over the padding
    tokens = logits.argmax(-1)  # (B*L, n)
    return tokens.view(B, L, n), logits.view(B, L, n, V)


def greedy_targets(model, x: torch.Tensor) -> torch.Tensor:
    """x (B, L) -> (B, L, n): [b, t, k-1] is the token greedy decoding from x[b, 0..t] writes at t+k."""
    return greedy_path(model, x)[0]  # (B, L, n)


def teacher_log_probs(path_logits: torch.Tensor) -> torch.Tensor:
    """Head 1's log-probabilities along greedy's path, at temperature 1: (B, L, n, V) -> (B, L, n, V)."""
    return F.log_softmax(path_logits.float(), dim=-1)  # (B, L, n, V)


def hard_losses(logits: torch.Tensor, greedy: torch.Tensor) -> list:
    """Cross-entropy of heads 2..n (logits (B, L, n, V)) against greedy's tokens (B, L, n), head 2 first."""
    V = logits.size(-1)
    return [F.cross_entropy(logits[:, :, k].reshape(-1, V), greedy[:, :, k].reshape(-1))
            for k in range(1, logits.size(2))]


def soft_losses(logits: torch.Tensor, teacher: torch.Tensor) -> list:
    """KL(teacher || head k) per position, averaged, for heads 2..n, head 2 first.
    logits (B, L, n, V); teacher: log-probabilities (B, L, n, V) from `teacher_log_probs`."""
    V = logits.size(-1)
    return [F.kl_div(F.log_softmax(logits[:, :, k].reshape(-1, V), dim=-1), teacher[:, :, k].reshape(-1, V),
                     log_target=True, reduction="batchmean")
            for k in range(1, logits.size(2))]


def head_logits(model, x: torch.Tensor, greedy: torch.Tensor) -> torch.Tensor:
    """Every head's logits (B, L, n, V); causal heads read the greedy continuation as tokens ahead."""
    ahead = greedy[..., : model.n_heads - 1] if model.chained else None  # (B, L, n-1): x[t+1..t+n-1]
    return model(x, ahead=ahead).logits  # (B, L, n, V)


@torch.no_grad()
def greedy_agreement(model, x: torch.Tensor, greedy: torch.Tensor, teacher: torch.Tensor | None = None) -> list:
    """Per head k >= 2: the share of positions where head k's top guess is greedy's token at t+k,
    and, given the teacher's log-probabilities (B, L, n, V), the KL from them to head k ("kl")."""
    logits = head_logits(model, x, greedy)  # (B, L, n, V)
    hits = (logits.argmax(-1) == greedy).float().mean(dim=(0, 1))  # (n,)
    kl = [float(v) for v in soft_losses(logits, teacher)] if teacher is not None else None
    return [{"head": k + 1, "greedy_agreement": round(float(hits[k]), 4),
             **({"kl": round(kl[k - 1], 4)} if kl is not None else {})}
            for k in range(1, model.n_heads)]
