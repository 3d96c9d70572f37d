"""The figures viz.py holds for the notebooks: attention weights and compared distributions."""

from __future__ import annotations

import torch

from tinymtp import viz


def test_attention_map_draws_one_row_per_query_with_visible_characters():
    weights = torch.ones(3, 3).tril() / torch.arange(1, 4)[:, None]  # (T, S), rows sum to 1
    fig = viz.attention_map(weights, list("a b"), title="t")
    heat = fig.data[0]
    assert [list(r) for r in heat.z] == weights.tolist()
    assert list(fig.layout.xaxis.ticktext) == ["a", "␣", "b"]
    assert list(fig.layout.yaxis.ticktext) == ["a", "␣", "b"]


def test_attention_map_labels_keys_with_the_last_characters_when_keys_outnumber_queries():
    fig = viz.attention_map([[0.5, 0.5]], list("xy<"), title=None)  # one query, two keys
    assert list(fig.layout.xaxis.ticktext) == ["y", "&lt;"]
    assert list(fig.layout.yaxis.ticktext) == ["&lt;"]


def test_distributions_draws_one_bar_series_per_distribution():
    fig = viz.distributions({"p": [0.5, 0.3, 0.2], "observed": [0.49, 0.31, 0.2]}, ["a", "b", " "])
    assert [t.name for t in fig.data] == ["p", "observed"]
    assert list(fig.data[0].x) == ["a", "b", "␣"]
    assert list(fig.data[1].y) == [0.49, 0.31, 0.2]
