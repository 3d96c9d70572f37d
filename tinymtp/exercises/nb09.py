"""The exercises of notebook 09_trees_and_causal_heads (notebooks/09_trees_and_causal_heads.py): right answers, hints, checks."""

from __future__ import annotations

from tinymtp.exercises.kinds import Exercise

EXERCISES = {
    "09.causal_reads": Exercise(
        "Causal head 4 at position t reads the embedding of x[t + ?]: which offset?",
        "the token just before the one head 4 predicts (x[t+4])", lambda: 3),
    "09.tree_mask": Exercise(
        "The tree mask of [[0],[1],[0,0],[1,0]] (root first), as rows of 0/1?",
        "each node sees the root, its ancestors and itself; node 3 hangs below node 1, node 4 below node 2",
        lambda: [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [1, 1, 0, 1, 0], [1, 0, 1, 0, 1]]),
    "09.tree_nodes": Exercise(
        'How many nodes below the root has the tree "3,2,1"?',
        "3 at depth 1, 2 below each of them, 1 below each of those", lambda: 15),
}
