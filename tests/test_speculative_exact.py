"""Golden reference: every drafter reproduces plain greedy decoding token for token.

(a) ONE property, parametrized by drafter (the model's own heads, verified greedily and as
speculative sampling at temperature 0; a tree of their guesses; a separate draft model; prompt
lookup): float64 random tiny models of every head type, 1..4 heads, contexts short enough that the
sliding window restarts, and every cache slot a round forgets set to NaN, so a decoder that read a
rejected entry would go wrong; (b) the shipped 4-head checkpoint in float32 on held-out
python-stdlib prompts. The tree's own checks (its mask, its KV move) are in test_tree.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DECODING_CASES, PoisonedCache, greedy_case, poison_forgotten_slots, random_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinymtp.decoding.causal_drafts as causal_drafts
from tinymtp.core.errors import TinyMTPError
from tinymtp.decoding.decode import decode_ids
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.decoding.tree import make_tree

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny forwards: see conftest.one_thread


@st.composite
def tree_shapes(draw, max_depth: int, max_rank: int):
    """Random valid shapes: each new node hangs below the root or an existing node."""
    paths = set()
    for _ in range(draw(st.integers(1, 9))):
        parents = [()] + sorted(p for p in paths if len(p) < max_depth)
        parent = draw(st.sampled_from(parents))
        paths.add(parent + (draw(st.integers(0, max_rank - 1)),))
    return make_tree(paths)


def drafting_run(drafter: str, model, max_new_tokens: int, data):
    """(settings, draft model or None) for one drafter on `model`, its free choices drawn from `data`."""
    vocab_size = model.config.vocab_size
    if drafter in ("heads", "heads-sampling-at-0", "tree"):
        draft_len = data.draw(st.integers(1, model.n_heads - 1), label="draft_len")  # heads 2..draft_len+1
        if drafter == "heads":
            return DecodeSettings("speculative", max_new_tokens, draft_len=draft_len), None
        if drafter == "heads-sampling-at-0":  # temperature 0 turns the exact sampler into the greedy-exact rule
            return DecodeSettings("speculative-sample", max_new_tokens, temperature=0, draft_len=draft_len), None
        shape = data.draw(tree_shapes(draft_len, min(vocab_size, 3)), label="tree")
        return DecodeSettings("tree", max_new_tokens, draft_len=draft_len, tree=shape), None
    draft_len = data.draw(st.integers(1, 5), label="draft_len")  # tokens proposed per round
    if drafter == "lookup":
        return DecodeSettings("lookup", max_new_tokens, draft_len=draft_len), None
    draft = random_model(vocab_size, 1, "linear", data.draw(st.integers(2, 16), label="draft context"),
                         data.draw(st.integers(0, 10_000), label="draft seed"))
    poison_new_caches(draft)
    return DecodeSettings("draft-model", max_new_tokens, temperature=0, draft_len=draft_len), draft


def poison_new_caches(model) -> None:
    """poison_forgotten_slots for one example's fresh model (no monkeypatch: the model dies with it)."""
    original = model.new_cache

    def poisoned_cache(batch_size=1):
        c = original(batch_size)
        return PoisonedCache(c.keys.size(0), c.keys.size(2), c.keys.size(4), c.max_length, batch_size,
                             c.keys.dtype, c.keys.device)

    model.new_cache = poisoned_cache


# How many random cases each drafter sees: the tree has its shape to vary as well
EXAMPLES = {"heads": 30, "heads-sampling-at-0": 30, "tree": 80, "draft-model": 30, "lookup": 30}


@pytest.mark.parametrize("drafter", EXAMPLES)
def test_every_drafter_equals_greedy_property(drafter, monkeypatch):
    monkeypatch.setattr(causal_drafts, "KVCache", PoisonedCache)  # causal heads' own caches too

    @settings(max_examples=EXAMPLES[drafter], deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(**DECODING_CASES, data=st.data())
    def drafts_change_nothing(head_type, n_heads, vocab_size, context_length, seed, prompt, max_new_tokens, data):
        model, prompt, greedy = greedy_case(head_type, n_heads, vocab_size, context_length, seed, prompt,
                                            max_new_tokens)
        assert len(greedy.tokens) == max_new_tokens
        assert greedy.trace.forwards == max_new_tokens  # one token per forward, prefill included
        poison_new_caches(model)
        if model.n_heads == 1 and drafter in ("heads", "heads-sampling-at-0", "tree"):
            # decided: an n = 1 model has no drafting heads, so self-speculation is an error
            mode = "tree" if drafter == "tree" else "speculative"
            with pytest.raises(TinyMTPError, match="at least 2 heads"):
                decode_ids(model, prompt, DecodeSettings(mode, max_new_tokens))
            return
        settings_, draft = drafting_run(drafter, model, max_new_tokens, data)
        result = decode_ids(model, prompt, settings_, draft)
        assert result.tokens == greedy.tokens
        assert result.trace.summary()["tokens"] == max_new_tokens
        assert result.trace.forwards <= max_new_tokens  # a draft never costs the verifier a forward

    drafts_change_nothing()


@pytest.mark.parametrize("head_type", ["linear", "mlp", "block", "causal", "sequential"])
def test_speculative_equals_greedy_across_many_window_restarts(head_type):
    seed = 8 if head_type == "sequential" else 7  # seed 7's sequential heads never guess its 5-token cycle
    model = random_model(vocab_size=3, n_heads=4, head_type=head_type, context_length=9, seed=seed)
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


@pytest.mark.slow  # 32 prompts on the shipped model
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
