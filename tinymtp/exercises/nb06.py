"""The exercises of notebook 06_self_speculative_decoding (notebooks/06_self_speculative_decoding.py): right answers, hints, checks.

The code exercise asks for the decision of one greedy speculative round: given the drafts and head
1's logits at every fed position, which tokens does the round commit? The check compares with the
library's own round logic (`verify_greedy` in tinymtp/decoding/speculative.py) on hidden
rounds: every draft kept (a bonus token), none kept, a mismatch in the middle, no drafts at all.
"""

from __future__ import annotations

import torch

from ..decoding.speculative import DecodeRun, verify_greedy
from .kinds import CodeExercise, Exercise


def greedy_round(drafts: list, head1_logits: torch.Tensor) -> list:
    """The library's answer: the tokens a greedy round commits after its sure token.

    drafts: the j drafted tokens fed after the sure token; head1_logits (j + 1, V): head 1 at each
    fed position (the sure token's first). Returns the kept drafts, then head 1's own token."""
    j = len(drafts)
    verdict = verify_greedy(head1_logits, list(drafts), q=[None] * j, labels=list(range(2, j + 2)),
                            run=DecodeRun(max_new_tokens=j + 1))
    return list(drafts[: verdict.accepted]) + [verdict.token]


def _every_matching_draft(drafts: list, head1_logits: torch.Tensor) -> list:
    """A plausible slip: keep every draft that matches, not stopping at the first mismatch."""
    choices = head1_logits.argmax(-1).tolist()  # (j+1,) -> j+1 ids
    kept = [d for d, c in zip(drafts, choices) if d == c]
    return kept + [choices[len(kept)]]


def _round_cases(generator: torch.Generator) -> list[dict]:
    # each case: head 1's logits at the fed positions, and drafts that agree with its argmax up to
    # a chosen point; `rejected_at` None keeps them all (a bonus), 0 rejects the first, and a
    # mismatch followed by drafts that happen to match again catches a loop that does not stop
    cases = []
    V = 12
    for j, rejected_at, rematch in [(3, 1, True), (3, None, False), (3, 0, False), (1, None, False),
                                    (0, None, False), (5, 3, True), (2, 1, False), (4, 2, True)]:
        logits = torch.randn(j + 1, V, generator=generator, dtype=torch.float64)  # (j+1, V)
        choices = logits.argmax(-1).tolist()  # head 1's pick after each fed token
        drafts = choices[:j]
        if rejected_at is not None:
            drafts[rejected_at] = (choices[rejected_at] + 1 + int(torch.randint(0, V - 1, (1,),
                                                                                generator=generator))) % V
        if not rematch and rejected_at is not None:
            for i in range(rejected_at + 1, j):  # later drafts that do not match either
                drafts[i] = (choices[i] + 1) % V
        cases.append({"drafts": drafts, "head1_logits": logits})
    return cases


EXERCISES = {
    "06.greedy_round": CodeExercise(
        "Write greedy_round(drafts, head1_logits): the tokens one greedy speculative round commits.",
        "head 1's pick after fed token i is head1_logits[i].argmax(); keep drafts[i] while it equals that "
        "pick, stop at the first mismatch, then add head 1's pick at the stopping position",
        reference=greedy_round, cases=_round_cases, wrong=_every_matching_draft),
    "06.cache_after": Exercise(
        "The cache held 40 positions; a round fed 4 tokens (sure + 3 drafts) and kept 1 draft: "
        "the cache length after rollback?",
        "keep the sure token and the accepted drafts; the next token is fed in the next round",
        lambda: 42),
    "06.greedy_forwards": Exercise(
        "How many forward passes does plain greedy decoding make for 120 new tokens, the prefill included?",
        "the prefill's forward already gives the first new token", lambda: 120),
    "06.tokens_per_forward": Exercise(
        "Your speculative run's tokens per forward, computed from its acceptance length and number of "
        "verifying rounds?",
        "tokens = 1 (from the prefill) + acceptance length x verifying rounds; forwards = verifying rounds + 1",
        lambda summary: summary["tokens"] / summary["forwards"], 1e-3),
}
