"""A training curriculum: which heads are in the loss at each step, and with what weight.

Aynetdinov & Akbik (ACL 2025, arXiv 2505.22757) train small models with MTP in stages. For n
heads the schedule is cut into n equal stages by its progress p (0..1, the same progress the
learning rate follows: step / steps, or elapsed / minutes), stage s = floor(p * n):

    none     heads 1..n in every step (tinymtp's default)
    forward  stage s trains heads 1..s+1: next-token prediction first, one more head per stage
             (n = 4: heads 1 | 1-2 | 1-3 | 1-4, a quarter of the steps each)
    reverse  stage s trains heads 1..n-s: every head first, next-token prediction at the end
             (n = 4: heads 1-4 | 1-3 | 1-2 | 1)

The weights, in one rule with `--loss-weights` (core/loss.py): at a step where heads 1..m are in
the loss, head k weighs w_k (its `--loss-weights` weight) for k <= m and 0 after, and the loss is
the weighted mean over the heads in it, sum_{k<=m} w_k L_k / sum_{k<=m} w_k. A forward curriculum
with weights 1, 0.1, 0.1, 0.1 thus trains head 1 alone, then (L1 + 0.1 L2) / 1.1, and so on. Head 1
is in every stage, so its weight must not be 0.

A head out of the loss is not run at all (the forward computes heads 1..m, the memory-saving
backward loops over heads 1..m only) and AdamW leaves it untouched (no gradient: no update, no
weight decay). So a step costs what a step of an m-head model costs: a forward curriculum's steps
get slower as heads join, a reverse one's faster as they leave, and over the whole schedule a step
costs the mean of the 1..n-head step times (`stage_shares`; experiments/budget.py plans equal
wall-clock budgets from it). Heads that left (reverse) keep their weights while the trunk moves
on, which is why the paper finds the reverse curriculum drafts badly.

Left out: schedules of other shapes (uneven stages, weights that ramp smoothly). `--resume`
continues the curriculum recorded in the checkpoint (`continued_curriculum`). Measured at equal
wall-clock time by `python -m tinymtp experiment curriculum` (experiments/curriculum.py; its figure
is drawn for notebook 08 by tinymtp/viz/results.py).
"""

from __future__ import annotations

from ..core.errors import TinyMTPError

CURRICULA = ("none", "forward", "reverse")


def check_curriculum(curriculum: str) -> None:
    if curriculum not in CURRICULA:
        raise TinyMTPError(f"unknown curriculum '{curriculum}' (choose from {', '.join(CURRICULA)})")


def check_curriculum_fits(curriculum: str, n_heads: int, head1_weight: float) -> None:
    """A curriculum schedules heads 2..n, so it needs them; and head 1, in every stage, needs a weight."""
    check_curriculum(curriculum)
    if curriculum == "none":
        return
    if n_heads < 2:
        raise TinyMTPError(f"--curriculum {curriculum} schedules heads 2..n into or out of the loss, and this model has "
                           "1 head: train at least 2 heads (--heads 4) or leave out --curriculum")
    if not head1_weight > 0:
        raise TinyMTPError(f"--curriculum {curriculum} trains head 1 alone in one stage, and its loss weight is 0: "
                           "give head 1 a positive weight")


def heads_in_loss(curriculum: str, n_heads: int, progress: float) -> int:
    """m: heads 1..m are in the loss at this point of the schedule (progress 0..1)."""
    if curriculum == "none":
        return n_heads
    stage = min(n_heads - 1, int(max(0.0, progress) * n_heads))  # 0..n-1; progress 1.0 is the last stage
    return stage + 1 if curriculum == "forward" else n_heads - stage


def stage_shares(curriculum: str, n_heads: int) -> dict:
    """{m: share of the schedule's steps with heads 1..m in the loss}: what a step costs on average."""
    check_curriculum(curriculum)
    if curriculum == "none":
        return {n_heads: 1.0}
    return {m: 1.0 / n_heads for m in range(1, n_heads + 1)}


def continued_curriculum(requested: str | None, metadata: dict) -> str:
    """The curriculum of a resumed run: the one its checkpoint recorded (none for older ones); asking
    for another one is refused, since a schedule changed half-way is neither of the two."""
    recorded = (metadata.get("train_config") or {}).get("curriculum", "none")
    if requested is not None and requested != recorded:
        raise TinyMTPError(f"the checkpoint was trained with --curriculum {recorded}, and --resume continues it: "
                           f"leave out --curriculum {requested}")
    return recorded
