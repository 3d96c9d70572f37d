"""Drafting with sequential (Hydra) heads: each draft reads the drafts before it, for a small MLP.

A parallel head k guesses x[p+k] from the trunk's hidden state at the last kept position p alone,
so its best guess is the marginal over the tokens in between. A sequential head k also reads the
embeddings of x[p+1..p+k-1] (core/heads.py): in training the text's own tokens, in decoding the
sure token and the drafts made so far. So the drafts come one after the other, as with causal
heads, but each costs one two-layer MLP and the unembedding on ONE row, not a transformer layer
with its own cache:

    h = the trunk's hidden state at p (from the last forward: Forward.trunk)
    head 2 reads h, x[p+1] (the sure token)              -> draft 1
    head 3 reads h, x[p+1], draft 1                      -> draft 2
    head 4 reads h, x[p+1], draft 1, draft 2             -> draft 3

Greedy: each draft is the head's argmax, so the output is the greedy text (head 1 checks every
draft). Sampling: each draft is drawn from the head's distribution q given the drafts before it,
and q is exactly what the acceptance test min(1, p/q) uses, so the output is distributed as
plain sampling (speculative.py). The verifying forward runs head 1 only.
Explained in notebooks/09_trees_and_causal_heads.ipynb.
"""

from __future__ import annotations

import torch

from .sampling import probabilities


class SequentialDrafter:
    """Heads 2..draft_len+1 of a sequential model, drafting in turn from the last kept position."""

    verify_heads = 1  # the verifying forward runs head 1 only: the drafts are not known there yet
    own_forwards = 0  # its MLPs are not forwards of the main model

    def __init__(self, model, draft_len: int):
        self.model = model
        self.labels = list(range(2, draft_len + 2))  # head k drafts the (k-1)-th token of a round
        self.hidden = None  # (1, C): the trunk's hidden state at the last kept position
        self.device = next(model.parameters()).device

    def begin(self, window, forward) -> None:
        self.hidden = forward.trunk[-1:]  # (1, C): the prompt's last position

    def after_verify(self, window, forward, kept: int, end: int) -> None:
        self.hidden = forward.trunk[forward.reread + kept][None]  # (1, C): the last kept position

    def draft(self, tokens: list, draft_len: int, run):
        """The speculative loop's call: tokens[-1] is the sure token. Returns (drafts, q) as drafters.py says."""
        drafts, q, _ = self.guess(tokens[-1], draft_len, run.temperature, run.top_k, run.generator)
        return drafts, q

    def ranked(self, tokens: list, tree) -> tuple[list, list]:
        """For tree decoding: each head's tree.widths[d] best guesses at depth d, along the chain of
        first choices (head d+1 reads the first choices before it); index 0 left for the root."""
        _, _, top = self.guess(tokens[-1], tree.depth, 0.0, None, None, widths=tree.widths)
        return [[]] + [t for t, _ in top], [[]] + [p for _, p in top]

    def guess(self, sure: int, count: int, temperature: float, top_k, generator, widths=None) -> tuple:
        """`count` drafts after the sure token: (drafts, q, top), q the drafts' probabilities (greedy)
        or the (count, V) distributions they were drawn from (sampling); top: with `widths`, each
        head's widths[d] best (tokens, probabilities)."""
        chain, drafts, q_values, q_rows, top = [sure], [], [], [], []
        for k in range(2, count + 2):
            ids = torch.tensor([chain], device=self.device)  # (1, k-1): x[p+1 .. p+k-1]
            logits = self.model.draft_step(k, self.hidden, ids)[0]  # (V,)
            if temperature == 0:
                probs = torch.softmax(logits, dim=-1)  # (V,)
                prob, token = probs.max(dim=-1)  # the same softmax-then-max as the verifier
                token = int(token)
                q_values.append(float(prob))
                if widths is not None:
                    top_p, top_t = probs.topk(widths[k - 1])  # (w,)
                    top.append((top_t.tolist(), top_p.tolist()))
            else:
                row = probabilities(logits[None], temperature, top_k)  # (1, V)
                token = int(torch.multinomial(row, 1, generator=generator)[0, 0])
                q_rows.append(row[0])
            drafts.append(token)
            chain.append(token)
        if temperature == 0:
            return drafts, q_values, top
        V = self.model.config.vocab_size
        return drafts, torch.stack(q_rows) if q_rows else torch.zeros(0, V, device=self.device), top
