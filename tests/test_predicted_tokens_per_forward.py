"""predicted_tokens_per_forward (tinymtp/analysis/predictions.py), notebook 05's estimate of the speed-up from
the heads' guesses: on hand-made guesses, and against real first rounds of the speculative decoder."""

from __future__ import annotations

import pytest
import torch

from tinymtp.analysis.predictions import HeadPredictions, head_predictions, predicted_tokens_per_forward
from tinymtp.core.errors import TinyMTPError
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.data.corpora import shift_targets
from tinymtp.data.tokenizer import CharTokenizer
from tinymtp.decoding.decode import decode_ids
from tinymtp.decoding.settings import DecodeSettings


def hand_made(guesses: list, greedy: list) -> HeadPredictions:
    """Predictions whose top guesses and head-1 continuations are given, [t][k-1]."""
    T, n = len(guesses), len(guesses[0])
    return HeadPredictions(text="", tokens=[0] * T, chars=[""] * T, n_heads=n,
                           top_tokens=[[[g] for g in row] for row in guesses], top_chars=[], top_probs=[],
                           real=[[None] * n for _ in range(T)], greedy=greedy)


def test_counts_the_drafting_heads_that_agree_in_a_row():
    greedy = [[1, 2, 3, 4]] * 3
    guesses = [[1, 2, 3, 4],  # heads 2, 3, 4 all agree: 3 drafts kept
               [1, 2, 9, 4],  # head 3 disagrees: head 4's agreement does not count
               [1, 9, 3, 4]]  # head 2 disagrees: nothing kept
    assert predicted_tokens_per_forward([hand_made(guesses, greedy)]) == pytest.approx(1 + (3 + 1 + 0) / 3)
    one_head = hand_made([[5], [6]], [[5], [6]])
    assert predicted_tokens_per_forward([one_head]) == 1.0  # no drafting heads: one token per forward
    with pytest.raises(TinyMTPError):
        predicted_tokens_per_forward([])


def test_equals_the_first_round_of_the_speculative_decoder_at_every_position():
    """A round started at position t keeps exactly the agreeing heads in a row (float64: no ties)."""
    text = "def add(a, b):\n    return a + b\n"
    tokenizer = CharTokenizer.from_text(text)
    torch.manual_seed(3)
    model = MTPModel(ModelConfig.from_preset("micro", vocab_size=tokenizer.vocab_size, n_heads=4)).double().eval()
    # a few steps of training on the text, so the heads agree with head 1 sometimes, not always nor never
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    ids = torch.tensor([tokenizer.encode(text)])  # (1, T)
    for _ in range(10):
        optimizer.zero_grad()
        model(ids, shift_targets(ids, 4)).loss.backward()
        optimizer.step()
    model.eval()
    pred = head_predictions(model, tokenizer, text[:24])
    kept = []
    for t in range(pred.length):
        result = decode_ids(model, pred.tokens[: t + 1], DecodeSettings("speculative", 5))
        kept.append(result.trace.rounds[1].accepted)  # round 0 is the prefill, round 1 the first verify
    assert predicted_tokens_per_forward([pred]) == pytest.approx(1 + sum(kept) / len(kept))
    assert 0 < sum(kept) < 3 * len(kept)  # the case is not trivial: some drafts kept, not all
