"""Self-speculative decoding: the extra heads draft, head 1 checks, one forward per round.

One round (Stern et al. 2018, blockwise parallel decoding; Gloeckle et al. 2024):

    the last forward, at the last accepted position:  head 1 -> the sure token s
                                                      heads 2..K -> drafts d2 .. dK
    ONE forward of [s, d2, ..., dK] with the KV cache -> head 1 at every fed position
    keep the drafts head 1 agrees with, up to the first disagreement; add head 1's own token
    after the last kept one ("corrected" when a draft was rejected, "bonus" when all were kept)
    truncate the KV cache back to the kept tokens; the kept position's logits are already in
    this forward, so the next round's sure token and drafts cost no extra forward

Greedy (`verify_greedy`): a draft is kept when it equals head 1's argmax, so the output is
token for token the greedy output. Sampling (`verify_sampled`): drafts are drawn from the heads'
distributions q (same temperature and top-k as head 1's p) and kept with probability
min(1, p/q); the first rejected one is replaced by a draw from norm(max(0, p - q)); the output
then has exactly the distribution of plain sampling (see sampling.py). Head k's distribution
depends only on the context up to the kept position, not on the round's earlier drafts: it is
still a valid proposal because each draft is drawn from exactly the q used in its test.

Causal heads (DeepSeek-V3) cannot draft from one forward: each reads the previous head's draft,
so their drafts come from `causal_drafts.ChainDrafter`, and the verifying forward runs head 1 only.

The verifying functions are shared with the draft-model mode (draft.py). Blocks are shortened
so they never cross the context window's end (window.py) nor give more tokens than asked for.
Explained in notebooks/06_self_speculative_decoding.ipynb and 07_speculative_sampling.ipynb.
"""

from __future__ import annotations

import time

import torch

from .causal_drafts import ChainDrafter
from .sampling import accept_exact, choose, probabilities, residual, sample, uniform
from .trace import DraftCheck, Round
from .window import SlidingWindow

NOT_CHECKED = "not checked: an earlier draft was rejected"


def top_choices(logits):
    """Greedy picks at every fed position for every head, from one softmax and one max.

    logits (T, n, V) -> (probs (T, n, V), tokens [T][n], their probabilities [T][n]).
    """
    probs = torch.softmax(logits, dim=-1)  # (T, n, V)
    top_p, top_t = probs.max(dim=-1)  # (T, n): the same softmax-then-max as plain greedy decoding
    return probs, top_t.tolist(), top_p.tolist()


def verify_greedy(probs, top_t: list, top_p: list, drafts: list, q_values: list, drafters: list, vocab=None):
    """Keep the drafts head 1's greedy choice agrees with.

    probs, top_t, top_p: `top_choices` of the verifying forward over [sure, d_1 .. d_j]; draft i
    sits at fed position i, so it is checked against head 1's choice at position i - 1.
    Returns (accepted, next_token, next_prob, next_kind, checks).
    """
    checks, accepted, open_ = [], 0, True
    for i, (token, drafter) in enumerate(zip(drafts, drafters)):
        v, v_prob = top_t[i][0], top_p[i][0]
        ok = open_ and token == v
        p_draft = v_prob if ok else float(probs[i, 0, token])
        checks.append(DraftCheck(i + 1, drafter, token, _char(vocab, token), q_values[i], v, _char(vocab, v),
                                 v_prob, p_draft, None, ok, "match" if open_ else NOT_CHECKED, open_))
        accepted += ok
        open_ = ok
    kind = "bonus" if accepted == len(drafts) else "corrected"
    return accepted, top_t[accepted][0], top_p[accepted][0], kind, checks


def verify_sampled(head1_logits, drafts: list, q: torch.Tensor, drafters: list, temperature: float,
                   top_k, generator, vocab=None, accept_rule=accept_exact):
    """Exact speculative sampling: keep draft x ~ q with probability min(1, p(x)/q(x)).

    q (j, V): the distribution each draft was drawn from. Returns what `verify_greedy` returns.
    """
    p = probabilities(head1_logits, temperature, top_k)  # (j+1, V): head 1 after each fed position
    p_rows, q_rows = p.tolist(), q.tolist()
    rule = getattr(accept_rule, "label", getattr(accept_rule, "__name__", "custom rule"))
    checks, accepted, next_token, next_kind = [], 0, None, "bonus"
    for i, (token, drafter) in enumerate(zip(drafts, drafters)):
        p_x, q_x = p_rows[i][token], q_rows[i][token]
        if next_token is None:  # still checking
            u = uniform(generator)
            ok = bool(accept_rule(p_x, q_x, u))
            if ok:
                accepted += 1
                v = token
            else:  # the first rejection: the replacement comes from the leftover mass of p
                next_token, next_kind = sample(residual(p[i], q[i]), generator), "corrected"
                v = next_token
            checks.append(DraftCheck(i + 1, drafter, token, _char(vocab, token), q_x, v, _char(vocab, v),
                                     p_rows[i][v], p_x, u, ok, rule))
        else:  # after a rejection nothing is tested; show head 1's most likely token there
            v = max(range(len(p_rows[i])), key=p_rows[i].__getitem__)
            checks.append(DraftCheck(i + 1, drafter, token, _char(vocab, token), q_x, v, _char(vocab, v),
                                     p_rows[i][v], p_x, None, False, NOT_CHECKED, False))
    if next_token is None:  # every draft kept: one bonus token from p after the last one
        next_token = sample(p[len(drafts)], generator)
    return accepted, next_token, p_rows[accepted][next_token], next_kind, checks


def self_speculative_decode(model, K, prompt_ids, max_new_tokens, temperature, top_k, generator, vocab,
                            trace, accept_rule=accept_exact) -> list:
    """Heads 2..K draft, head 1 verifies; greedy when temperature == 0, else exact sampling."""
    trace.drafters = list(range(2, K + 1))
    chain = ChainDrafter(model, K) if model.chained else None  # causal heads draft one after the other
    window = SlidingWindow(model, heads=1 if chain else K)  # heads 1..K in every forward, so block heads' caches stay whole
    tokens, P = list(prompt_ids), len(prompt_ids)

    t0 = time.perf_counter()
    logits, _ = window.feed(tokens, P)  # the prefill: (T, K, V)
    if chain:
        chain.record(window)
    row = logits[-1]  # (K, V): every head at the last accepted position
    if temperature == 0:
        probs, top_t, top_p = top_choices(logits[-1:])
        token, prob, kept = top_t[0][0], top_p[0][0], 0  # row `kept` of top_t/top_p holds the drafts
    else:
        token, prob = choose(row[0], temperature, top_k, generator)  # the first sure token
    trace.add(prefill_round(window, tokens, logits.size(0), token, prob, t0))
    tokens.append(token)

    while len(tokens) - P < max_new_tokens and not trace.stopped:
        t0 = time.perf_counter()
        m = len(tokens) - 1  # position of the sure token: committed, not yet fed
        left = max_new_tokens - (len(tokens) - P)  # a round commits at most (drafts + 1) tokens
        j = min(K - 1, left - 1, window.last_position(m) - m)  # drafts this round
        drafters = trace.drafters[:j]
        if chain:  # causal heads: each draft is fed to the next head (causal_drafts.py)
            drafts, q_values = chain.draft(tokens, m - 1, j, temperature, top_k, generator)
            q_probs = q_values
        elif temperature == 0:  # heads 2..j+1's greedy guesses, already picked at the kept position
            drafts, q_values = top_t[kept][1 : j + 1], top_p[kept][1 : j + 1]
        else:
            q_probs = probabilities(row[1 : j + 1], temperature, top_k)  # (j, V)
            drafts = torch.multinomial(q_probs, 1, generator=generator)[:, 0].tolist() if j else []
        before = window.cache.length
        logits, reread = window.feed(tokens + drafts, m + 1 + j)  # ONE forward: (j+1, K, V)
        if chain:
            chain.record(window)
        if temperature == 0:
            probs, top_t, top_p = top_choices(logits)
            accepted, token, prob, kind, checks = verify_greedy(probs, top_t, top_p, drafts, q_values, drafters,
                                                                vocab)
            kept = accepted
        else:
            accepted, token, prob, kind, checks = verify_sampled(logits[:, 0], drafts, q_probs, drafters,
                                                                 temperature, top_k, generator, vocab,
                                                                 accept_rule)
            row = logits[accepted]  # the next drafts come from the last kept position
        committed = drafts[:accepted] + [token]
        fed = [tokens[m]] + drafts
        tokens.extend(committed)
        window.truncate(m + accepted + 1)  # rejected drafts leave the cache
        trace.add(Round(
            index=trace.forwards, kind="verify", fed=fed, checks=checks, accepted=accepted, next_token=token,
            next_kind=kind, next_prob=prob, committed=committed, cache_before=before,
            cache_after=window.cache.length, seconds=time.perf_counter() - t0, note=window.note(reread),
            window_start=window.start, reread=reread))
    return tokens[P:]


def prefill_round(window: SlidingWindow, tokens: list, fed: int, token: int, prob: float, started: float) -> Round:
    """Round 0 of a speculative run: the prompt's forward (its last `fed` tokens), which commits `token`."""
    return Round(0, "prefill", tokens[len(tokens) - fed :], next_token=token, next_prob=prob, committed=[token],
                 cache_after=window.cache.length, window_start=window.start,
                 seconds=time.perf_counter() - started, note=window.note(0, prefill=True))


def _char(vocab, token: int) -> str:
    return vocab[token] if vocab else ""
