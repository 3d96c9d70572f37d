"""The exercises of notebook 08_related_ideas (notebooks/08_related_ideas.py): right answers, hints, checks."""

from __future__ import annotations

from tinymtp.exercises.kinds import Exercise

EXERCISES = {
    "08.extra_head_parameters": Exercise(
        "How many parameters do heads 2..4 add to a 4-head linear-head model with d_model=128?",
        "each linear head is one d_model x d_model matrix; the unembedding is shared", lambda: 3 * 128 * 128),
    "08.draft_rounds": Exercise(
        "A draft model proposes 3 tokens per round and all are accepted: tokens per verifying forward?",
        "the accepted drafts plus the verifier's bonus token", lambda: 4),
    "08.small_model_mbpp": Exercise(
        "At 0.3B parameters, did n=4 MTP score better or worse than next-token on MBPP "
        '(Gloeckle et al. 2024)? Answer "better" or "worse".',
        "see the table in this notebook's last section", lambda: "worse"),
}
