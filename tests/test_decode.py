"""The decoding modes: their contracts, edge cases, and the trace they return."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import random_model as shared_random_model

from tinymtp.core.errors import TinyMTPError, UnknownCharactersError
from tinymtp.data.tokenizer import CharTokenizer
from tinymtp.decoding.decode import DecodeResult, decode_ids, generate
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.decoding.window import window_start

VOCAB = "abcde"
V = len(VOCAB)


pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny forwards: see conftest.one_thread


def random_model(n_heads=4, head_type="linear", context_length=12, seed=0, vocab_size=V):
    return shared_random_model(vocab_size, n_heads, head_type, context_length, seed)


@pytest.fixture(scope="module")
def model():
    return random_model()


@pytest.fixture(scope="module")
def tokenizer():
    return CharTokenizer(VOCAB)


def block_positions(result, prompt_length):
    """(first, last) absolute position of every verify round's fed block."""
    spans, committed = [], 0
    for r in result.trace.rounds:
        if r.kind == "verify":
            first = prompt_length + committed - 1  # the sure token is the last committed one
            spans.append((first, first + len(r.fed) - 1, r))
        committed += len(r.committed)
    return spans


# ---- modes -------------------------------------------------------------------------------------

def test_generate_returns_the_continuation_without_the_prompt(model, tokenizer):
    result = generate(model, tokenizer, "abca", DecodeSettings("greedy", 15))
    assert isinstance(result, DecodeResult)
    assert len(result.tokens) == 15 and result.text == tokenizer.decode(result.tokens)
    assert decode_ids(model, tokenizer.encode("abca"), DecodeSettings("greedy", 15)).tokens == result.tokens


def test_sample_with_temperature_zero_or_top_1_is_greedy(model):
    greedy = decode_ids(model, [0, 1], DecodeSettings("greedy", 30)).tokens
    assert decode_ids(model, [0, 1], DecodeSettings("sample", 30, temperature=0)).tokens == greedy
    assert decode_ids(model, [0, 1], DecodeSettings("sample", 30, top_k=1, seed=5)).tokens == greedy


def test_sampling_is_seeded(model):
    a, b = (decode_ids(model, [0, 1], DecodeSettings("sample", 40, seed=3)).tokens for _ in range(2))
    c = decode_ids(model, [0, 1], DecodeSettings("sample", 40, seed=4)).tokens
    assert a == b and a != c


def test_top_k_limits_the_choices(model):
    with torch.no_grad():  # only the top-2 tokens of head 1 after each prefix may appear
        result = decode_ids(model, [0, 1, 2], DecodeSettings("sample", 12, temperature=2.0, top_k=2, seed=0))
        ids = [0, 1, 2]
        for token in result.tokens:
            context = ids[window_start(len(ids) - 1, 12) :]  # what the sliding window shows the model
            top2 = model(torch.tensor([context])).logits[0, -1, 0].topk(2).indices.tolist()
            assert token in top2
            ids.append(token)


@pytest.mark.parametrize("head_type", ["linear", "mlp", "block"])
def test_draft_model_greedy_equals_greedy(head_type):
    main = random_model(n_heads=2, head_type=head_type, context_length=10, seed=1)
    draft = random_model(n_heads=1, context_length=7, seed=2)
    greedy = decode_ids(main, [1, 2, 3], DecodeSettings("greedy", 50)).tokens
    for K in (1, 3, 5):
        result = decode_ids(main, [1, 2, 3], DecodeSettings("draft-model", 50, temperature=0, draft_len=K), draft_model=draft)
        assert result.tokens == greedy
        assert result.trace.summary()["draft_forwards"] > 0


def test_speculative_with_fewer_heads_uses_only_those_heads(model):
    result = decode_ids(model, [0, 1, 2], DecodeSettings("speculative", 40, draft_len=1))
    assert result.trace.drafters == [2]
    assert all(len(r.fed) <= 2 for r in result.trace.rounds if r.kind == "verify")
    assert result.tokens == decode_ids(model, [0, 1, 2], DecodeSettings("greedy", 40)).tokens


# ---- edge cases --------------------------------------------------------------------------------

def test_context_limit_reached_in_the_middle_of_a_block():
    model = random_model(n_heads=4, context_length=8, seed=0, vocab_size=4)  # accepts most drafts
    prompt = [1, 2, 3]
    greedy = decode_ids(model, prompt, DecodeSettings("greedy", 60))
    spec = decode_ids(model, prompt, DecodeSettings("speculative", 60))
    assert spec.tokens == greedy.tokens
    shortened = 0
    for first, last, r in block_positions(spec, len(prompt)):
        start = window_start(first, 8)
        assert window_start(last, 8) == start and last <= start + 7  # never crosses the window's end
        shortened += len(r.fed) < 4 and last == start + 7  # cut at the window's end
    assert shortened >= 2
    restarts = [r for r in spec.trace.rounds if r.reread]
    assert restarts and all("re-read" in r.note for r in restarts)
    assert all(r.cache_after == r.reread + 1 + r.accepted for r in restarts)


@pytest.mark.parametrize("max_new_tokens", [1, 2, 3])
def test_max_new_tokens_smaller_than_the_draft_block(model, max_new_tokens):
    greedy = decode_ids(model, [0, 1], DecodeSettings("greedy", max_new_tokens))
    for mode in ("speculative", "speculative-sample"):
        result = decode_ids(model, [0, 1], DecodeSettings(mode, max_new_tokens, temperature=0 if mode == "speculative" else 1))
        assert len(result.tokens) == max_new_tokens
        assert result.trace.summary()["tokens"] == max_new_tokens
    spec = decode_ids(model, [0, 1], DecodeSettings("speculative", max_new_tokens))
    assert spec.tokens == greedy.tokens
    assert spec.trace.forwards <= max_new_tokens
    if max_new_tokens == 1:
        assert spec.trace.forwards == 1 and spec.trace.rounds[0].kind == "prefill"


def test_prompt_longer_than_the_context(model):
    prompt = [0, 1, 2, 3, 4] * 5  # 25 tokens, context 12
    spec = decode_ids(model, prompt, DecodeSettings("speculative", 30))
    assert spec.tokens == decode_ids(model, prompt, DecodeSettings("greedy", 30)).tokens
    prefill = spec.trace.rounds[0]
    assert prefill.window_start > 0 and "prompt longer" in prefill.note
    assert prefill.fed == prompt[prefill.window_start :]


def test_empty_prompt_is_a_clear_error(model, tokenizer):
    with pytest.raises(TinyMTPError, match="the prompt is empty"):
        generate(model, tokenizer, "", DecodeSettings("speculative"))
    with pytest.raises(TinyMTPError, match="the prompt is empty"):
        decode_ids(model, [], DecodeSettings("greedy"))


def test_unknown_characters_are_named(model, tokenizer):
    with pytest.raises(UnknownCharactersError, match="'z'"):
        generate(model, tokenizer, "abz", DecodeSettings("greedy"))


@pytest.mark.parametrize("kwargs,words", [
    (dict(mode="speculative", draft_len=4), "between 1 and 3"),
    (dict(mode="speculative", draft_len=0), "between 1 and 3"),
    (dict(mode="greedy", draft_len=2), "drafts nothing"),
    (dict(mode="draft-model", draft_len=2), "needs a draft model"),
    (dict(mode="draft-model", draft_len=0), "1 to 16"),
    (dict(mode="lookup", draft_len=17), "1 to 16"),
    (dict(mode="beam"), "unknown mode"),
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(mode="sample", temperature=-1.0), "temperature"),
    (dict(mode="sample", top_k=0), "top-k"),
    (dict(mode="sample", top_k=99), "top-k"),
])
def test_bad_arguments_are_clear_errors(model, kwargs, words):
    with pytest.raises(TinyMTPError, match=words):
        draft = kwargs.pop("draft_model", None)
        decode_ids(model, [0, 1], DecodeSettings(**kwargs), draft)


def test_one_head_model_cannot_self_speculate_but_can_decode():
    model = random_model(n_heads=1)
    assert len(decode_ids(model, [0], DecodeSettings("greedy", 5)).tokens) == 5
    for mode in ("speculative", "speculative-sample"):
        with pytest.raises(TinyMTPError, match="at least 2 heads"):
            decode_ids(model, [0], DecodeSettings(mode, 5))


def test_draft_model_must_share_the_vocabulary(model):
    other = random_model(n_heads=1, vocab_size=6)
    with pytest.raises(TinyMTPError, match="vocabulary"):
        decode_ids(model, [0], DecodeSettings("draft-model", 5), draft_model=other)


def test_cache_is_reset_between_calls(model, tokenizer):
    for mode in ("greedy", "speculative", "speculative-sample"):
        a = generate(model, tokenizer, "abc", DecodeSettings(mode, 40, seed=1))
        generate(model, tokenizer, "eeeedd", DecodeSettings(mode, 25, seed=2))  # something else between
        b = generate(model, tokenizer, "abc", DecodeSettings(mode, 40, seed=1))
        assert a.tokens == b.tokens


def test_rollback_leaves_exactly_the_accepted_tokens_in_the_cache(model):
    result = decode_ids(model, [0, 1, 2], DecodeSettings("speculative", 60))
    rounds = [r for r in result.trace.rounds if r.kind == "verify"]
    assert any(r.accepted < len(r.fed) - 1 for r in rounds)  # some drafts were rejected
    for r in rounds:
        base = r.reread if r.reread else r.cache_before
        assert r.cache_after == base + 1 + r.accepted  # the sure token and the kept drafts, nothing more


# ---- trace -------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["greedy", "sample", "speculative", "speculative-sample", "draft-model"])
def test_trace_is_json_safe_and_adds_up(model, tokenizer, mode):
    draft = random_model(n_heads=1, seed=9)
    result = generate(model, tokenizer, "abcab", DecodeSettings(mode, 37, temperature=0.9, top_k=4), draft_model=draft)
    trace = result.trace
    data = trace.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    s = trace.summary()
    assert s["tokens"] == len(result.tokens) == 37 == sum(len(r.committed) for r in trace.rounds)
    assert s["forwards"] == len(trace.rounds)
    assert s["tokens_per_forward"] == round(37 / s["forwards"], 4)
    assert trace.rounds[0].kind == "prefill" and trace.tokens == result.tokens
    for row in s["acceptance_per_head"]:
        checks = [c for r in trace.rounds for c in r.checks if c.drafter == row["head"]]
        assert row["drafted"] == len(checks) and row["accepted"] == sum(c.accepted for c in checks)
    for r in trace.rounds:
        assert r.seconds >= 0 and 0 < r.next_prob <= 1
        if r.kind == "verify":
            drafts = r.fed[1:]
            assert r.committed == drafts[: r.accepted] + [r.next_token]
            assert r.next_kind == ("bonus" if r.accepted == len(drafts) else "corrected")
            assert [c.accepted for c in r.checks] == [True] * r.accepted + [False] * (len(drafts) - r.accepted)
            assert all(0 <= c.p <= 1 and 0 < c.q <= 1 for c in r.checks)
            if mode in ("speculative", "sample"):
                assert all(c.token == c.verifier_token for c in r.checks if c.accepted)
    if mode in ("greedy", "sample"):
        assert s["tokens_per_forward"] == 1.0 and not s["acceptance_per_head"]
    if mode == "speculative":
        assert 1.0 <= s["tokens_per_forward"] <= 4


def test_greedy_trace_probabilities_match_the_model(model):
    result = decode_ids(model, [0, 1, 2], DecodeSettings("speculative", 8))
    with torch.no_grad():
        ids = [0, 1, 2] + result.tokens
        probs = torch.softmax(model(torch.tensor([ids])).logits[0, :, 0], -1)  # head 1 everywhere: (T, V)
    position = 2  # the prefill's last position
    for r in result.trace.rounds:
        if r.kind == "verify":
            for c in r.checks:
                if c.accepted:  # the draft sits at position + offset, predicted at position + offset - 1
                    assert c.p == pytest.approx(float(probs[position + c.offset - 1, c.token]), abs=1e-9)
        position += len(r.committed)


def test_trace_upto_is_the_trace_after_its_first_rounds(model, tokenizer):
    result = generate(model, tokenizer, "abc", DecodeSettings("speculative", 8))
    partial = result.trace.upto(2)
    assert partial.forwards == 2 and partial.rounds == result.trace.rounds[:2]
    assert partial.stop_reason == "in progress"
    assert partial.summary()["tokens"] == sum(len(r.committed) for r in result.trace.rounds[:2])
    whole = result.trace.upto(len(result.trace.rounds))
    assert whole.summary()["tokens"] == 8 and whole.stop_reason == result.trace.stop_reason
