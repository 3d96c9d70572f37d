"""Drafting with causal (DeepSeek-V3) heads: one head after the other, each with its own cache.

Linear, mlp and block heads all read the same trunk state, so one forward gives every draft at
once. A causal head k reads two things at position t: head k-1's hidden state and the token
x[t+k-1]. When drafting from the last accepted position p, that token is

    head 2: x[p+1], the sure token (committed)      head 3: x[p+2] = head 2's draft
    head 4: x[p+3] = head 3's draft                  ...

so the drafts come one after the other: head 2 drafts, its draft is fed to head 3, and so on.
Each causal head also has its own attention layer, which looks back over its own keys and
values at earlier positions. Those are kept in a small KV cache per head. An entry of head k at
position j is *final* once the token it read, x[j+k-1], is committed; entries that read a draft
are provisional and are recomputed in the next round. So each round, head k computes its
positions from its first non-final one up to p (a few positions: those accepted since the last
round plus k-2 provisional ones) and then forgets the provisional ones.

The verifying forward itself runs the trunk and head 1 only (the chain cannot run there: its
tokens are not known yet). The drafts cost K-1 extra small forwards per round, which is the
price of drafts that see the earlier drafts. Explained in notebooks/09_trees_and_causal_heads.ipynb.
"""

from __future__ import annotations

import torch

from ..core.kvcache import KVCache
from .sampling import probabilities


class ChainDrafter:
    """Heads 2..draft_len+1 of a causal model, drafting in turn from the last accepted position.
    A drafter for the speculative loop and tree decoding (drafters.py)."""

    verify_heads = 1  # the verifying forward runs head 1 only: the chain cannot run there
    own_forwards = 0  # its small forwards are not forwards of the main model

    def __init__(self, model, draft_len: int):
        cfg = model.config
        p = next(model.parameters())
        self.model = model
        self.labels = list(range(2, draft_len + 2))  # head k drafts the (k-1)-th token of a round
        L, C = cfg.context_length, cfg.d_model
        self.caches = {k: KVCache(1, cfg.attn_heads, C // cfg.attn_heads, L, 1, p.dtype, p.device)
                       for k in self.labels}  # head k's own keys/values, final entries only
        self.hidden = {k: torch.zeros(L, C, dtype=p.dtype, device=p.device)
                       for k in [1] + self.labels}  # (L, C) per head
        self.window_start = 0

    def begin(self, window, forward) -> None:
        self.record(window, forward)

    def draft(self, tokens: list, draft_len: int, run):
        """The speculative loop's call: tokens[-1] is the sure token."""
        return self.guess(tokens, len(tokens) - 2, draft_len, run.temperature, run.top_k, run.generator)

    def after_verify(self, window, forward, kept: int, end: int) -> None:
        self.record(window, forward)  # its caches hold final entries only: nothing to roll back

    def record(self, window, forward) -> None:
        """Keep head 1's hidden states from the window's last forward (the chain starts from them)."""
        if window.start != self.window_start:  # the window restarted: every head starts over
            for cache in self.caches.values():
                cache.reset()
            self.window_start = window.start
        h = forward.hidden[:, 0]  # (T, C): head 1 at the fed slots
        self.hidden[1][forward.slot : forward.slot + h.size(0)] = h

    def ranked(self, tokens: list, tree) -> tuple[list, list]:
        """For tree decoding: each head's `tree.widths[d]` best guesses at depth d, along the chain of
        first choices (a deeper head reads the first choice before it). Returns (candidates, q) with
        index 0 left for the root, as drafters.py describes."""
        self.guess(tokens, len(tokens) - 2, tree.depth, 0.0, None, None, widths=tree.widths)  # fills candidates
        return [[]] + self.candidates, [[]] + self.candidate_probs

    def guess(self, tokens: list, p: int, count: int, temperature: float, top_k, generator, widths=None):
        """`count` drafts for positions p+2 .. p+count+1; tokens[p+1] is the sure token.

        p: the last accepted (fed) position, absolute. Returns (drafts, q): q is a list of the
        drafts' probabilities (greedy) or a (count, V) tensor of the distributions they were
        drawn from (sampling). With `widths` (greedy), each head's widths[d] best guesses are
        also kept in `self.candidates` / `self.candidate_probs`.
        """
        self.candidates, self.candidate_probs = [], []
        start = self.window_start
        last = p - start  # the last accepted position's cache slot
        chain = tokens[start : p + 2]  # the window up to the sure token: chain[j] = x[start + j]
        drafts, q_values, q_rows = [], [], []
        for k in range(2, count + 2):
            cache = self.caches[k]
            first = cache.length  # head k's first non-final slot
            ids = torch.tensor([chain[first + k - 1 : p + k - start]], device=self.hidden[1].device)  # (1, L)
            previous = self.hidden[k - 1][first : last + 1][None]  # (1, L, C)
            z, logits = self.model.chain_step(k, previous, ids, cache)  # (1, L, C), (1, L, V)
            cache.advance(ids.size(1))
            self.hidden[k][first : last + 1] = z[0]
            if temperature == 0:
                probs = torch.softmax(logits[0, -1], dim=-1)  # (V,)
                prob, token = probs.max(dim=-1)  # the head's greedy guess
                token, q = int(token), float(prob)
                q_values.append(q)
                if widths is not None:
                    top_p, top_t = probs.topk(widths[k - 1])  # (w,)
                    self.candidates.append(top_t.tolist())
                    self.candidate_probs.append(top_p.tolist())
            else:
                row = probabilities(logits[0, -1:], temperature, top_k)  # (1, V)
                token = int(torch.multinomial(row, 1, generator=generator)[0, 0])
                q_rows.append(row[0])
            drafts.append(token)
            chain.append(token)
            cache.truncate(min(cache.length, last + 3 - k))  # entries that read a draft are provisional
        if temperature == 0:
            return drafts, q_values
        V = self.model.config.vocab_size
        return drafts, torch.stack(q_rows) if q_rows else torch.zeros(0, V, device=self.hidden[1].device)
