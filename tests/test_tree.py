"""Tree decoding (tree.py, tree_decode.py): the shape, its mask, and exactness against greedy (the cache
move itself: test_tree_cache.py).

Exactness is (a) property-based in float64 on random tiny models of every head type with random
tree shapes and contexts short enough that the window restarts (test_speculative_exact.py: one
property for every drafter, the tree among them), here across many window restarts, and (b) the
shipped 4-head checkpoint in float32. Mutation checks show the tests can fail: skipping the KV
move breaks the output, and NaN in every forgotten cache slot does not.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from conftest import poison_forgotten_slots, random_model

from tinymtp.core.errors import TinyMTPError
from tinymtp.core.kvcache import KVCache
from tinymtp.decoding.decode import decode_ids
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.decoding.tree import (
    DEFAULT_PATHS,
    accepted_path,
    feed_mask,
    make_tree,
    node_tokens,
    only_first_choice_ancestors,
    parse_tree,
    product_tree,
    tree_mask,
    tree_positions,
)

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"
SMALL = [(0,), (1,), (0, 0), (0, 1), (1, 0), (0, 0, 0)]  # nodes 1..6 in this order


pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny forwards: see conftest.one_thread


# ---- the shape -----------------------------------------------------------------------------------

def test_tree_mask_equals_a_hand_built_mask():
    shape = make_tree(reversed(SMALL))  # any order in, parents first out
    assert shape.paths == tuple(SMALL)
    hand = [[1, 0, 0, 0, 0, 0, 0],  # root
            [1, 1, 0, 0, 0, 0, 0],  # (0,)
            [1, 0, 1, 0, 0, 0, 0],  # (1,)
            [1, 1, 0, 1, 0, 0, 0],  # (0, 0)
            [1, 1, 0, 0, 1, 0, 0],  # (0, 1)
            [1, 0, 1, 0, 0, 1, 0],  # (1, 0)
            [1, 1, 0, 1, 0, 0, 1]]  # (0, 0, 0)
    assert torch.equal(tree_mask(shape), torch.tensor(hand, dtype=torch.bool))
    assert shape.parents == [-1, 0, 0, 1, 1, 2, 3] and shape.depths == [0, 1, 1, 2, 2, 2, 3]
    assert shape.ranks == [0, 0, 1, 0, 1, 0, 0] and shape.widths == [1, 2, 2, 1]
    assert tree_positions(shape, 10).tolist() == [10, 11, 11, 12, 12, 12, 13]


def test_feed_mask_puts_the_tree_below_re_read_tokens():
    shape = make_tree(SMALL)
    mask = feed_mask(shape, reread=2)  # (9, 9)
    assert mask[:2, :2].tolist() == [[True, False], [True, True]] and not mask[:2, 2:].any()
    assert mask[2:, :2].all() and torch.equal(mask[2:, 2:], tree_mask(shape))
    assert feed_mask(shape) is shape.mask


@pytest.mark.parametrize("text,size", [("3,2,1", 16), ("2", 3), ("chain", 4), ("default", len(DEFAULT_PATHS) + 1),
                                       ("[[0],[1],[0,0]]", 4), ("((0,), (0, 0))", 3)])
def test_parse_tree_reads_every_form(text, size):
    shape = parse_tree(text)
    assert shape.size == size and parse_tree(shape.text()) == shape


def test_product_tree_holds_every_combination():
    shape = product_tree([2, 2])
    assert shape.paths == ((0,), (1,), (0, 0), (0, 1), (1, 0), (1, 1))


@pytest.mark.parametrize("text,words", [
    ("abc", "cannot read the tree shape"), ("", "cannot read"), ("3,0", ">= 1"), ("[[1,0]]", "no parent [1]"),
    ("[[0],[0]]", "appears twice"), ("[[0],[0,-1]]", ">= 0"), ("[[]]", "non-empty"), ("[0]", "non-empty"),
    ("9,9,9", "at most"), ("[[0], [0.5]]", "whole numbers"),
])
def test_bad_shapes_are_one_line_errors(text, words):
    with pytest.raises(TinyMTPError, match=re.escape(words)) as info:
        parse_tree(text)
    assert "\n" not in str(info.value)


def test_tokens_and_the_accepted_path():
    shape = make_tree(SMALL)
    candidates = [[9], [5, 6], [7, 8], [4]]  # root, then each depth's guesses best first
    tokens = node_tokens(shape, candidates)
    assert tokens == [9, 5, 6, 7, 8, 7, 4]
    # head 1 after root -> 6 (rank 1 at depth 1), after node 2 -> 7 (node 5), after node 5 -> 0: stop there
    choices = [6, 0, 7, 0, 0, 0, 0]
    assert accepted_path(shape, tokens, choices) == [0, 2, 5]
    assert accepted_path(shape, tokens, [1] * 7) == [0]
    assert accepted_path(shape, tokens, [5, 7, 0, 4, 0, 0, 3]) == [0, 1, 3, 6]  # the whole chain


def test_only_first_choice_ancestors():
    shape = product_tree([3, 2, 2])
    kept = only_first_choice_ancestors(shape)
    assert kept.paths == ((0,), (1,), (2,), (0, 0), (0, 1), (0, 0, 0), (0, 0, 1))


def test_causal_heads_use_only_nodes_below_first_choices():
    """A causal head's guesses depend on the token before, so the tree keeps the nodes (0,..,0,r)."""
    model = random_model(vocab_size=5, n_heads=4, head_type="causal", context_length=12)
    result = decode_ids(model, [0, 1], DecodeSettings("tree", 12, tree="3,2,2"))
    rounds = [r for r in result.trace.rounds if r.tree]
    paths = {tuple(n["rank"] for n in _ancestry(r.tree["nodes"], n)) for r in rounds for n in r.tree["nodes"][1:]}
    assert paths and all(not any(p[:-1]) for p in paths)
    assert max(len(p) for p in paths) == 3 and max(p[-1] for p in paths) == 2


def _ancestry(nodes, node):
    chain = []
    while node["parent"] is not None:
        chain.append(node)
        node = nodes[node["parent"]]
    return chain[::-1]


# ---- exactness ---------------------------------------------------------------------------------

@pytest.mark.parametrize("head_type", ["linear", "mlp", "block"])
def test_tree_equals_greedy_across_many_window_restarts(head_type):
    model = random_model(vocab_size=4, n_heads=4, head_type=head_type, context_length=9, seed=7)
    greedy = decode_ids(model, [0, 1, 2, 1], DecodeSettings("greedy", 120))
    tree = decode_ids(model, [0, 1, 2, 1], DecodeSettings("tree", 120, tree="3,2,2"))
    assert tree.tokens == greedy.tokens
    rounds = [r for r in tree.trace.rounds if r.tree]
    assert any(r.reread for r in rounds)
    assert any(r.tree["depth"] < 3 for r in rounds)  # cut at a window's end
    moved = [r for r in rounds if r.tree["path"] != list(range(len(r.tree["path"])))]
    assert moved  # paths through later branches were kept: the KV move mattered


def skip_the_move(self, start, offsets):  # a broken `keep`: the right length, the wrong entries
    self.length = start + len(offsets)


def test_skipping_the_kv_move_breaks_exactness(monkeypatch):
    cases = [("linear", 2, 0.3), ("linear", 1, 1.0), ("block", 0, 1.0)]
    models = [random_model(7, 4, head_type, 24, seed, std) for head_type, seed, std in cases]
    greedy = [decode_ids(m, [1, 2, 3], DecodeSettings("greedy", 60)).tokens for m in models]
    assert [decode_ids(m, [1, 2, 3], DecodeSettings("tree", 60, tree="3,2,1")).tokens for m in models] == greedy
    monkeypatch.setattr(KVCache, "keep", skip_the_move)
    broken = [decode_ids(m, [1, 2, 3], DecodeSettings("tree", 60, tree="3,2,1")).tokens for m in models]
    assert any(b != g for b, g in zip(broken, greedy))


@pytest.mark.parametrize("head_type", ["linear", "block"])
def test_rejected_nodes_are_never_read(head_type, monkeypatch):
    model = random_model(vocab_size=5, n_heads=4, head_type=head_type, context_length=12, seed=1)
    greedy = decode_ids(model, [1, 2, 3], DecodeSettings("greedy", 50))
    poison_forgotten_slots(model, monkeypatch)
    tree = decode_ids(model, [1, 2, 3], DecodeSettings("tree", 50, tree="3,2,1"))
    assert tree.tokens == greedy.tokens
    assert any(len(r.tree["path"]) < r.tree["depth"] + 1 for r in tree.trace.rounds if r.tree)  # rejections


@pytest.mark.parametrize("max_new_tokens", [1, 2, 3])
def test_max_new_tokens_smaller_than_the_tree(max_new_tokens):
    model = random_model(vocab_size=5, n_heads=4, context_length=12, seed=0)
    tree = decode_ids(model, [0, 1], DecodeSettings("tree", max_new_tokens, tree="2,2,2"))
    assert tree.tokens == decode_ids(model, [0, 1], DecodeSettings("greedy", max_new_tokens)).tokens
    assert tree.trace.summary()["tokens"] == max_new_tokens and tree.trace.forwards <= max_new_tokens


def test_tree_equals_greedy_on_the_shipped_checkpoint():
    path = CHECKPOINTS / "mtp-4head"
    if not (path / "config.json").exists():
        pytest.skip(f"no shipped checkpoint at {path}")
    from tinymtp.analysis.speedup import heldout_prompts
    from tinymtp.files.checkpoint import load_checkpoint

    ckpt = load_checkpoint(str(path))
    for i, prompt in enumerate(heldout_prompts(ckpt.tokenizer, count=6, length=40)):  # float32, as shipped
        ids = ckpt.tokenizer.encode(prompt)
        greedy = decode_ids(ckpt.model, ids, DecodeSettings("greedy", 96))  # 40 + 96 tokens cross the 128-token context
        tree = decode_ids(ckpt.model, ids, DecodeSettings("tree", 96, tree=("default", "3,2,1")[i % 2]))
        assert tree.tokens == greedy.tokens, prompt


# ---- the trace -----------------------------------------------------------------------------------

def test_tree_trace_is_json_safe_and_adds_up():
    model = random_model(vocab_size=5, n_heads=4, context_length=12, seed=3)
    result = decode_ids(model, [0, 1, 2], DecodeSettings("tree", 45, tree="2,2,1"), vocab="abcde")
    trace = result.trace
    data = trace.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    s = trace.summary()
    assert s["tokens"] == 45 == sum(len(r.committed) for r in trace.rounds)
    rounds = [r for r in trace.rounds if r.kind == "verify"]
    for r in rounds:
        nodes, path = r.tree["nodes"], r.tree["path"]
        assert [n["token"] for n in nodes] == r.fed and len(r.tree["mask"]) == len(nodes)
        assert r.committed == [r.fed[i] for i in path[1:]] + [r.next_token] and r.accepted == len(path) - 1
        for parent, child in zip(path, path[1:]):  # each kept node is head 1's choice after its parent
            assert nodes[child]["parent"] == parent and nodes[child]["token"] == nodes[parent]["greedy_next"]
        assert [n["accepted"] for n in nodes] == [i in path for i in range(len(nodes))]
        assert all(n["head"] == n["depth"] + 1 and n["char"] == "abcde"[n["token"]] for n in nodes)
        assert len(r.checks) == len(nodes) - 1 and sum(c.accepted for c in r.checks) == r.accepted
        base = r.reread if r.reread else r.cache_before
        assert r.cache_after == base + len(path)  # the kept path, nothing more
    rows = s["acceptance_per_head"]
    assert [(a["head"], a["depth"], a["label"]) for a in rows] == [(2, 1, "accepted depth 1"),
                                                                   (3, 2, "accepted depth 2"),
                                                                   (4, 3, "accepted depth 3")]
    full = [r for r in rounds if r.tree["depth"] == 3]
    assert rows[0]["drafted"] == len([r for r in rounds if r.tree["depth"] >= 1])
    assert rows[2]["accepted"] == sum(r.accepted == 3 for r in full)


def test_the_notebook_exercise_mask_is_the_library_mask():
    from tinymtp.exercises import solution

    shape = parse_tree("[[0],[1],[0,0],[1,0]]")
    assert solution("09.tree_mask")(shape.parents).int().tolist() == shape.mask.int().tolist()
    assert parse_tree("3,2,1").size - 1 == solution("09.tree_nodes")
