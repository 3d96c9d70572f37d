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

Cheap by arithmetic, not by approximation (`SequentialDrafter.prepare`, once per run):
- head k's first layer is one linear map of [norm(h), norm(e(x[p+1])), ..., norm(e(x[p+k-1]))],
  so it splits into a part from h (every head's at once: one matrix product a round) and one part
  per token slot, which depends only on the token: a table of V rows. A token drafted at slot j
  adds its row to every later head's sum in one addition (`slots[j]` holds those heads' rows
  side by side);
- the shared final norm's scale and shift are folded into the unembedding, and each head's
  second-layer bias into h, so a draft is: SiLU, one matrix product, a plain norm, one product.
Sampling draws every draft of a round from one seeded table of noise: the largest logits/T + g,
g = -log(Exp(1)) (a Gumbel draw), is a sample of softmax(logits/T) (the "Gumbel-max trick"),
so no softmax is needed inside the loop; q, the drafts' distributions, come from one softmax
after it. The same numbers as `MTPModel.draft_step`, summed in another order (tests/test_sequential.py).

Greedy: each draft is the head's argmax, so the output is the greedy text (head 1 checks every
draft). Sampling: each draft is drawn from the head's distribution q given the drafts before it,
and q is exactly what the acceptance test min(1, p/q) uses, so the output is distributed as
plain sampling (speculative.py). The verifying forward runs head 1 only.
Explained in notebooks/09_trees_and_causal_heads.ipynb.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .sampling import probabilities, top_k_mask


class SequentialDrafter:
    """Heads 2..draft_len+1 of a sequential model, drafting in turn from the last kept position."""

    verify_heads = 1  # the verifying forward runs head 1 only: the drafts are not known there yet
    own_forwards = 0  # its MLPs are not forwards of the main model

    def __init__(self, model, draft_len: int):
        self.model = model
        self.labels = list(range(2, draft_len + 2))  # head k drafts the (k-1)-th token of a round
        self.device = next(model.parameters()).device
        self.prepare(draft_len)

    @torch.no_grad()
    def prepare(self, draft_len: int) -> None:
        """Split the drafting heads' first layers (a part from h, tables per token slot); fold the biases and norms."""
        model, C, K = self.model, self.model.config.d_model, draft_len
        embedding = model.trunk.token_embedding.weight  # (V, C)
        heads = [model.heads[k - 1] for k in range(2, K + 2)]  # heads 2..K+1
        self.width = 4 * C  # one head's first-layer output
        # head k's first layer: W (4C, k*C) = [from h | from x[p+1] | ... | from x[p+k-1]]
        self.from_hidden = torch.cat([h.up.weight[:, :C] * h.hidden_norm.weight for h in heads]).T.contiguous()  # (C, K*4C)
        self.up_bias = torch.cat([h.up.bias for h in heads])[None]  # (1, K*4C)
        tables = [[h.embedding_norm(embedding) @ h.up.weight[:, C * j : C * (j + 1)].T for j in range(1, k)]
                  for k, h in zip(range(2, K + 2), heads)]  # head k: k-1 tables (V, 4C), one per slot
        # slots[j]: what token x[p+j] adds to heads j+1..K+1, side by side: (V, (K+1-j)*4C)
        self.slots = {j: torch.cat([tables[k - 2][j - 1] for k in range(j + 1, K + 2)], dim=1) for j in range(1, K + 1)}
        self.down = [h.down.weight.T.contiguous() for h in heads]  # K x (4C, C)
        self.down_bias = torch.stack([h.down.bias for h in heads])  # (K, C)
        norm, unembed = model.final_norm, model.unembedding.weight  # LayerNorm(C), (V, C)
        self.out = (unembed * norm.weight).T.contiguous()  # (C, V): the norm's scale folded in
        self.out_bias = unembed @ norm.bias  # (V,): and its shift
        self.norm_eps, self.rms_eps = norm.eps, heads[0].hidden_norm.eps
        self.from_h = self.base = None  # set by start()

    def begin(self, window, forward) -> None:
        self.start(forward.trunk[-1:])  # (1, C): the prompt's last position

    def after_verify(self, window, forward, kept: int, end: int) -> None:
        self.start(forward.trunk[forward.reread + kept][None])  # (1, C): the last kept position

    @torch.no_grad()
    def start(self, hidden) -> None:
        """A new round drafts from `hidden` (1, C): every head's part from it, in one product."""
        scale = 1.0 / math.sqrt(float(hidden.pow(2).mean()) + self.rms_eps)  # RMSNorm's 1 / rms(h)
        self.from_h = torch.addmm(self.up_bias, hidden, self.from_hidden, alpha=scale)  # (1, K*4C): W norm(h) + b
        self.base = hidden + self.down_bias  # (K, C): each head adds its MLP to h (and its bias)

    def head_logits(self, k: int, chain: list):
        """Head k's logits (V,) after x[p+1..p+k-1] = chain[:k-1], written out: MTPModel.draft_step's numbers."""
        W = self.width
        pre = self.from_h[0, (k - 2) * W : (k - 1) * W]  # (4C,)
        for j in range(1, k):  # slot j's table for head k: block k-j-1 of slots[j]
            pre = pre + self.slots[j][chain[j - 1], (k - j - 1) * W : (k - j) * W]  # (4C,)
        return self._logits(k, pre[None])[0]  # (V,)

    def _logits(self, k: int, pre):
        """Head k's logits (1, V) from its first layer's output `pre` (1, 4C)."""
        z = torch.addmm(self.base[k - 2 : k - 1], F.silu(pre), self.down[k - 2])  # (1, C): h + MLP
        z = F.layer_norm(z, z.shape[-1:], eps=self.norm_eps)  # (1, C): the final norm, scale folded away
        return torch.addmm(self.out_bias, z, self.out)  # (1, V)

    def draft(self, tokens: list, draft_len: int, run):
        """The speculative loop's call: tokens[-1] is the sure token. Returns (drafts, q) as drafters.py says."""
        drafts, q, _ = self.guess(tokens[-1], draft_len, run.temperature, run.top_k, run.generator)
        return drafts, q

    def ranked(self, tokens: list, tree) -> tuple[list, list]:
        """For tree decoding: each head's tree.widths[d] best guesses at depth d, along the chain of
        first choices (head d+1 reads the first choices before it); index 0 left for the root."""
        _, _, top = self.guess(tokens[-1], tree.depth, 0.0, None, None, widths=tree.widths)
        return [[]] + [t for t, _ in top], [[]] + [p for _, p in top]

    @torch.no_grad()
    def guess(self, sure: int, count: int, temperature: float, top_k, generator, widths=None) -> tuple:
        """`count` drafts after the sure token: (drafts, q, top), q the drafts' probabilities (greedy)
        or the (count, V) distributions they were drawn from (sampling); top: with `widths`, each
        head's widths[d] best (tokens, probabilities)."""
        if count == 0:
            empty = torch.zeros(0, self.model.config.vocab_size, device=self.device)
            return [], ([] if temperature == 0 else empty), []
        W, sampling = self.width, temperature != 0
        pre = self.from_h + self.slots[1][sure]  # (1, K*4C): every head has read h and the sure token
        if sampling:  # Gumbel noise for the whole round, scaled so that argmax(logits + noise) ~ softmax(logits / T)
            draws = torch.empty(count, self.out.size(1)).exponential_(generator=generator)  # (count, V), E ~ Exp(1)
            noise = draws.clamp_(min=torch.finfo(draws.dtype).tiny).log_().mul_(-temperature)  # T * g: (count, V)
            noise = noise.to(self.device).unbind(0)  # count x (V,)
        drafts, rows = [], []
        for i in range(count):  # draft i+1 comes from head i+2
            logits = self._logits(i + 2, pre[:, i * W : (i + 1) * W])  # (1, V)
            if sampling and top_k is not None:
                logits = top_k_mask(logits, top_k)  # (1, V): -inf outside the k largest
            token = int((logits + noise[i]).argmax() if sampling else logits.argmax())
            drafts.append(token)
            rows.append(logits)
            if i + 1 < count:  # the draft is read by every later head of this round
                pre[:, (i + 1) * W : count * W] += self.slots[i + 2][token, : (count - i - 1) * W]
        logits = torch.cat(rows)  # (count, V)
        if sampling:
            return drafts, probabilities(logits, temperature), []  # top-k already applied
        probs = torch.softmax(logits, dim=-1)  # (count, V)
        q = probs.amax(dim=-1).tolist()  # each draft is its row's argmax: its probability is the row's largest
        top = []
        if widths is not None:
            for d in range(count):
                top_p, top_t = probs[d].topk(widths[d + 1])  # (w,)
                top.append((top_t.tolist(), top_p.tolist()))
        return drafts, q, top
