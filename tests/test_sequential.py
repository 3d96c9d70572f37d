"""Sequential (Hydra) heads: head k reads the trunk's hidden state at t and the tokens x[t+1..t+k-1]
(core/heads.py); they draft one after the other (decoding/sequential_drafts.py)."""

from __future__ import annotations

import pytest
import torch
from conftest import random_model

from tinymtp.core.errors import TinyMTPError
from tinymtp.core.loss import check_memory_saving
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.data.corpora import shift_targets
from tinymtp.decoding.decode import decode_ids
from tinymtp.decoding.sequential_drafts import SequentialDrafter
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.decoding.window import SlidingWindow


def test_head_k_reads_the_tokens_before_its_target_and_nothing_after():
    model = random_model(vocab_size=6, n_heads=4, head_type="sequential", context_length=16, seed=3)
    x = torch.tensor([[1, 2, 3, 4, 5, 0, 1, 2]])  # (1, 8)
    base = model(x, ahead=shift_targets(x, 4)).logits[0]  # (8, 4, V)
    t = 2
    for k in (2, 3, 4):  # head k at t reads x[t+1 .. t+k-1] and must not see x[t+k] (its target) or later
        later = x.clone()
        later[0, t + k :] = (later[0, t + k :] + 1) % 6
        changed = model(later, ahead=shift_targets(later, 4)).logits[0]
        assert torch.allclose(changed[t, k - 1], base[t, k - 1])
        before = x.clone()
        before[0, t + k - 1] = (before[0, t + k - 1] + 1) % 6  # the token just before the target: it reads it
        assert not torch.allclose(model(before, ahead=shift_targets(before, 4)).logits[0, t, k - 1], base[t, k - 1])


def test_a_draft_step_is_the_full_forward_teacher_forced():
    model = random_model(vocab_size=6, n_heads=4, head_type="sequential", context_length=16, seed=5)
    x = torch.tensor([[3, 1, 4, 1, 5, 2, 0, 2]])
    out = model(x, ahead=shift_targets(x, 4))
    t = 3
    for k in (2, 3, 4):
        step = model.draft_step(k, out.trunk[0, t : t + 1], x[:, t + 1 : t + k])  # (1, V)
        assert torch.allclose(step[0], out.logits[0, t, k - 1], atol=1e-10)


@pytest.mark.parametrize("context_length", [9, 40])
def test_drafts_round_after_round_equal_the_full_forward_over_the_drafts(context_length):
    model = random_model(vocab_size=5, n_heads=4, head_type="sequential", context_length=context_length, seed=11)
    tokens = torch.randint(0, 5, (60,), generator=torch.Generator().manual_seed(2)).tolist()
    drafter, window = SequentialDrafter(model, 3), SlidingWindow(model, heads=1)
    p, checked = 2, 0
    with torch.inference_mode():
        while p + 4 < len(tokens):
            window.truncate(min(window.end, p + 1))
            fed = window.feed(tokens, p + 1)
            drafter.after_verify(window, fed, len(fed.logits) - 1, p + 1)
            drafts, q, _ = drafter.guess(tokens[p + 1], 3, 0.0, None, None)
            start = window.start
            chain = tokens[: p + 2] + drafts
            x = torch.tensor([chain[start : p + 1]])  # (1, L): the window up to p
            ahead = torch.tensor([[chain[t + j + 1] if t + j + 1 < len(chain) else 0 for j in range(3)]
                                  for t in range(start, p + 1)])[None]  # (1, L, 3)
            full = model(x, ahead=ahead).logits[0, -1]  # (4, V): every head at p, reading the drafts
            assert drafts == full[1:].argmax(-1).tolist(), p
            assert q == pytest.approx(torch.softmax(full[1:], -1).max(-1).values.tolist())
            checked += 3
            p += 1 + (p % 3)
    assert checked > 30


@pytest.mark.parametrize("mode", ["speculative", "tree"])
def test_speculative_and_tree_decoding_equal_greedy_across_window_restarts(mode):
    model = random_model(vocab_size=3, n_heads=4, head_type="sequential", context_length=9, seed=4)
    greedy = decode_ids(model, [0, 1, 2, 1], DecodeSettings("greedy", 120))
    spec = decode_ids(model, [0, 1, 2, 1], DecodeSettings(mode, 120))
    assert spec.tokens == greedy.tokens
    assert sum(r.accepted for r in spec.trace.rounds) > 0  # drafts were kept: the test means something
    assert any(r.reread for r in spec.trace.rounds)


def test_growing_sequential_heads_keeps_head_1_and_the_trunk():
    ntp = random_model(vocab_size=6, n_heads=1, context_length=16, seed=2)
    mtp = random_model(vocab_size=6, n_heads=4, context_length=16, seed=2)
    x = torch.tensor([[1, 2, 3, 4, 5]])
    for source in (ntp, mtp):
        grown = source.with_heads(4, head_type="sequential")
        assert grown.config.head_type == "sequential" and grown.n_heads == 4
        assert torch.equal(grown(x, ahead=shift_targets(x, 4)).logits[0, :, 0], source(x, heads=1).logits[0, :, 0])
        # a fresh sequential head starts as head 1's input: the same logits as a fresh identity head
        assert torch.allclose(grown.draft_step(2, grown(x, heads=1).trunk[0, :1], x[:, 1:2]),
                              grown.unembedding(grown.final_norm(grown(x, heads=1).trunk[0, :1])))


def test_one_head_and_the_memory_saving_backward_are_one_line_errors():
    with pytest.raises(TinyMTPError, match="sequential head type needs at least 2 heads"):
        ModelConfig(head_type="sequential", n_heads=1)
    with pytest.raises(TinyMTPError, match="memory-saving backward"):
        check_memory_saving(ModelConfig(head_type="sequential", n_heads=3))
    model = MTPModel(ModelConfig(vocab_size=5, context_length=8, d_model=8, n_layers=1, attn_heads=1, n_heads=3,
                                 head_type="sequential"))
    with pytest.raises(TinyMTPError, match="sequential head: it reads the tokens"):
        model(torch.tensor([[1, 2, 3]]))  # heads 2..n without the tokens ahead


def test_the_drafters_tables_give_the_draft_steps_numbers():
    """The drafter splits each head's first layer into a part from h and per-token tables: same numbers."""
    model = random_model(vocab_size=7, n_heads=4, head_type="sequential", context_length=16, seed=9)
    drafter = SequentialDrafter(model, 3)
    hidden = model(torch.tensor([[1, 2, 3, 4]]), heads=1).trunk[0, -1:]  # (1, C)
    drafter.start(hidden)
    for chain in ([0, 1, 2], [6, 6, 6], [3, 5, 1]):
        for k in (2, 3, 4):
            direct = model.draft_step(k, hidden, torch.tensor([chain[: k - 1]]))[0]
            assert torch.allclose(drafter.head_logits(k, chain), direct, atol=1e-10)


@pytest.mark.parametrize("temperature,top_k", [(1.0, None), (0.7, 3)])
def test_each_sampled_draft_is_drawn_from_the_q_it_reports(temperature, top_k):
    """Drafts are Gumbel-max draws (argmax of logits + T * noise): their frequencies must be the reported q,
    the first draft's and the second's given the first (chi-square over 6000 rounds from one state)."""
    from collections import Counter, defaultdict

    from scipy.stats import chisquare
    model = random_model(vocab_size=5, n_heads=3, head_type="sequential", context_length=16, seed=4)
    with torch.no_grad():
        for name, p in model.named_parameters():  # loud heads, so q is far from uniform
            if "heads" in name:
                p.normal_(0.0, 1.0)
    drafter = SequentialDrafter(model, 2)
    drafter.start(model(torch.tensor([[1, 2, 3]]), heads=1).trunk[0, -1:])
    generator, pairs, q2 = torch.Generator().manual_seed(0), Counter(), defaultdict(list)
    for _ in range(6000):
        drafts, q, _ = drafter.guess(4, 2, temperature, top_k, generator)
        pairs[tuple(drafts)] += 1
        q1 = q[0]
        q2[drafts[0]] = q[1]
    expected = {(a, b): float(q1[a] * q2[a][b]) for a in q2 for b in range(5)}
    assert sum(expected.values()) == pytest.approx(1.0, abs=0.02)  # nearly every first draft was seen
    if top_k:
        assert all(int((q2[a] > 0).sum()) == top_k for a in q2) and int((q1 > 0).sum()) == top_k
    total = sum(pairs.values())
    cells = [(pairs[c], e * total) for c, e in expected.items() if e * total >= 5]
    observed, wanted = zip(*cells)
    scale = sum(observed) / sum(wanted)  # compare the shapes of the cells with enough mass
    assert chisquare(observed, [w * scale for w in wanted]).pvalue > 0.01


def test_a_model_knows_when_another_has_its_trunk_and_head_1():
    """same_next_token_model: sequential heads grown on a model's frozen trunk can draft for it (the app's
    default drafter); one changed trunk weight, or another head 1, and they cannot."""
    model = random_model(vocab_size=7, n_heads=4, context_length=16, seed=3)
    grown = model.with_heads(5, "sequential")
    assert model.same_next_token_model(grown) and grown.same_next_token_model(model)
    with torch.no_grad():
        grown.trunk.blocks[0].mlp.up.weight[0, 0] += 1e-3
    assert not model.same_next_token_model(grown)
    assert not model.same_next_token_model(model.with_heads(4, "mlp"))  # head 1 an MLP head, not linear
