"""The notebooks' exercises: each one's right answer, its hint, and the check that grades it.

A notebook cell reads

    answer = None  # your answer here
    check("01.window_length", answer)

and prints "not answered yet", "correct!" or "not quite: <hint>". It never raises, so the
notebooks run top to bottom with nothing filled in (as they do in the tests). Some answers
depend on what the learner's own run produced (which head is worst, how many drafts were
accepted); those exercises compute their right answer from `context` the cell passes in.

The grading lives here rather than in the notebooks so the tests can check every exercise
against its right answer and a wrong one (tests/test_notebooks.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Exercise:
    question: str
    hint: str
    solve: Callable[..., Any]  # (**context) -> the right answer
    tolerance: float = 0.0  # for numbers: relative tolerance (absolute below 1)


def _accepted_prefix(drafts, verifier) -> int:
    count = 0
    for draft, choice in zip(drafts, verifier):
        if draft != choice:
            break
        count += 1
    return count


def _residual(p, q) -> list:
    extra = [max(0.0, a - b) for a, b in zip(p, q)]
    total = sum(extra)
    return [e / total for e in extra]


def _worst_head(evaluation) -> int:
    heads = evaluation["heads"]
    return max(heads, key=lambda h: h["val_loss"])["head"]


EXERCISES: dict[str, Exercise] = {
    # 00_tour
    "00.drafting_heads": Exercise(
        "A 4-head model drafts with how many heads in self-speculative decoding?",
        "head 1 is the verifier's own next token; the others draft", lambda: 3),
    "00.ceiling": Exercise(
        "At most how many tokens can one forward pass of a 4-head model produce?",
        "the sure token plus one per drafting head, all accepted", lambda: 4),
    # 01_corpus_and_tokenizer
    "01.head3_target": Exercise(
        'At position 4 of "return x + 1" (counting from 0), what is head 3\'s target?',
        "head k at position t predicts x[t+k]: count to position 4 + 3", lambda: "x"),
    "01.window_length": Exercise(
        "How many characters does make_batch cut per window for context 8 and 4 heads?",
        "the window holds the T inputs plus the n characters after the last one", lambda: 12),
    "01.positions_with_target": Exercise(
        "In a 10-token sequence, at how many positions does head 4 have a real target?",
        "the last k positions have nothing k steps ahead", lambda: 6),
    # 02_trunk
    "02.scores_shape": Exercise(
        "Shape of the attention scores for B=2, T=5, 4 attention heads, d_model=32?",
        "(B, attention heads, queries T, keys T); the head size does not appear", lambda: (2, 4, 5, 5)),
    "02.qkv_parameters": Exercise(
        "How many parameters does attn.qkv hold for d_model=128 (no bias)?",
        "one d_model x d_model matrix each for queries, keys and values", lambda: 3 * 128 * 128),
    "02.allowed_pairs": Exercise(
        "With T=6, how many (query, key) pairs does the causal mask allow?",
        "query t sees keys 0..t, that is t + 1 keys", lambda: 21),
    # 03_heads_and_loss
    "03.decay_weights": Exercise(
        'The "decay" loss weights for n=3 heads, head 1 first?',
        "head 1 weighs 1; head k >= 2 weighs 0.2 * 0.8**(k - 1)", lambda: [1.0, 0.2 * 0.8, 0.2 * 0.8**2], 1e-6),
    "03.initial_loss": Exercise(
        "The cross-entropy of a model that gives all 161 characters the same probability?",
        "every target gets probability 1/V; the loss is -ln of it", lambda: math.log(161), 1e-3),
    "03.logit_numbers": Exercise(
        "How many numbers do the logits of a batch hold for B=32, T=128, n=4, V=161?",
        "multiply the four sizes of (B, T, n, V)", lambda: 32 * 128 * 4 * 161),
    # 04_training
    "04.first_learning_rate": Exercise(
        "The learning rate of the first step, with peak 3e-3 and 50 warm-up steps?",
        "warm-up grows linearly: step 0 uses peak * 1 / warmup_steps", lambda: 3e-3 / 50, 1e-6),
    "04.worst_head": Exercise(
        "Which head has the highest validation loss in your run?",
        "look at result.final_eval['heads'] (a head number, 1..n)", _worst_head),
    "04.targets_per_step": Exercise(
        "How many target tokens does ONE step train on, over all 4 heads, with batch 32 and context 128?",
        "every position of every window has a target for every head: B * T * n", lambda: 32 * 128 * 4),
    # 05_what_the_heads_know
    "05.expected_tokens": Exercise(
        "Head 2 is accepted 60% of the time, head 3 (once head 2 was) 50%: expected tokens per forward?",
        "1 sure token + P(head 2 kept) + P(heads 2 and 3 kept)", lambda: 1 + 0.6 + 0.6 * 0.5, 1e-6),
    "05.best_drafter": Exercise(
        "Which drafting head (2..n) most often matches what head 1 would generate?",
        "look at the greedy_accuracy column for heads 2..n", lambda rows: max(
            (r for r in rows if r["head"] >= 2), key=lambda r: r["greedy_accuracy"])["head"]),
    "05.greedy_accuracy_head1": Exercise(
        "What is head 1's accuracy against head 1's own greedy continuation?",
        "head 1's top guess IS the greedy continuation's first token", lambda: 1.0, 1e-9),
    # 06_self_speculative_decoding
    "06.accepted": Exercise(
        "Drafts 'e', 't', 'u' against the verifier's 'e', 't', 'x': how many drafts are kept?",
        "keep drafts while they equal the verifier's choice; stop at the first mismatch", lambda: 2),
    "06.cache_after": Exercise(
        "The cache held 40 positions; a round fed 4 tokens (sure + 3 drafts) and kept 1 draft: "
        "the cache length after rollback?",
        "keep the sure token and the accepted drafts; the next token is fed in the next round",
        lambda: 42),
    "06.tokens_per_forward": Exercise(
        "Your speculative run's tokens per forward (from trace.summary())?",
        "tokens / forwards, both from the summary", lambda summary: summary["tokens"] / summary["forwards"], 1e-3),
    # 07_speculative_sampling
    "07.accept_probability": Exercise(
        "p(x) = 0.3 and q(x) = 0.6: with what probability is draft x accepted?",
        "min(1, p(x) / q(x))", lambda: 0.5, 1e-6),
    "07.residual": Exercise(
        "The residual distribution norm(max(0, p - q)) for p = [0.5, 0.3, 0.2], q = [0.2, 0.6, 0.2]?",
        "subtract, clip negatives to 0, divide by the sum", lambda: _residual([0.5, 0.3, 0.2], [0.2, 0.6, 0.2]),
        1e-6),
    "07.acceptance_rate": Exercise(
        "Overall probability that a draft from q is accepted, for the same p and q?",
        "sum over x of q(x) * min(1, p(x)/q(x)) = sum of min(p(x), q(x))", lambda: 0.7, 1e-6),
    # 08_related_ideas
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
    # 09_trees_and_causal_heads
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


def _same(answer, right, tolerance: float) -> bool:
    if isinstance(right, str):
        return isinstance(answer, str) and answer.strip().lower() == right.lower()
    if isinstance(right, (list, tuple)):
        try:
            items = list(answer)
        except TypeError:
            return False
        return len(items) == len(right) and all(_same(a, r, tolerance) for a, r in zip(items, right))
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) and not hasattr(answer, "__float__"):
        return False
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return False
    if tolerance == 0:
        return value == right
    return abs(value - right) <= tolerance * max(1.0, abs(right))


def grade(exercise_id: str, answer, **context) -> tuple[str, str]:
    """(status, message): status is "unanswered", "correct" or "wrong"; never raises on any answer."""
    exercise = EXERCISES[exercise_id]
    if answer is None or answer is Ellipsis:
        return "unanswered", "not answered yet: replace None with your answer and run the cell again"
    right = exercise.solve(**context)
    if _same(answer, right, exercise.tolerance):
        return "correct", "correct!"
    return "wrong", f"not quite: {exercise.hint}"


def check(exercise_id: str, answer, **context) -> None:
    """Print whether `answer` is right (the notebooks' check cells call this)."""
    print(grade(exercise_id, answer, **context)[1])


def solution(exercise_id: str, **context):
    """The right answer (the tests use it; learners have the collapsible solutions instead)."""
    return EXERCISES[exercise_id].solve(**context)
