"""The exercises of notebook 09_trees_and_causal_heads (notebooks/09_trees_and_causal_heads.py): right answers, hints, checks.

`09.marginal_acceptance` is the marginal-against-conditional argument on two tokens: a parallel
head trained toward head 1 learns its two-step law with the token in between summed out, and earns
only part of the acceptance a head reading that token could (tinymtp/analysis/marginal.py computes
the same on a real model).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

from ..decoding.tree import parse_tree
from ..decoding.tree import tree_mask as shape_mask
from .kinds import CodeExercise, Exercise


def tree_mask(parents: list) -> torch.Tensor:
    """The library's mask builder (tree.tree_mask) for a tree given by its parent links.

    parents[0] = -1 (the root), parents[i] < i. Returns (N, N) booleans: row i may see column j."""
    return shape_mask(SimpleNamespace(size=len(parents), parents=list(parents)))  # (N, N)


def _parent_only_mask(parents: list) -> torch.Tensor:
    """The common slip: each node sees itself and its parent, but not the grandparents above it."""
    N = len(parents)
    mask = torch.eye(N, dtype=torch.bool)  # (N, N)
    for i in range(1, N):
        mask[i, parents[i]] = True
    return mask


def _trees(generator: torch.Generator) -> list[dict]:
    # the small tree of the notebook first (short messages), then the shipped shapes, a chain (every
    # node sees all before it), a star (only the root), and random trees in parents-first order
    cases = [{"parents": parse_tree("[[0],[1],[0,0]]").parents}, {"parents": parse_tree("default").parents},
             {"parents": parse_tree("3,2,1").parents}, {"parents": [-1, 0, 1, 2, 3]}, {"parents": [-1, 0, 0, 0, 0]},
             {"parents": [-1]}]
    for N in (6, 9, 14, 24):
        parents = [-1] + [int(torch.randint(0, i, (1,), generator=generator)) for i in range(1, N)]
        cases.append({"parents": parents})
    return cases


EXERCISES = {
    "09.causal_reads": Exercise(
        "Causal head 4 at position t reads the embedding of x[t + ?]: which offset?",
        "the token just before the one head 4 predicts (x[t+4])", lambda: 3),
    "09.tree_mask": CodeExercise(
        "Write tree_mask(parents): the (N, N) boolean tree attention mask of a tree given by parent links "
        "(parents[0] = -1 is the root, parents[i] < i).",
        "row i is True at i itself and at every ancestor of i up to the root (follow parents[] until -1); "
        "return torch.bool",
        reference=tree_mask, cases=_trees, wrong=_parent_only_mask),
    "09.tree_nodes": Exercise(
        'How many nodes below the root has the tree "3,2,1"?',
        "3 at depth 1, 2 below each of them, 1 below each of those", lambda: 15),
    "09.marginal_acceptance": Exercise(
        "Head 1 makes the sure token c = 'a' or 'b', each with probability 0.5; after 'a' head 1 always "
        "writes 'x', after 'b' always 'y'. A parallel head 2 that learned the marginal drafts 'x' or 'y', "
        "0.5 each: what is the chance exact speculative sampling keeps its draft?",
        "given c, the verifier's p puts 1 on one token; sum over tokens of min(p, q) is then 0.5 whichever c "
        "was drawn", lambda: 0.5, 1e-9),
}
