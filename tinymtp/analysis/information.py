"""Why predicting two tokens can teach more: entropies from counts, and Gloeckle et al.'s decomposition.

Gloeckle et al. 2024 (section 5.2, "Information-theoretic argument") look at the next two tokens:
X, the token at t+1, and Y, the token at t+2, given the text so far. Next-token prediction,
taught with the real X before it predicts Y, pays H(X) + H(Y | X); 2-token prediction predicts Y
without seeing X and pays H(X) + H(Y). Split each term with H(X) = H(X | Y) + I(X; Y) and
H(Y) = H(Y | X) + I(X; Y):

    next-token:   H(X) + H(Y | X) = H(X | Y) +   I(X; Y) + H(Y | X)
    2-token:      H(X) + H(Y)     = H(X | Y) + 2 I(X; Y) + H(Y | X)

The mutual information I(X; Y), the part of X that matters for what comes after it, is counted
twice by the 2-token loss and once by the next-token loss (the paper's reading: MTP puts more
weight on tokens that decide the continuation). The difference of the two losses is I(X; Y).
The paper writes the next-token side as H(X) = H(X | Y) + I(X; Y), dropping H(Y | X), which
next-token prediction pays again at the following position; the two-term form above is the same
statement with that term kept on both sides.

Here the "text so far" is the last `context` characters C (0, 1 or 2 of them), and every
probability is a frequency counted on a corpus, so each quantity is exact for that count:
H(X | C), H(Y | X, C), I(X; Y | C) ... in nats (natural log, like the training losses). The
entropies come from marginal counts and I(X; Y | C) from its own formula, so checking that the
two sides of each line agree is a real check of the identity on real text, not a restatement.
A longer context would need counts of every (context, X, Y) seen, which grow fast and undercount
rare contexts: the model's trunk does this job with a learned summary instead.

Explained in notebooks/08_related_ideas.ipynb.
"""

from __future__ import annotations

import math

import torch

from ..core.errors import TinyMTPError

MAX_CONTEXT = 2  # characters of context counted; more makes most (C, X, Y) seen once or never


def entropy(counts: torch.Tensor) -> float:
    """Entropy in nats of the distribution proportional to `counts` (any shape; zero cells ignored)."""
    counts = torch.as_tensor(counts, dtype=torch.float64).flatten()  # (cells,)
    if (counts < 0).any() or counts.sum() <= 0:
        raise TinyMTPError("entropy needs counts that are >= 0 and not all zero")
    p = counts[counts > 0] / counts.sum()  # (nonzero cells,)
    return float(-(p * p.log()).sum())


def mutual_information(counts: torch.Tensor) -> float:
    """I(X; Y) in nats from a (values of X, values of Y) table of joint counts.

    I = sum over cells of p(x, y) log( p(x, y) / (p(x) p(y)) ), cells with no count left out.
    """
    joint = torch.as_tensor(counts, dtype=torch.float64)  # (Vx, Vy)
    if joint.dim() != 2 or (joint < 0).any() or joint.sum() <= 0:
        raise TinyMTPError("mutual_information needs a 2-D table of counts >= 0, not all zero")
    p = joint / joint.sum()  # (Vx, Vy)
    px, py = p.sum(dim=1, keepdim=True), p.sum(dim=0, keepdim=True)  # (Vx, 1), (1, Vy)
    seen = p > 0
    return float((p[seen] * (p[seen] / (px * py).expand_as(p)[seen]).log()).sum())


def _columns(ids: torch.Tensor, context: int) -> tuple:
    """(C, X, Y) for every position with `context` characters before X and one after it.

    C is the context written as one number (base V), so a tuple of characters is one key."""
    N = ids.numel() - context - 1  # positions with a full context and a Y
    V = int(ids.max()) + 1
    c = torch.zeros(N, dtype=torch.long)  # (N,)
    for j in range(context):
        c = c * V + ids[j : j + N]
    return c, ids[context : context + N], ids[context + 1 : context + 1 + N], V  # each (N,)


def _key(columns: tuple, V: int) -> torch.Tensor:
    """One number per row for a tuple of columns (base V; the context column counts as one digit
    group already), so counting rows is a fast 1-D torch.unique."""
    key = columns[0].clone()  # (N,)
    for column in columns[1:]:
        key = key * V + column  # (N,): below V ** (context + 2), far inside int64
    return key


def _joint_entropy(columns: tuple, V: int) -> float:
    """Entropy of the joint distribution of the columns, counted over the N rows."""
    _, counts = torch.unique(_key(columns, V), return_counts=True)  # (distinct rows,)
    return entropy(counts)


def _conditional_mutual_information(c: torch.Tensor, x: torch.Tensor, y: torch.Tensor, V: int) -> float:
    """I(X; Y | C) from its own formula: the mean over rows of log( n(c,x,y) n(c) / (n(c,x) n(c,y)) )."""

    def count_of_each_row(*columns):
        _, inverse, counts = torch.unique(_key(columns, V), return_inverse=True, return_counts=True)
        return counts[inverse].double()  # (N,): how often this row's value occurs

    ratio = count_of_each_row(c, x, y) * count_of_each_row(c) / (count_of_each_row(c, x) * count_of_each_row(c, y))
    return float(ratio.log().mean())


def two_token_decomposition(ids, context: int = 1) -> dict:
    """Both sides of Gloeckle et al.'s decomposition, counted on the token ids `ids`.

    X = the token after a context of `context` tokens, Y = the one after X. Returns, in nats:
    H(X|C), H(Y|C), H(X|Y,C), H(Y|X,C), I(X;Y|C), the two losses computed directly
    (next_token_loss = H(X|C) + H(Y|X,C), two_token_loss = H(X|C) + H(Y|C)), their
    decompositions (next_token_parts, two_token_parts, each summed from H(X|Y,C), I and H(Y|X,C)),
    and `positions`, the number of (C, X, Y) counted.
    """
    ids = torch.as_tensor(ids, dtype=torch.long).flatten()  # (T,)
    if not 0 <= context <= MAX_CONTEXT:
        raise TinyMTPError(f"context must be 0..{MAX_CONTEXT} characters, got {context}")
    if ids.numel() < context + 2 or (ids < 0).any():
        raise TinyMTPError(f"need at least {context + 2} token ids >= 0 to count a context, X and Y")
    c, x, y, V = _columns(ids, context)
    h_c, h_cx, h_cy, h_cxy = (_joint_entropy((c,), V), _joint_entropy((c, x), V), _joint_entropy((c, y), V),
                              _joint_entropy((c, x, y), V))
    h_x, h_y = h_cx - h_c, h_cy - h_c  # H(X|C), H(Y|C)
    h_x_given_y, h_y_given_x = h_cxy - h_cy, h_cxy - h_cx  # H(X|Y,C), H(Y|X,C)
    info = _conditional_mutual_information(c, x, y, V)
    return {
        "context": context, "positions": int(x.numel()),
        "H(X)": h_x, "H(Y)": h_y, "H(X|Y)": h_x_given_y, "H(Y|X)": h_y_given_x, "I(X;Y)": info,
        "next_token_loss": h_x + h_y_given_x, "next_token_parts": h_x_given_y + info + h_y_given_x,
        "two_token_loss": h_x + h_y, "two_token_parts": h_x_given_y + 2 * info + h_y_given_x,
    }


def bits(nats: float) -> float:
    """Nats to bits (a character's worth of information is easier to picture in bits)."""
    return nats / math.log(2)


def entropy_ahead(ids, context: int = 2, k: int = 1) -> float:
    """H(x[t+k] | the `context` tokens ending at x[t]) in nats, counted on the token ids `ids`.

    k = 1 is H(X | C) above, k = 2 is H(Y | C). Notebook 04 reads it for k = 1..4: the same context
    tells less and less about a token further ahead, which is why head k's loss grows with k.
    """
    ids = torch.as_tensor(ids, dtype=torch.long).flatten()  # (T,)
    if not 0 <= context <= MAX_CONTEXT:
        raise TinyMTPError(f"context must be 0..{MAX_CONTEXT} characters, got {context}")
    if k < 1:
        raise TinyMTPError(f"k (how far ahead) must be at least 1, got {k}")
    N = ids.numel() - context - k + 1  # positions t with a full context and a token k places on
    if N < 1 or (ids < 0).any():
        raise TinyMTPError(f"need at least {context + k} token ids >= 0 to count a context and x[t+{k}]")
    V = int(ids.max()) + 1
    c = torch.zeros(N, dtype=torch.long)  # (N,): row i's context ids[i .. i+context-1] as one number
    for j in range(context):
        c = c * V + ids[j : j + N]
    ahead = ids[context + k - 1 : context + k - 1 + N]  # (N,): the token k places after the context's end
    return _joint_entropy((c, ahead), V) - _joint_entropy((c,), V)
