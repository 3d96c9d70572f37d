"""Classic speculative decoding: a separate small model drafts, the main model verifies.

One round (Leviathan et al. 2023; Chen et al. 2023):

    the draft model (next-token, its own KV cache) proposes d1, d2, ..., dK, one forward each
    ONE forward of the main model over [s, d1, ..., dK] -> head 1 at every fed position
    keep the agreeing prefix (greedy) or apply the exact rule min(1, p/q) (sampling), add the
    main model's corrected or bonus token, and roll BOTH caches back to the kept tokens

It is the same verification as self-speculative decoding (speculative.py); only the drafter
changes: a small model that has to run K times per round, instead of heads that come free
with the main model's forward. The main model runs head 1 only, as a plain next-token model.
The draft model needs the main model's vocabulary; its own context window follows the same
rule (window.py), though only the main model's windows matter for exactness.

Explained in notebooks/06_self_speculative_decoding.ipynb.
"""

from __future__ import annotations

import time

import torch

from .sampling import accept_exact, choose, probabilities, sample
from .speculative import prefill_round, top_choices, verify_greedy, verify_sampled
from .trace import Round
from .window import SlidingWindow


def propose(draft: SlidingWindow, tokens: list, count: int, temperature: float, top_k, generator):
    """The draft model continues `tokens` by `count` tokens, one forward each.

    Returns (drafts, q): q is a list of the draft's probability of each draft (greedy) or a
    (count, V) tensor of the distributions they were drawn from (sampling).
    """
    seq, drafts, q = list(tokens), [], []
    for _ in range(count):
        logits, _ = draft.feed(seq, len(seq))  # feeds whatever the draft has not seen: (T, 1, V)
        last = logits[-1, 0]  # (V,)
        if temperature == 0:
            token, prob = choose(last, 0, None, None)
            q.append(prob)
        else:
            dist = probabilities(last, temperature, top_k)  # (V,)
            token = sample(dist, generator)
            q.append(dist)
        drafts.append(token)
        seq.append(token)
    if temperature != 0:
        q = torch.stack(q) if q else torch.empty(0)  # (count, V)
    return drafts, q


def draft_model_decode(model, draft_model, K, prompt_ids, max_new_tokens, temperature, top_k, generator,
                       vocab, trace, accept_rule=accept_exact) -> list:
    """The draft model proposes K tokens per round; the main model's head 1 verifies them."""
    trace.drafters = list(range(1, K + 1))  # draft steps 1..K play the role of heads
    main = SlidingWindow(model, heads=1)
    draft = SlidingWindow(draft_model, heads=1)
    tokens, P = list(prompt_ids), len(prompt_ids)

    t0 = time.perf_counter()
    logits, _ = main.feed(tokens, P)  # the main model's prefill: (T, 1, V)
    token, prob = choose(logits[-1, 0], temperature, top_k, generator)
    trace.add(prefill_round(main, tokens, logits.size(0), token, prob, t0))
    tokens.append(token)

    while len(tokens) - P < max_new_tokens and not trace.stopped:
        t0 = time.perf_counter()
        m = len(tokens) - 1  # position of the sure token: committed, not yet fed to the main model
        left = max_new_tokens - (len(tokens) - P)
        j = min(K, left - 1, main.last_position(m) - m)
        drafts, q = propose(draft, tokens, j, temperature, top_k, generator)
        before = main.cache.length
        logits, reread = main.feed(tokens + drafts, m + 1 + j)  # ONE forward of the main model: (j+1, 1, V)
        if temperature == 0:
            probs, top_t, top_p = top_choices(logits)
            accepted, token, prob, kind, checks = verify_greedy(probs, top_t, top_p, drafts, q, trace.drafters,
                                                                vocab)
        else:
            accepted, token, prob, kind, checks = verify_sampled(logits[:, 0], drafts, q, trace.drafters,
                                                                 temperature, top_k, generator, vocab,
                                                                 accept_rule)
        committed = drafts[:accepted] + [token]
        fed = [tokens[m]] + drafts
        tokens.extend(committed)
        main.truncate(m + accepted + 1)  # both caches forget the rejected drafts
        draft.truncate(min(draft.end, m + accepted + 1))
        trace.add(Round(
            index=trace.forwards, kind="verify", fed=fed, checks=checks, accepted=accepted, next_token=token,
            next_kind=kind, next_prob=prob, committed=committed, cache_before=before,
            cache_after=main.cache.length, seconds=time.perf_counter() - t0, note=main.note(reread),
            window_start=main.start, reread=reread, draft_forwards=j))
    return tokens[P:]
