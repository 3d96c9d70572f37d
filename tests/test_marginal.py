"""What a parallel head aims at (tinymtp/analysis/marginal.py), against a sum written out token by token.

For a tiny random model with linear heads (head 2 cannot read the sure token c) or sequential ones
(it can), the expected acceptance of head 2's draft and of the marginal q* are computed here with
one forward per (position, c), every c of the vocabulary weighted by head 1's probability, and
compared with `head2_acceptance`'s batched sum; fewer sure tokens than the vocabulary cover less
than all of p1.
"""

from __future__ import annotations

import pytest
import torch
from sampling_checks import random_model as sampling_model

from tinymtp.analysis.marginal import head2_acceptance
from tinymtp.core.errors import TinyMTPError
from tinymtp.core.model import MTPModel

V = 5


def random_model(head_type: str = "linear", n_heads: int = 3) -> MTPModel:
    return sampling_model(n_heads, seed=1, head_type=head_type, vocab_size=V)


def by_hand(model, windows: torch.Tensor, temperature: float) -> tuple[float, float]:
    """(head 2's acceptance, the marginal's), position by position and c by c. Head 2's q is read at t
    from a forward fed x[..t] then c, with c as the token ahead (a head that cannot read it ignores it)."""
    head2, marginal = [], []
    with torch.no_grad():
        for row in windows.tolist():
            for t in range(len(row) - 1):
                out = model(torch.tensor([row[: t + 1]]), heads=1).logits[0, t, 0].double() / temperature  # (V,)
                p1 = torch.softmax(out, -1)  # (V,)
                after, q = [], []
                for c in range(V):
                    fed = torch.tensor([row[: t + 1] + [c]])  # (1, t + 2)
                    ahead = torch.tensor([[[x, 0] for x in row[1: t + 1] + [c, 0]]])  # (1, t + 2, 2): x[t+1], x[t+2]
                    two = model(fed, ahead=ahead).logits[0].double() / temperature  # (t + 2, n, V)
                    after.append(torch.softmax(two[t + 1, 0], -1))  # (V,): p1(. | x[..t], c)
                    q.append(torch.softmax(two[t, 1], -1))  # (V,): head 2 at t, given c if it reads it
                q_star = sum(p1[c] * after[c] for c in range(V))  # (V,)
                head2.append(sum(float(p1[c] * torch.minimum(after[c], q[c]).sum()) for c in range(V)))
                marginal.append(sum(float(p1[c] * torch.minimum(after[c], q_star).sum()) for c in range(V)))
    return sum(head2) / len(head2), sum(marginal) / len(marginal)


@pytest.mark.parametrize("head_type, temperature", [("linear", 1.0), ("linear", 0.6), ("sequential", 1.0)])
def test_head2_acceptance_is_the_sum_over_every_sure_token(head_type, temperature):
    model = random_model(head_type)
    windows = torch.randint(0, V, (2, 6), generator=torch.Generator().manual_seed(0))  # (B, L)
    result = head2_acceptance(model, windows, top=V, temperature=temperature)
    head2, marginal = by_hand(model, windows, temperature)
    assert result["head 2"] == pytest.approx(head2, abs=1e-9)
    assert result["marginal"] == pytest.approx(marginal, abs=1e-9)
    assert result["covered"] == pytest.approx(1.0)
    assert result["positions"] == 2 * 5
    assert 0 < result["head 2"] < 1 and 0 < result["marginal"] < 1


def test_fewer_sure_tokens_cover_less_of_head_1():
    model = random_model()
    windows = torch.randint(0, V, (1, 5), generator=torch.Generator().manual_seed(2))
    one = head2_acceptance(model, windows, top=1)
    assert 0 < one["covered"] < head2_acceptance(model, windows, top=3)["covered"] < 1


def test_a_head_that_reads_the_sure_token_depends_on_it_and_a_parallel_one_does_not():
    windows = torch.randint(0, V, (1, 5), generator=torch.Generator().manual_seed(3))
    for head_type, reads in (("linear", False), ("sequential", True)):
        model = random_model(head_type)
        heads = [model(torch.tensor([[1, 2, c]]), ahead=torch.tensor([[[2, 0], [c, 0], [0, 0]]])).logits[0, 1, 1]
                 for c in (0, 3)]  # head 2 at position 1, with two different sure tokens after it
        assert (not torch.allclose(*heads)) == reads, head_type
        result = head2_acceptance(model, windows, top=V)
        assert (result["head 2"] != pytest.approx(result["marginal"], abs=1e-6))


def test_bad_requests_are_refused_in_one_line():
    windows = torch.zeros(1, 4, dtype=torch.long)
    with pytest.raises(TinyMTPError, match="at least 2 heads"):
        head2_acceptance(random_model(n_heads=1), windows)
    with pytest.raises(TinyMTPError):
        head2_acceptance(random_model(), windows[:, :1])
    with pytest.raises(TinyMTPError):
        head2_acceptance(random_model(), windows, temperature=0)
