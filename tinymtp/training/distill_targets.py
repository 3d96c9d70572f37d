"""What distillation teaches heads 2..n: the model's own tokens (hard) or its distribution (soft).

For head k at position t of a window x, the target comes from greedy decoding continued from
x[0..t]: the token it writes at t+k (the hard target, for greedy speculative decoding) or
head 1's whole distribution at the step where it writes that token (the soft target, for
speculative sampling, which keeps a draft with probability min(1, p/q): a head whose q is close to
head 1's p is kept more often). `greedy_path` computes both in one batched pass
(decoding/batched.py's `every_prefix`: every prefix of every window is a row, and n forwards
continue all rows together).

On text the model sampled itself (text="sampled", at temperature 1) the targets need no greedy
path: the window IS the model's own continuation, so head k at t learns the window's token at
t+k (hard) or head 1's distribution at t+k-1 on the window (soft, `teacher_forced_losses`). The
soft target is then one draw of what speculative sampling checks head k against: averaged over
the model's samples, head 1's distribution at t+k-1 is p(x[t+k] | x[..t]), the marginal a
parallel head can learn, and exactly the conditional that a head reading the earlier drafts sees.

The losses: cross-entropy to the hard token, or KL(teacher || head k) to the soft one (the
cross-entropy to the teacher's probabilities minus the teacher's entropy, a constant). Both are
the mean over positions. `greedy_agreement` scores heads on held-out windows the same two ways,
and `sampling_agreement` by what min(1, p/q) keeps: sum over tokens of min(p, q).

Explained in docs/usage.md (distill); notebook 06 measures the speed-up that head agreement buys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.corpora import shift_targets
from ..decoding.batched import every_prefix


def greedy_path(model, x: torch.Tensor) -> tuple:
    """x (B, L) -> tokens (B, L, n) and head 1's logits (B, L, n, V) along greedy's path.

    tokens[b, t, k-1] is the token greedy decoding from x[b, 0..t] writes at t+k;
    logits[b, t, k-1] are head 1's logits in the forward that chooses it (tokens = their argmax).
    One batched decoder writes it (decoding/batched.py: every prefix of every window at once).
    """
    return every_prefix(model, x, model.n_heads)  # (B, L, n), (B, L, n, V)


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


def teacher_forced_losses(logits: torch.Tensor, x: torch.Tensor, target: str) -> list:
    """Heads 2..n on windows the model wrote itself: logits (B, L, n, V) of the window x (B, L).
    Hard: head k at t against x[t+k]; soft: KL(head 1 at t+k-1 || head k at t), head 1 detached.
    One loss per head, head 2 first, each the mean over the positions that have a target."""
    L, V = x.size(1), logits.size(-1)
    head1 = F.log_softmax(logits[:, :, 0].detach().float(), dim=-1)  # (B, L, V): the teacher at every position
    losses = []
    for k in range(1, logits.size(2)):  # head k + 1
        if target == "hard":
            q = logits[:, : L - k - 1, k].reshape(-1, V)  # head k+1 at t = 0 .. L-k-2
            losses.append(F.cross_entropy(q, x[:, k + 1 :].reshape(-1)))  # x[t+k+1]
        else:
            q = F.log_softmax(logits[:, : L - k, k].reshape(-1, V), dim=-1)  # head k+1 at t = 0 .. L-k-1
            losses.append(F.kl_div(q, head1[:, k:].reshape(-1, V), log_target=True, reduction="batchmean"))
    return losses


@torch.no_grad()
def sampling_agreement(model, x: torch.Tensor) -> list:
    """Per head k >= 2, on windows x (B, L) teacher-forced: the mean over positions of
    sum_v min(p(v), q(v)), p = head 1 at t+k-1, q = head k at t: the chance that exact speculative
    sampling keeps head k's draft when the drafts before it were kept (Leviathan et al. 2023)."""
    ahead = shift_targets(x, model.n_heads)[..., : model.n_heads - 1] if model.chained else None
    probs = torch.softmax(model(x, ahead=ahead).logits.float(), dim=-1)  # (B, L, n, V)
    L = x.size(1)
    return [{"head": k + 1, "sampling_agreement": round(float(
        torch.minimum(probs[:, k:, 0], probs[:, : L - k, k]).sum(-1).mean()), 4)} for k in range(1, model.n_heads)]
