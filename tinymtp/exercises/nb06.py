"""The exercises of notebook 06_self_speculative_decoding (notebooks/06_self_speculative_decoding.py): right answers, hints, checks.

Two code exercises build the decoder. `greedy_round` asks for the decision of one round: given the
drafts and head 1's logits at every fed position, which tokens does the round commit? The check
compares with the library's own round logic (`verify_greedy` in tinymtp/decoding/speculative.py)
on hidden rounds: every draft kept (a bonus token), none kept, a mismatch in the middle, no drafts.

`speculative_greedy` is the capstone: the whole loop (prefill, drafts from heads 2..n, one
verifying forward per round, the round's decision, the KV cache rolled back), returning the new
tokens and the number of forwards. The check runs it on hidden prompts with the shipped mtp-4head
and compares with plain greedy decoding token for token and with the library's speculative
decoder's forward count. Its slips are the mistakes learners make here, each written out as a loop
that makes exactly that one mistake; when the learner's result equals one of theirs, the check
names it (code.py): the cache rolled back one entry short or one too far, drafts kept after a
mismatch, the bonus token forgotten, the next drafts read at the end of the block instead of at
the last kept position, and the prefill's forward left out of the count.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from ..decoding.decode import decode_ids
from ..decoding.settings import DecodeSettings
from ..decoding.speculative import DecodeRun, verify_greedy
from ..files.checkpoint import load_checkpoint
from ..files.paths import SHIPPED_MODEL_NAME, checkpoints_dir
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


def speculative_greedy(model, prompt_ids: list, max_new_tokens: int) -> tuple:
    """The library's answer for the capstone: (the new tokens, forwards made), as plain greedy
    decoding writes them and as the library's speculative decoder counts its forwards."""
    greedy = decode_ids(model, list(prompt_ids), DecodeSettings("greedy", max_new_tokens))
    speculative = decode_ids(model, list(prompt_ids), DecodeSettings("speculative", max_new_tokens))
    return greedy.tokens, speculative.trace.forwards


def _loop(model, prompt_ids: list, max_new_tokens: int, keep_in_cache=lambda before, accepted: before + 1 + accepted,
          decide=greedy_round, next_drafts_at=lambda accepted, fed: accepted, prefill_counts: int = 1) -> tuple:
    """The loop with each step a parameter, so a slip is this loop with one step changed (the right
    loop is the notebook's folded solution; the reference above is the library itself)."""
    cache = model.new_cache()
    with torch.no_grad():
        row = model(torch.tensor([list(prompt_ids)]), cache=cache).logits[0, -1]  # (n, V): every head at the end
    forwards, new = prefill_counts, [int(row[0].argmax())]
    drafts = row[1:].argmax(-1).tolist()  # heads 2..n
    while len(new) < max_new_tokens:
        before = cache.length
        with torch.no_grad():
            logits = model(torch.tensor([[new[-1]] + drafts]), cache=cache).logits[0]  # (1 + drafts, n, V)
        forwards += 1
        committed = decide(drafts, logits[:, 0])
        accepted = min(len(committed) - 1, len(drafts))
        cache.truncate(min(cache.length, keep_in_cache(before, accepted)))
        new += committed
        drafts = logits[next_drafts_at(accepted, len(drafts) + 1), 1:].argmax(-1).tolist()
    return new[:max_new_tokens], forwards


def _without_bonus(drafts: list, head1_logits: torch.Tensor) -> list:
    kept = greedy_round(drafts, head1_logits)
    return kept[:-1] if len(kept) == len(drafts) + 1 and drafts else kept


SLIPS = (
    ("a loop that rolls the cache back one entry too far (cache.truncate(before + accepted): the sure "
     "token's keys and values are forgotten)",
     lambda m, p, k: _loop(m, p, k, keep_in_cache=lambda before, accepted: before + accepted)),
    ("a loop that keeps one cache entry too many (cache.truncate(before + 2 + accepted): the first "
     "rejected draft stays in the cache)",
     lambda m, p, k: _loop(m, p, k, keep_in_cache=lambda before, accepted: before + 2 + accepted)),
    ("a loop that keeps drafts after the first mismatch (it does not stop at the first rejected draft)",
     lambda m, p, k: _loop(m, p, k, decide=_every_matching_draft)),
    ("a loop that forgets the bonus token when every draft is kept",
     lambda m, p, k: _loop(m, p, k, decide=_without_bonus)),
    ("a loop that takes the next drafts at the end of the fed block instead of at the last kept position",
     lambda m, p, k: _loop(m, p, k, next_drafts_at=lambda accepted, fed: fed - 1)),
    ("a loop that does not count the prefill as a forward",
     lambda m, p, k: _loop(m, p, k, prefill_counts=0)),
)

HIDDEN_PROMPTS = ["class Stack:\n    def __init__(self", "import sys\n\n\ndef main(argv", "        for key in ",
                  "    def __repr__(self):\n        return ", "# Copyright", "x"]


@lru_cache(maxsize=1)
def _shipped():
    """The shipped mtp-4head, loaded once: (model, tokenizer)."""
    checkpoint = load_checkpoint(str(checkpoints_dir() / SHIPPED_MODEL_NAME))
    return checkpoint.model, checkpoint.tokenizer


def _loop_cases(generator: torch.Generator) -> list[dict]:
    # the shipped model (its greedy text falls into loops, where every draft is kept, so a forgotten
    # bonus shows), hidden prompts, lengths that stay inside its context window (a loop written by
    # hand has no sliding window), and one and two new tokens (the prefill alone, one round)
    model, tokenizer = _shipped()
    cases = []
    for prompt, wanted in zip(HIDDEN_PROMPTS, (50, 70, 1, 2, 60, 40)):
        ids = tokenizer.encode(prompt)
        room = model.config.context_length - len(ids) - model.config.n_heads
        cases.append({"model": model, "prompt_ids": ids, "max_new_tokens": max(1, min(wanted, room))})
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
    "06.speculative_loop": CodeExercise(
        "Write speculative_greedy(model, prompt_ids, max_new_tokens): the whole self-speculative loop, "
        "returning (the new tokens, the forward passes it made).",
        "prefill once (1 forward: head 1's argmax is the first new token, heads 2..n at the last position "
        "draft); each round feed [last token] + drafts with the cache (1 forward), commit greedy_round's "
        "tokens, cache.truncate(before + 1 + kept drafts), and take the next drafts from heads 2..n at the "
        "fed position of the last kept token (index = kept drafts); stop at max_new_tokens, cutting any extra",
        reference=speculative_greedy, cases=_loop_cases, wrong=SLIPS[0][1], slips=SLIPS),
    "06.loop_tokens_per_forward": Exercise(
        "Inside a loop of spaces, a drafter that simply proposes 3 more spaces every round (it learned "
        "nothing) feeds a 4-token verifying forward: how many tokens does each of those rounds commit?",
        "inside the loop head 1 writes a space after every space, so every draft is kept, and head 1 adds "
        "its bonus token after them",
        lambda: 4),
}
