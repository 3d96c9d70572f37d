"""Tree decoding (Medusa): check many candidate continuations in one forward pass.

Self-speculative decoding (speculative.py) checks ONE chain of drafts: head 2's best guess,
head 3's best guess, ... The chain ends at its first wrong guess, even when that head's
second-best guess was right. Tree decoding (Cai et al. 2024, Medusa) takes the top few guesses
of each head and checks their combinations all at once:

                          root: the sure token                      depth 0
                   /                         \\
         head 2, rank 0: 'e'           head 2, rank 1: 'a'          depth 1
           /            \\                    |
    head 3, rank 0   head 3, rank 1     head 3, rank 0              depth 2

A tree SHAPE is a list of paths of candidate ranks, e.g. (0,), (1,), (0, 0), (0, 1), (1, 0):
the path (r1, ..., rd) is the node at depth d whose token is head d+1's rank-r_d guess, and
its parent is the path without its last entry. Every node goes into ONE forward with a tree
attention mask (a node sees the prefix, the root and its own ancestors, never its siblings or
cousins) and position id = prefix length + depth, so each node is computed exactly as if its
own path were the only continuation. Head 1's greedy choice at a node is then what greedy
decoding would write after that path, and a child is accepted when its token equals head 1's
choice at its parent. Siblings hold different tokens, so at most one child of a node is
accepted: the accepted nodes form ONE path from the root. Decoding keeps that path, adds head
1's token after its last node, and moves the path's keys and values into place in the cache.

Shapes can be written as text (the CLI's `--tree`): a preset name (`chain`, `default`),
widths per depth such as `3,2,1` (every combination of head 2's top 3, head 3's top 2 and head
4's top 1: 3 + 6 + 6 = 15 nodes), or explicit paths as Medusa writes them: `[[0],[1],[0,0]]`.

This file holds the shape and its rules; tree_decode.py the decoding loop; tree_calibrate.py
how the default shape was chosen by measurement.
Explained in notebooks/09_trees_and_causal_heads.ipynb.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cached_property
from itertools import product

import torch

from ..core.errors import TinyMTPError

MAX_TREE_NODES = 128  # root included; a forward over more candidates costs more than it can win

# Chosen by measurement on mtp-4head before its distillation (`python -m tinymtp bench tree --checkpoint
# runs/mtp-4head-base`, tree_calibrate.py): of the calibrated trees of 4..64 nodes, the fastest that
# branches. On the shipped (distilled) mtp-4head it makes about as many tokens per forward as the
# 6-node tree calibrated there (docs/measurements.md's tree table). Bigger trees accept more but their forward
# costs more on a CPU.
DEFAULT_PATHS = ((0,), (1,), (0, 0), (0, 0, 0), (0, 0, 1))
PRESETS = {
    "chain": ((0,), (0, 0), (0, 0, 0)),  # the same drafts as self-speculative decoding
    "default": DEFAULT_PATHS,
}


@dataclass(frozen=True)
class TreeShape:
    """The nodes of a candidate tree. Node 0 is the root; node i >= 1 is `paths[i - 1]`.

    Paths are sorted by depth, then by ranks, so a parent always comes before its children.
    """

    paths: tuple

    @property
    def size(self) -> int:
        """Nodes in the tree, the root included: the tokens one verifying forward feeds."""
        return len(self.paths) + 1

    @cached_property
    def depth(self) -> int:
        return max((len(p) for p in self.paths), default=0)

    @cached_property
    def depths(self) -> list:
        return [0] + [len(p) for p in self.paths]

    @cached_property
    def ranks(self) -> list:
        return [0] + [p[-1] for p in self.paths]

    @cached_property
    def parents(self) -> list:
        index = {p: i + 1 for i, p in enumerate(self.paths)}
        return [-1] + [index.get(p[:-1], 0) for p in self.paths]

    @cached_property
    def children(self) -> list:
        kids = [[] for _ in range(self.size)]
        for i, parent in enumerate(self.parents[1:], start=1):
            kids[parent].append(i)
        return kids

    @cached_property
    def widths(self) -> list:
        """widths[d]: how many ranked guesses the nodes at depth d use (1 + the largest rank there)."""
        widths = [1] + [0] * self.depth
        for p in self.paths:
            widths[len(p)] = max(widths[len(p)], p[-1] + 1)
        return widths

    def cut(self, depth: int) -> TreeShape:
        """The same tree without the nodes deeper than `depth` (near the end of the text or the window)."""
        return TreeShape(tuple(p for p in self.paths if len(p) <= depth))

    @cached_property
    def mask(self) -> torch.Tensor:
        return tree_mask(self)

    @cached_property
    def mask_rows(self) -> list:
        return self.mask.tolist()  # the mask as lists, for the trace (JSON-safe)

    @cached_property
    def depth_ids(self) -> torch.Tensor:
        return torch.tensor(self.depths, dtype=torch.long)  # (N,)

    @cached_property
    def parent_ids(self) -> torch.Tensor:
        return torch.tensor(self.parents[1:], dtype=torch.long)  # (N - 1,): the non-root nodes' parents

    def text(self) -> str:
        """The shape as Medusa writes it, e.g. [[0],[1],[0,0]] (parse_tree reads it back)."""
        return "[" + ",".join("[" + ",".join(map(str, p)) + "]" for p in self.paths) + "]"


def make_tree(paths) -> TreeShape:
    """Check a list of rank paths and put them in order; a bad shape is a one-line TinyMTPError."""
    seen = set()
    for path in paths:
        if not isinstance(path, (tuple, list)) or not path:
            raise TinyMTPError(f"tree path {path!r} must be a non-empty list of ranks, e.g. [0, 1]")
        if not all(isinstance(r, int) and not isinstance(r, bool) and r >= 0 for r in path):
            raise TinyMTPError(f"tree path {list(path)}: ranks must be whole numbers >= 0")
        if tuple(path) in seen:
            raise TinyMTPError(f"tree path {list(path)} appears twice")
        seen.add(tuple(path))
    for path in seen:
        if len(path) > 1 and path[:-1] not in seen:
            raise TinyMTPError(f"tree path {list(path)} has no parent {list(path[:-1])}: every beginning of a "
                               f"path must be in the tree too")
    if len(seen) + 1 > MAX_TREE_NODES:
        raise TinyMTPError(f"the tree has {len(seen) + 1} nodes; at most {MAX_TREE_NODES} are allowed")
    return TreeShape(tuple(sorted(seen, key=lambda p: (len(p), p))))


def product_tree(widths) -> TreeShape:
    """Every combination: head 2's top widths[0], under each of them head 3's top widths[1], ..."""
    if not widths or any(w < 1 for w in widths):
        raise TinyMTPError(f"tree widths must be whole numbers >= 1, one per depth, got {list(widths)}")
    paths = [p for d in range(1, len(widths) + 1) for p in product(*(range(w) for w in widths[:d]))]
    if len(paths) + 1 > MAX_TREE_NODES:
        raise TinyMTPError(f"the tree {','.join(map(str, widths))} has {len(paths) + 1} nodes; at most "
                           f"{MAX_TREE_NODES} are allowed")
    return make_tree(paths)


def parse_tree(text) -> TreeShape:
    """A shape from text: a preset name, widths per depth ("3,2,1"), or paths ("[[0],[1],[0,0]]")."""
    if isinstance(text, TreeShape):
        return text
    if not isinstance(text, str):
        return make_tree(text)
    clean = text.strip()
    if clean in PRESETS:
        return make_tree(PRESETS[clean])
    if re.fullmatch(r"\d+(\s*,\s*\d+)*", clean):
        return product_tree([int(w) for w in clean.split(",")])
    if clean[:1] in "[(" and clean:
        try:
            paths = ast.literal_eval(clean)
        except (ValueError, SyntaxError):
            paths = None
        if isinstance(paths, (list, tuple)) and paths:
            return make_tree([tuple(p) if isinstance(p, (list, tuple)) else p for p in paths])
    raise TinyMTPError(f"cannot read the tree shape '{text}': give a preset ({', '.join(PRESETS)}), widths per "
                       f"depth like 3,2,1, or paths like [[0],[1],[0,0]]")


def tree_mask(shape: TreeShape) -> torch.Tensor:
    """(N, N) booleans: node i may see node j when j is i itself or one of its ancestors (the root included)."""
    N = shape.size
    mask = torch.eye(N, dtype=torch.bool)  # (N, N): every node sees itself
    for i in range(1, N):
        mask[i] |= mask[shape.parents[i]]  # ... and whatever its parent sees
    return mask


def tree_positions(shape: TreeShape, root_position: int) -> torch.Tensor:
    """(N,) position ids: a node at depth d stands where the d-th token after the root would."""
    return shape.depth_ids + root_position  # (N,)


def feed_mask(shape: TreeShape, reread: int = 0) -> torch.Tensor:
    """(R + N, R + N) rules for a forward that first re-reads R tokens (a restarted window), then the tree.

    The re-read tokens see each other causally; every tree node sees all of them and its ancestors.
    """
    if not reread:
        return shape.mask
    R, N = reread, shape.size
    mask = torch.zeros(R + N, R + N, dtype=torch.bool)
    mask[:R, :R] = torch.ones(R, R, dtype=torch.bool).tril()  # (R, R): an ordinary causal text
    mask[R:, :R] = True  # (N, R): the tree hangs below the re-read text
    mask[R:, R:] = shape.mask  # (N, N)
    return mask


def node_tokens(shape: TreeShape, candidates: list) -> list:
    """Each node's token. candidates[d] = the guesses for depth d, best first; candidates[0] = [root token]."""
    return [candidates[d][r] for d, r in zip(shape.depths, shape.ranks)]


def accepted_path(shape: TreeShape, tokens: list, choices: list) -> list:
    """The node indices of the longest accepted path, root first.

    choices[i]: head 1's greedy token at node i (what greedy decoding writes after node i's path).
    A child is accepted when its token equals its parent's choice; the first such child in rank
    order is followed (siblings hold different tokens, so there is at most one).
    """
    path = [0]
    while True:
        node = path[-1]
        child = next((c for c in shape.children[node] if tokens[c] == choices[node]), None)
        if child is None:
            return path
        path.append(child)


def only_first_choice_ancestors(shape: TreeShape) -> TreeShape:
    """Keep the nodes whose ancestors are all rank 0 (the nodes (0, ..., 0, r)).

    For a drafter whose guesses at depth d depend on the token chosen at depth d - 1 (a causal
    chain of heads, as in DeepSeek-V3): it can only rank guesses below its own first choices.
    """
    return TreeShape(tuple(p for p in shape.paths if not any(p[:-1])))


def resolve_tree(model, tree, draft_len: int) -> TreeShape:
    """The shape tree mode uses with drafting heads 2..draft_len+1; the default is cut to draft_len."""
    vocab_size = model.config.vocab_size
    shape = make_tree(DEFAULT_PATHS).cut(draft_len) if tree is None else parse_tree(tree)
    if shape.size == 1:
        raise TinyMTPError("the tree has no nodes below the root: give at least one path, e.g. [[0]]")
    if shape.depth > draft_len:
        raise TinyMTPError(f"the tree is {shape.depth} deep, but heads 2..{draft_len + 1} guess only {draft_len} "
                           f"token(s) ahead: use a shallower tree or a larger draft_len")
    if model.chained:  # causal heads rank guesses only below their own first choices
        shape = only_first_choice_ancestors(shape)
    if max(shape.ranks) >= vocab_size:
        raise TinyMTPError(f"the tree asks for rank {max(shape.ranks)}, but the vocabulary has only "
                           f"{vocab_size} tokens (ranks start at 0)")
    return shape
