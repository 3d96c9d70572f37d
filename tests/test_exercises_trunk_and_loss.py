"""The code exercises of notebooks 02 and 03 reject the slips their folded solutions warn about, and
their hidden cases cover what the notebooks promise (test_notebooks.py grades right, blank and odd answers)."""

from __future__ import annotations

import math

import torch

from tinymtp.data.corpora import IGNORE
from tinymtp.exercises import EXERCISES, grade
from tinymtp.exercises.nb03 import pooled_loss


def _mask_upside_down(q, k):
    T = q.size(-2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, H, T, T)
    scores = scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).triu(), -math.inf)  # sees the future
    return torch.softmax(scores, dim=-1)  # (B, H, T, T)


def _no_mask(q, k):
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-1)  # (B, H, T, T)


def test_attention_check_rejects_a_reversed_or_missing_mask():
    for slip in (_mask_upside_down, _no_mask):
        assert grade("02.attention_weights", slip)[0] == "wrong"


def test_attention_cases_include_one_position_and_several_attention_heads():
    cases = EXERCISES["02.attention_weights"].hidden_cases()
    shapes = [tuple(case["q"].shape) for case in cases]
    assert any(shape[2] == 1 for shape in shapes) and any(shape[1] > 1 for shape in shapes)


def test_loss_check_rejects_one_pooled_cross_entropy():
    status, message = grade("03.mtp_loss", pooled_loss)
    assert status == "wrong" and "expected" in message


def test_loss_cases_cover_ignored_targets_and_every_kind_of_weights():
    cases = EXERCISES["03.mtp_loss"].hidden_cases()
    kinds = {case["weights"] if isinstance(case["weights"], str) else "list" for case in cases}
    assert kinds == {"equal", "decay", "list"}
    for case in cases:
        targets = case["targets"]  # (B, T, n)
        n = targets.size(2)
        assert (targets[:, -1, n - 1] == IGNORE).all()  # the shift picture's "no target"
        assert (targets[:, 0] != IGNORE).all()  # every head keeps a target: no nan loss
    assert any(((c["targets"][:, :-4] == IGNORE).any()) for c in cases)  # scattered ones, not only the tail
