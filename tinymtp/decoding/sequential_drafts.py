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

Cheap by arithmetic, not by approximation: head k's first layer is one linear map of
[norm(h), norm(e(x[p+1])), ..., norm(e(x[p+k-1]))], so it splits into a part from h (computed once
a round for every head, one matrix product) and one part per token slot, which depends only on the
token: a table of V rows per slot, made once per run (`SequentialDrafter.prepare`). A draft is then
a few table rows added up, SiLU, the second layer, the shared norm and the unembedding. The same
numbers as `MTPModel.draft_step`, summed in another order (tests/test_sequential.py).

Greedy: each draft is the head's argmax, so the output is the greedy text (head 1 checks every
draft). Sampling: each draft is drawn from the head's distribution q given the drafts before it,
and q is exactly what the acceptance test min(1, p/q) uses, so the output is distributed as
plain sampling (speculative.py). The verifying forward runs head 1 only.
Explained in notebooks/09_trees_and_causal_heads.ipynb.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

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
        self.prepare(draft_len)

    @torch.no_grad()
    def prepare(self, draft_len: int) -> None:
        """Split each drafting head's first layer into the part that reads h and one table per token slot."""
        model, C = self.model, self.model.config.d_model
        embedding = model.trunk.token_embedding.weight  # (V, C)
        self.tables, scaled, biases = {}, [], []
        for k in range(2, draft_len + 2):
            head = model.heads[k - 1]
            W = head.up.weight  # (4C, k*C): [from h | from x[p+1] | ... | from x[p+k-1]]
            scaled.append(W[:, :C] * head.hidden_norm.weight)  # (4C, C): the norm's scale folded in
            biases.append(head.up.bias)  # (4C,)
            tokens = head.embedding_norm(embedding)  # (V, C): every token's normed embedding
            self.tables[k] = [tokens @ W[:, C * j : C * (j + 1)].T for j in range(1, k)]  # k-1 x (V, 4C)
        self.from_hidden = torch.cat(scaled)  # ((K-1)*4C, C): every head's part from h, stacked
        self.bias = torch.cat(biases)  # ((K-1)*4C,)
        self.eps = model.heads[1].hidden_norm.eps

    def begin(self, window, forward) -> None:
        self.start(forward.trunk[-1:])  # (1, C): the prompt's last position

    def after_verify(self, window, forward, kept: int, end: int) -> None:
        self.start(forward.trunk[forward.reread + kept][None])  # (1, C): the last kept position

    def start(self, hidden) -> None:
        """A new round drafts from `hidden` (1, C): every head's part from it, in one product."""
        self.hidden = hidden
        normed = hidden * torch.rsqrt(hidden.pow(2).mean(-1, keepdim=True) + self.eps)  # (1, C)
        self.from_h = torch.addmm(self.bias, normed, self.from_hidden.T).split(4 * hidden.size(-1), dim=-1)

    def head_logits(self, k: int, chain: list):
        """Head k's logits (V,) after the tokens x[p+1..p+k-1] = chain[:k-1]: MTPModel.draft_step's numbers."""
        pre = self.from_h[k - 2][0]  # (4C,)
        for j, table in enumerate(self.tables[k]):
            pre = pre + table[chain[j]]  # (4C,)
        head = self.model.heads[k - 1]
        z = self.hidden[0] + F.linear(F.silu(pre), head.down.weight, head.down.bias)  # (C,)
        return self.model.unembedding(self.model.final_norm(z))  # (V,)

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
            logits = self.head_logits(k, chain)  # (V,): head k after x[p+1 .. p+k-1]
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
