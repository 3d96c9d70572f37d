"""The tree-round figures draw what the trace says: verdict colours, the kept path, the mask."""

from __future__ import annotations

from conftest import random_model

from tinymtp import viz
from tinymtp.data.tokenizer import CharTokenizer
from tinymtp.decoding.decode import decode_ids
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.decoding.tree import make_tree, parse_tree


def tree_rounds():
    tokenizer = CharTokenizer.from_text("abcde")
    model = random_model(vocab_size=tokenizer.vocab_size, n_heads=4, head_type="linear", context_length=24, seed=3)
    result = decode_ids(model, [0, 1, 2], DecodeSettings("tree", 30, tree="2,2,1"), vocab=tokenizer.vocab)
    return tokenizer, [r for r in result.trace.rounds if r.tree]


def test_candidate_tree_colours_every_node_by_its_verdict_and_thickens_the_kept_path():
    tokenizer, rounds = tree_rounds()
    seen = set()
    for rnd in rounds:
        fig = viz.candidate_tree(rnd, tokenizer)
        boxes = fig.data[-1]
        nodes = rnd.tree["nodes"]
        assert len(boxes.x) == len(nodes)
        for node, colour in zip(nodes, boxes.marker.color):
            if node["depth"] == 0:
                expected = "#0072B2"
            elif node["accepted"]:
                expected = viz.ACCEPTED
            elif node["checked"]:
                expected = viz.REJECTED
            else:
                expected = viz.UNUSED
            assert colour == expected
            seen.add(expected)
        thick = [t for t in fig.data[:-1] if t.line.width == 4 and t.line.dash is None]
        assert len(thick) == len(rnd.tree["path"]) - 1  # one thick edge per accepted node
    assert {viz.ACCEPTED, viz.REJECTED, viz.UNUSED} <= seen  # the rounds exercised all three verdicts


def test_tree_attention_mask_figure_is_the_tree_mask():
    tokenizer, rounds = tree_rounds()
    rnd = rounds[1]
    z = viz.tree_attention_mask(rnd).data[0].z
    allowed = [[cell > 0 for cell in row] for row in z]
    assert allowed == rnd.tree["mask"]
    shape = make_tree(parse_tree("2,2,1").paths)
    assert allowed == shape.mask.tolist()
    on_path = set(rnd.tree["path"])
    assert all((z[i][j] == 2) == (i in on_path and j in on_path and rnd.tree["mask"][i][j])
               for i in range(len(z)) for j in range(len(z)))
