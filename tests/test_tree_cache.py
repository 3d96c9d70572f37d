"""Tree decoding's cache bookkeeping: KVCache.keep moves the accepted branch next to the prefix,
and SlidingWindow.keep_path leaves the cache (and the hidden states) as if only that branch was fed."""

from __future__ import annotations

import pytest
import torch
from conftest import random_model

from tinymtp.core.kvcache import KVCache
from tinymtp.decoding.tree import make_tree
from tinymtp.decoding.window import SlidingWindow


def test_kv_cache_keep_moves_the_kept_slots_next_to_the_prefix():
    cache = KVCache(n_layers=2, attn_heads=1, head_size=1, max_length=8)
    cache.add_room(4)
    assert cache.max_length == 12 and cache.keys.size(3) == 12
    k = torch.arange(10.0).view(1, 1, 10, 1)  # slot i holds i: (B, H, T, hs)
    for layer in range(2):
        cache.append(layer, k + layer, -k)
    cache.advance(10)
    cache.keep(3, [0, 2, 5])  # slots 3, 5, 8 -> 3, 4, 5
    assert cache.length == 6
    assert cache.keys[0, 0, 0, :6, 0].tolist() == [0, 1, 2, 3, 5, 8]
    assert cache.keys[1, 0, 0, :6, 0].tolist() == [1, 2, 3, 4, 6, 9]
    assert cache.values[1, 0, 0, :6, 0].tolist() == [0, -1, -2, -3, -5, -8]
    cache.keep(2, [0, 1])  # already in place
    assert cache.length == 4 and cache.keys[0, 0, 0, :4, 0].tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError):
        cache.keep(2, [0, 5])  # past the end


def test_keep_path_leaves_the_cache_and_hidden_states_of_the_path_alone():
    """After keep_path, the cache and the accepted path's rows (Forward.along: what drafters read)
    are those of the path's tokens fed on their own."""
    model = random_model(vocab_size=6, n_heads=3, head_type="block", context_length=16, seed=4)
    shape = make_tree([(0,), (1,), (1, 0), (1, 1)])
    window = SlidingWindow(model, heads=3, extra=shape.size - 1)
    prompt = [1, 2, 3, 4]
    with torch.no_grad():
        window.feed(prompt, 4)
        nodes = [5, 0, 1, 2, 3]  # root 5, then the nodes' tokens
        tree = window.feed_tree(prompt + [5], nodes, shape)
        window.keep_path(4, [0, 2, 4])  # root, (1,), (1, 1): the text goes on 5 1 3
        assert window.cache.length == 7
        kept = tree.along([0, 2, 4])  # the path's rows, in the text's order
        after = window.feed(prompt + [5, 1, 3, 0], 8)  # one more token on top of the moved entries
        alone = model(torch.tensor([prompt + [5, 1, 3, 0]]))  # the same text without a tree
    assert torch.allclose(kept.hidden, alone.hidden[0, 4:7], atol=1e-10)
    assert torch.allclose(kept.trunk, alone.trunk[0, 4:7], atol=1e-10)
    assert torch.allclose(kept.logits, alone.logits[0, 4:7], atol=1e-10)
    assert torch.allclose(after.hidden[0], alone.hidden[0, 7], atol=1e-10)
