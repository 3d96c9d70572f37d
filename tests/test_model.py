"""The MTP model: shapes, causality, initial loss, attention paths, KV cache, head types."""

import math

import pytest
import torch

from tinymtp.core.config import HEAD_TYPES  # every head type the model offers, none left out
from tinymtp.core.errors import TinyMTPError
from tinymtp.core.loss import head_weights, memory_saving_backward
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.data.corpora import shift_targets


def micro(head_type="linear", n_heads=3, vocab_size=13, **kw):
    return MTPModel(ModelConfig.from_preset("micro", vocab_size=vocab_size, n_heads=n_heads,
                                            head_type=head_type, **kw)).double()


def logits(model, x):
    """Every head's logits (B, T, n, V) for x (B, T); heads that read the tokens before the one they
    predict (causal, sequential) read them from x itself, as in training."""
    return model(x, ahead=shift_targets(x, model.n_heads)).logits


def test_the_head_types_tested_here_include_the_chained_ones():
    assert {"linear", "mlp", "block", "causal"} <= set(HEAD_TYPES)


@pytest.mark.parametrize("head_type", HEAD_TYPES)
def test_logits_have_one_row_per_head(head_type):
    model = micro(head_type, n_heads=4)
    x = torch.randint(0, 13, (2, 9))
    out = model(x, ahead=shift_targets(x, 4))
    assert out.logits.shape == (2, 9, 4, 13)
    assert out.loss is None


@pytest.mark.parametrize("head_type", HEAD_TYPES)
def test_changing_a_future_token_leaves_earlier_logits_of_every_head_unchanged(head_type):
    """Head k at t sees x[..t]; a head that reads the tokens in between (causal, sequential) sees
    x[..t+k-1] and nothing further. Changing x[s] changes head k from exactly that position on."""
    model = micro(head_type, n_heads=4).eval()
    with torch.no_grad():
        for head in model.heads:  # heads that start as the identity would hide a leak between heads
            for p in head.parameters():
                p.normal_(0.0, 0.2)
    x = torch.randint(0, 13, (1, 20))
    s = 12
    changed = x.clone()
    changed[0, s] = (changed[0, s] + 1) % 13
    before, after = logits(model, x), logits(model, changed)  # (1, 20, 4, 13)
    for k in range(1, 5):
        first_seen = s - (k - 1 if model.chained and k > 1 else 0)  # the first position head k reads x[s] at
        assert torch.equal(before[0, :first_seen, k - 1], after[0, :first_seen, k - 1]), k
        assert not torch.allclose(before[0, first_seen, k - 1], after[0, first_seen, k - 1]), k


@pytest.mark.parametrize("head_type", HEAD_TYPES)
def test_initial_loss_is_near_ln_vocab(head_type):
    model = micro(head_type, n_heads=4, vocab_size=50)
    x = torch.randint(0, 50, (8, 32))
    out = model(x, shift_targets(x, 4))
    assert abs(out.loss.item() - math.log(50)) < 0.15
    assert len(out.head_losses) == 4 and out.next_token_loss is out.head_losses[0]


def test_heads_are_separate_modules_not_one_shared():
    model = micro("mlp", n_heads=4)
    assert len({id(h) for h in model.heads}) == 4
    assert len({id(h.linear.weight) for h in model.heads}) == 4


def test_mlp_heads_start_as_identity_and_linear_heads_too():
    for head_type in ("mlp", "linear"):
        model = micro(head_type, n_heads=2)
        hidden = torch.randn(1, 5, 32, dtype=torch.float64)
        for head in model.heads:
            assert torch.allclose(head(hidden), hidden)


@pytest.mark.parametrize("head_type", HEAD_TYPES)
def test_a_model_overfits_one_batch(head_type):
    torch.manual_seed(0)
    model = MTPModel(ModelConfig.from_preset("micro", vocab_size=10, n_heads=2, head_type=head_type))
    x = torch.randint(0, 10, (4, 16))
    targets = shift_targets(x, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(150):
        optimizer.zero_grad()
        loss = model(x, targets).loss
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1


@pytest.mark.parametrize("head_type", HEAD_TYPES)
def test_written_out_attention_equals_pytorch_fast_path(head_type):
    model = micro(head_type, n_heads=2).eval()
    x = torch.randint(0, 13, (2, 17))
    fast = logits(model, x)
    model.set_fast_attention(False)
    slow = logits(model, x)
    weights = model.trunk.blocks[0].attn.weights  # (B, H, T, S)
    assert torch.allclose(fast, slow, atol=1e-12)
    assert torch.allclose(weights.sum(-1), torch.ones_like(weights.sum(-1)))
    assert torch.all(weights.triu(diagonal=1) == 0)  # nothing attends to the future


@pytest.mark.parametrize("head_type", HEAD_TYPES)
def test_cached_forward_in_pieces_equals_one_full_forward(head_type):
    model = micro(head_type, n_heads=3).eval()
    x = torch.randint(0, 13, (1, 24))
    ahead = shift_targets(x, 3)  # (1, 24, 3): what causal and sequential heads read
    cache = model.new_cache()
    pieces = [model(x[:, a:b], cache=cache, ahead=ahead[:, a:b]).logits for a, b in [(0, 5), (5, 6), (6, 10), (10, 24)]]
    assert torch.allclose(torch.cat(pieces, dim=1), logits(model, x), atol=1e-12)
    assert cache.length == 24
    cache.truncate(10)  # roll back, then feed different tokens: same as a fresh full forward
    other = torch.randint(0, 13, (1, 4))
    both = torch.cat([x[:, :10], other], 1)  # (1, 14)
    rolled = model(other, cache=cache, ahead=shift_targets(both, 3)[:, 10:]).logits
    # a chained head's cached rows just before 10 read the old tokens from 10 on, so after a roll
    # back only head 1 is the fresh forward's (the decoders give the chain its own caches)
    kept = 1 if model.chained else 3
    assert torch.allclose(rolled[..., :kept, :], logits(model, both)[:, 10:, :kept], atol=1e-12)


def test_context_length_is_enforced():
    model = micro()
    with pytest.raises(TinyMTPError, match="context length"):
        model(torch.zeros(1, 33, dtype=torch.long))


@pytest.mark.parametrize("head_type", HEAD_TYPES)
@pytest.mark.parametrize("weights", ["equal", "decay"])
def test_memory_saving_backward_gives_the_plain_loss_and_gradients(head_type, weights):
    model = micro(head_type, n_heads=4, loss_weights=weights)
    x = torch.randint(0, 13, (3, 16))
    targets = shift_targets(x, 4)
    if model.chained:  # its heads read more than the trunk's output: refused, not silently wrong
        with pytest.raises(TinyMTPError, match=head_type):
            memory_saving_backward(model, x, targets)
        return
    plain = model(x, targets)
    plain.loss.backward()
    plain_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    loss, losses = memory_saving_backward(model, x, targets)
    assert torch.allclose(loss, plain.loss.detach(), atol=1e-12)
    assert all(torch.allclose(a, b.detach()) for a, b in zip(losses, plain.head_losses))
    for name, p in model.named_parameters():
        assert torch.allclose(p.grad, plain_grads[name], atol=1e-10), name


def test_loss_weight_schemes():
    assert head_weights("equal", 3) == [1.0, 1.0, 1.0]
    decay = head_weights("decay", 4)
    assert decay[0] == 1.0 and decay[1] == pytest.approx(0.2 * 0.8) and decay[3] == pytest.approx(0.2 * 0.8**3)
    assert head_weights([1, 0.5], 2) == [1.0, 0.5]
    with pytest.raises(TinyMTPError):
        head_weights([1, 2, 3], 2)
    with pytest.raises(TinyMTPError):
        head_weights("sideways", 2)


def test_combined_loss_uses_the_weights():
    model = micro(n_heads=2, loss_weights=[1.0, 0.0])
    x = torch.randint(0, 13, (2, 10))
    out = model(x, shift_targets(x, 2))
    assert torch.allclose(out.loss, out.head_losses[0])


def test_bad_configs_are_refused():
    with pytest.raises(TinyMTPError, match="head type"):
        ModelConfig(head_type="wavy")
    with pytest.raises(TinyMTPError, match="n_heads"):
        ModelConfig(n_heads=0)
    with pytest.raises(TinyMTPError, match="preset"):
        ModelConfig.from_preset("huge")


def test_with_heads_keeps_the_trunk_and_head_1_and_adds_fresh_heads():
    torch.manual_seed(0)
    one = MTPModel(ModelConfig(vocab_size=20, context_length=16, d_model=16, n_layers=1, attn_heads=2, n_heads=1))
    four = one.with_heads(4)
    x = torch.randint(0, 20, (2, 10))  # (B, T)
    assert four.n_heads == 4 and one.n_heads == 1
    assert torch.equal(one(x).logits[:, :, 0], four(x).logits[:, :, 0])  # head 1 and the trunk unchanged
    assert torch.equal(four.heads[1].linear.weight, torch.eye(16))  # a fresh head starts as the identity
    four.trunk.blocks[0].mlp.up.weight.data.add_(1.0)
    assert not torch.equal(one(x).logits[:, :, 0], four(x).logits[:, :, 0])  # copies, not shared tensors
    assert torch.equal(four.with_heads(2).heads[1].linear.weight, four.heads[1].linear.weight)
    with pytest.raises(TinyMTPError, match="at least 1 head"):
        one.with_heads(0)
