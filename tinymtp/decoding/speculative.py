"""Speculative decoding: a drafter guesses, head 1 checks, one forward of the main model per round.

One loop serves every drafter (drafters.py: the model's own heads, causal heads, a separate
draft model, prompt lookup). One round (Stern et al. 2018; Leviathan et al. 2023):

    the sure token s: head 1's choice at the last kept position (committed, not yet fed)
    the drafter guesses d1 .. dj (j = draft_len, shortened near the end of the text or window)
    ONE forward of [s, d1, ..., dj] with the KV cache -> head 1 at every fed position
    keep the drafts head 1 agrees with, up to the first disagreement; add head 1's own token
    after the last kept one ("corrected" when a draft was rejected, "bonus" when all were kept)
    truncate the KV cache back to the kept tokens (the drafter rolls back too); the kept
    position's logits are already in this forward, so the next sure token costs nothing

Greedy (`verify_greedy`): a draft is kept when it equals head 1's argmax, so the output is
token for token the greedy output. Sampling (`verify_sampled`): drafts are drawn from the
drafter's distributions q and kept with probability min(1, p/q); the first rejected one is
replaced by a draw from norm(max(0, p - q)); the output then has exactly the distribution of
plain sampling (sampling.py). A head's q depends only on the context up to the kept position,
not on the round's earlier drafts: still a valid proposal, since each draft is drawn from
exactly the q used in its test.

Plain greedy decoding and sampling (decode.plain_decode) are kept as a separate, simpler loop
on purpose: they are the golden reference the tests compare this loop against.
Explained in notebooks/06_self_speculative_decoding.ipynb and 07_speculative_sampling.ipynb.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .sampling import accept_exact, choose, probabilities, residual, sample, uniform
from .trace import TOP_SHOWN, DraftCheck, Round
from .window import SlidingWindow

NOT_CHECKED = "not checked: an earlier draft was rejected"


@dataclass
class DecodeRun:
    """What every decoding loop needs besides the model and the prompt."""

    max_new_tokens: int
    temperature: float = 0.0  # 0: greedy
    top_k: int | None = None
    generator: torch.Generator | None = None  # seeded: every draw of a run comes from it
    vocab: str | None = None  # only to show characters in the trace
    accept_rule: Callable = accept_exact  # tests swap in a wrong rule to show it matters
    detail: bool = True  # sampling: record p and q's likeliest tokens and the residual (trace.py) for drawing

    def char(self, token: int) -> str:
        return self.vocab[token] if self.vocab else ""


@dataclass
class Verdict:
    """What checking one round's drafts decided."""

    accepted: int  # drafts kept: the longest accepted prefix
    token: int  # head 1's token after them: "corrected" or "bonus"
    prob: float  # its probability under head 1
    kind: str  # "corrected" | "bonus"
    checks: list  # one DraftCheck per draft


def top_choices(logits):
    """Greedy picks at every fed position for every head, from one softmax and one max.

    logits (T, n, V) -> (probs (T, n, V), tokens [T][n], their probabilities [T][n]).
    """
    probs = torch.softmax(logits, dim=-1)  # (T, n, V)
    top_p, top_t = probs.max(dim=-1)  # (T, n): the same softmax-then-max as plain greedy decoding
    return probs, top_t.tolist(), top_p.tolist()


def verify_greedy(head1_logits, drafts: list, q: list, labels: list, run: DecodeRun) -> Verdict:
    """Keep the drafts head 1's greedy choice agrees with.

    head1_logits (j+1, V): head 1 after each fed token [sure, d1 .. dj]; draft i sits at fed
    position i, so it is checked against head 1's choice at position i - 1.
    """
    probs, top_t, top_p = top_choices(head1_logits[:, None, :])  # (j+1, 1, V)
    checks, accepted, still_checking = [], 0, True
    for i, (token, label) in enumerate(zip(drafts, labels)):
        choice, choice_prob = top_t[i][0], top_p[i][0]
        ok = still_checking and token == choice
        checks.append(DraftCheck(
            offset=i + 1, drafter=label, token=token, char=run.char(token), q=q[i], verifier_token=choice,
            verifier_char=run.char(choice), verifier_prob=choice_prob,
            p=choice_prob if ok else float(probs[i, 0, token]), uniform=None, accepted=ok,
            rule="match" if still_checking else NOT_CHECKED, checked=still_checking))
        accepted += ok
        still_checking = ok
    kind = "bonus" if accepted == len(drafts) else "corrected"
    return Verdict(accepted, top_t[accepted][0], top_p[accepted][0], kind, checks)


def likeliest(p: torch.Tensor, q: torch.Tensor, k: int = TOP_SHOWN) -> list:
    """For each draft i, the ids of the k likeliest tokens under p[i] and under q[i], likeliest under
    p[i] first (p[i]'s best leads). p, q: (j, V); one top-k for the whole round."""
    j, k = q.size(0), min(k, q.size(-1))
    if j == 0:
        return []
    best = torch.topk(torch.cat([p[:j], q]), k, dim=-1).indices.tolist()  # 2j x k: p's rows, then q's
    return [best[i] + [t for t in best[j + i] if t not in best[i]] for i in range(j)]


def top_of_both(tokens: list, p_row: list, q_row: list) -> list:
    """[token, p, q] for `tokens` (likeliest), likeliest under p first. JSON-safe, for the trace."""
    return sorted(([t, round(p_row[t], 6), round(q_row[t], 6)] for t in sorted(tokens)), key=lambda row: -row[1])


def verify_sampled(head1_logits, drafts: list, q: torch.Tensor, labels: list, run: DecodeRun) -> Verdict:
    """Exact speculative sampling: keep draft x ~ q with probability min(1, p(x)/q(x)).

    q (j, V): the distribution each draft was drawn from. With run.detail each checked draft also
    records p and q at their likeliest tokens, and the rejected one the residual it was replaced from
    (trace.py; what the app draws), computed only then: it costs about as much as checking.
    """
    p = probabilities(head1_logits, run.temperature, run.top_k)  # (j+1, V): head 1 after each fed token
    p_rows, q_rows = p.tolist(), q.tolist()
    tops = likeliest(p, q) if run.detail else None
    rule = getattr(run.accept_rule, "label", getattr(run.accept_rule, "__name__", "custom rule"))
    checks, accepted, next_token, kind = [], 0, None, "bonus"
    for i, (token, label) in enumerate(zip(drafts, labels)):
        p_x, q_x, u, still_checking = p_rows[i][token], q_rows[i][token], None, next_token is None
        shown = dict(top=top_of_both(tops[i], p_rows[i], q_rows[i])) if still_checking and tops else {}
        if still_checking:
            u = uniform(run.generator)
            ok = bool(run.accept_rule(p_x, q_x, u))
            if ok:
                accepted += 1
                choice = token
            else:  # the first rejection: the replacement comes from the leftover mass of p
                leftover = residual(p[i], q[i])  # (V,)
                next_token, kind = sample(leftover, run.generator), "corrected"
                choice = next_token
                if tops:
                    shown.update(residual_mass=float(torch.clamp(p[i] - q[i], min=0).sum()),
                                 residual_prob=float(leftover[next_token]))
        else:  # after a rejection nothing is tested; show head 1's most likely token there
            ok, choice = False, tops[i][0] if tops else int(p[i].argmax())
        checks.append(DraftCheck(
            offset=i + 1, drafter=label, token=token, char=run.char(token), q=q_x, verifier_token=choice,
            verifier_char=run.char(choice), verifier_prob=p_rows[i][choice], p=p_x, uniform=u, accepted=ok,
            rule=rule if still_checking else NOT_CHECKED, checked=still_checking, **shown))
    if next_token is None:  # every draft kept: one bonus token from p after the last one
        next_token = sample(p[len(drafts)], run.generator)
    return Verdict(accepted, next_token, p_rows[accepted][next_token], kind, checks)


def prefill(window: SlidingWindow, tokens: list, run: DecodeRun, trace):
    """Round 0 of every loop: read the prompt in one forward and commit its first token.
    Returns the prefill's Forward (window.py; logits (T, heads, V)); `tokens` gains the new token."""
    started = time.perf_counter()
    forward = window.feed(tokens, len(tokens))
    logits = forward.logits  # (T, heads, V)
    token, prob = choose(logits[-1, 0], run.temperature, run.top_k, run.generator)
    trace.add(Round(
        index=0, kind="prefill", fed=tokens[len(tokens) - logits.size(0) :], next_token=token, next_prob=prob,
        committed=[token], cache_after=window.cache.length, window_start=window.start,
        seconds=time.perf_counter() - started, note=window.note(0, prefill=True)))
    tokens.append(token)
    return forward


def round_length(window: SlidingWindow, tokens: list, prompt_len: int, run: DecodeRun, draft_len: int) -> int:
    """Drafts this round: draft_len, fewer near max_new_tokens (a round commits up to drafts + 1)
    or the window's end (a block never crosses it, see window.py)."""
    sure = len(tokens) - 1  # position of the sure token: committed, not fed yet
    left = run.max_new_tokens - (len(tokens) - prompt_len)
    return min(draft_len, left - 1, window.last_position(sure) - sure)


def speculative_decode(model, drafter, prompt_ids: list, run: DecodeRun, trace) -> list:
    """The drafter guesses, head 1 verifies; greedy when temperature == 0, else exact sampling."""
    trace.drafters = list(drafter.labels)
    window = SlidingWindow(model, heads=drafter.verify_heads)
    tokens, P = list(prompt_ids), len(prompt_ids)
    drafter.begin(window, prefill(window, tokens, run, trace))
    verify = verify_greedy if run.temperature == 0 else verify_sampled
    while len(tokens) - P < run.max_new_tokens and not trace.stopped:
        started = time.perf_counter()
        sure = len(tokens) - 1
        j = round_length(window, tokens, P, run, len(drafter.labels))
        drafts, q = drafter.draft(tokens, j, run)
        before = window.cache.length
        forward = window.feed(tokens + drafts, sure + 1 + j)  # ONE forward: logits (j+1, heads, V)
        reread = forward.reread
        verdict = verify(forward.logits[:, 0], drafts, q, drafter.labels[:j], run)
        end = sure + 1 + verdict.accepted  # just after the kept drafts
        drafter.after_verify(window, forward, verdict.accepted, end)
        window.truncate(end)  # rejected drafts leave the cache
        committed = drafts[: verdict.accepted] + [verdict.token]
        trace.add(Round(
            index=trace.forwards, kind="verify", fed=[tokens[sure]] + drafts, checks=verdict.checks,
            accepted=verdict.accepted, next_token=verdict.token, next_kind=verdict.kind, next_prob=verdict.prob,
            committed=committed, cache_before=before, cache_after=window.cache.length,
            seconds=time.perf_counter() - started, note=window.note(reread), window_start=window.start,
            reread=reread, draft_forwards=drafter.own_forwards))
        tokens.extend(committed)
    return tokens[P:]
