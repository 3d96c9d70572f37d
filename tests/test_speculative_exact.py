"""Golden reference: speculative decoding must reproduce plain greedy decoding token for token.

(a) property-based, float64, random tiny models of every head type, 1..4 heads, contexts short
enough that the sliding window restarts; (b) the shipped 4-head checkpoint in float32 on
held-out python-stdlib prompts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DECODING_CASES, greedy_case, poison_forgotten_slots, random_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinymtp.core.errors import TinyMTPError
from tinymtp.decoding.decode import decode_ids
from tinymtp.decoding.settings import DecodeSettings

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny forwards: see conftest.one_thread


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**DECODING_CASES, data=st.data())
def test_speculative_equals_greedy_property(head_type, n_heads, vocab_size, context_length, seed, prompt,
                                            max_new_tokens, data):
    model, prompt, greedy = greedy_case(head_type, n_heads, vocab_size, context_length, seed, prompt, max_new_tokens)
    assert len(greedy.tokens) == max_new_tokens
    assert greedy.trace.forwards == max_new_tokens  # one token per forward, prefill included
    if n_heads == 1:  # decided: an n = 1 model has no drafting heads, so speculative is an error
        with pytest.raises(TinyMTPError, match="at least 2 heads"):
            decode_ids(model, prompt, DecodeSettings("speculative", max_new_tokens))
        return
    heads = data.draw(st.integers(2, n_heads), label="heads")
    spec = decode_ids(model, prompt, DecodeSettings("speculative", max_new_tokens, draft_len=heads - 1))
    assert spec.tokens == greedy.tokens
    # temperature 0 turns speculative sampling into the same greedy-exact algorithm
    assert decode_ids(model, prompt, DecodeSettings("speculative-sample", max_new_tokens, temperature=0, draft_len=heads - 1)).tokens \
        == greedy.tokens


@pytest.mark.parametrize("head_type", ["linear", "mlp", "block", "causal"])
def test_speculative_equals_greedy_across_many_window_restarts(head_type):
    model = random_model(vocab_size=3, n_heads=4, head_type=head_type, context_length=9, seed=7)
    greedy = decode_ids(model, [0, 1, 2, 1], DecodeSettings("greedy", 120))
    spec = decode_ids(model, [0, 1, 2, 1], DecodeSettings("speculative", 120))
    assert spec.tokens == greedy.tokens
    assert any(r.reread for r in spec.trace.rounds) and any(r.reread for r in greedy.trace.rounds)
    assert sum(r.accepted for r in spec.trace.rounds) > 0  # the test means something: drafts were kept


@pytest.mark.parametrize("head_type", ["linear", "block"])
def test_rejected_cache_entries_are_never_read(head_type, monkeypatch):
    model = random_model(vocab_size=4, n_heads=4, head_type=head_type, context_length=12, seed=1)
    greedy = decode_ids(model, [1, 2, 3], DecodeSettings("greedy", 40))
    poison_forgotten_slots(model, monkeypatch)
    spec = decode_ids(model, [1, 2, 3], DecodeSettings("speculative", 40))
    assert spec.tokens == greedy.tokens
    assert any(r.accepted < len(r.fed) - 1 for r in spec.trace.rounds if r.kind == "verify")  # rejections happened


def test_speculative_equals_greedy_on_the_shipped_checkpoint():
    path = CHECKPOINTS / "mtp-4head"
    if not (path / "config.json").exists():
        pytest.skip(f"no shipped checkpoint at {path} (the lead ships it; see the README recipe)")
    from tinymtp.analysis.speedup import heldout_prompts
    from tinymtp.files.checkpoint import load_checkpoint

    ckpt = load_checkpoint(str(path))
    prompts = heldout_prompts(ckpt.tokenizer, count=32, length=40)
    assert len(prompts) >= 30
    tokens_fed = 0
    for prompt in prompts:  # float32, as shipped; 96 new tokens cross the 128-token context
        ids = ckpt.tokenizer.encode(prompt)
        greedy = decode_ids(ckpt.model, ids, DecodeSettings("greedy", 96))
        spec = decode_ids(ckpt.model, ids, DecodeSettings("speculative", 96))
        assert spec.tokens == greedy.tokens, prompt
        tokens_fed += len(spec.tokens)
    assert tokens_fed == 96 * len(prompts)
