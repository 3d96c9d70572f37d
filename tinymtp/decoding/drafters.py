"""Drafters: who guesses the next tokens for the speculative loop (speculative.py) to check.

Every drafter answers the same three calls, so one loop serves them all:

    begin(window, forward)             after the prompt's forward (the prefill; window.Forward)
    draft(tokens, draft_len, run)      guess `draft_len` tokens after the sure token tokens[-1];
                                       returns (drafts, q): q is each draft's probability
                                       (greedy) or the (draft_len, V) distributions they were
                                       drawn from (sampling), exactly the q the check uses
    after_verify(window, forward, kept, end)
                                       hear the verdict: the verifying forward (logits: one row
                                       per fed token), how many drafts were kept, and `end`, the
                                       position just after them; roll back what it holds beyond `end`

The model's own heads also answer `ranked(tokens, tree)` for tree decoding (tree_decode.py):
each drafting head's best few guesses (tree.widths[d] at depth d), best first; drafters whose
heads read the earlier drafts rank along the chain of first choices. Tree decoding then calls
`after_verify` with the accepted path's rows (`Forward.along`), as if the path had been fed.

and says how it drafts: `labels` (who drafts position i of a round, for the trace: heads 2..K,
or draft steps 1..K), `verify_heads` (how many heads the main model's forward must compute)
and `own_forwards` (forwards of its own per round).

| drafter            | where its guesses come from                       | cost per round         |
|--------------------|---------------------------------------------------|------------------------|
| HeadsDrafter       | heads 2..K at the last kept position, already in  | nothing: the verifying |
|                    | the verifying forward (Stern et al. 2018)         | forward computes them  |
| ChainDrafter       | causal (DeepSeek-V3) heads one after the other    | K-1 small forwards     |
|                    | (causal_drafts.py)                                |                        |
| SequentialDrafter  | sequential (Hydra) heads one after the other,     | K-1 small MLPs on one  |
|                    | each reading the drafts before it (sequential.py) | row                    |
| DraftModelDrafter  | a separate small next-token model                 | K forwards of it       |
|                    | (Leviathan et al. 2023)                           |                        |
| LookupDrafter      | the tokens that followed the last earlier copy of | a search of the text   |
|                    | the text's last few tokens (Saxena 2023)          |                        |

`draft_len` is the one name for "tokens drafted per round": for self-speculation heads
2..draft_len+1 draft one token each; a draft model or the lookup proposes draft_len tokens.
Explained in notebooks/06_self_speculative_decoding.ipynb.
"""

from __future__ import annotations

import torch

from .causal_drafts import ChainDrafter
from .sampling import choose, probabilities, sample
from .sequential_drafts import SequentialDrafter
from .window import SlidingWindow


def head_drafter(model, draft_len: int):
    """The model's own heads 2..draft_len+1 as a drafter: all at once from one position, or one after
    the other when they read the drafts before them (causal and sequential heads)."""
    if model.config.head_type == "causal":
        return ChainDrafter(model, draft_len)
    if model.config.head_type == "sequential":
        return SequentialDrafter(model, draft_len)
    return HeadsDrafter(draft_len)


def greedy_picks(rows: torch.Tensor) -> tuple[list, list]:
    """Argmax of each row (softmax, then max: exactly as the verifier picks); rows (j, V)."""
    top_p, top_t = torch.softmax(rows, dim=-1).max(dim=-1)  # (j,)
    return top_t.tolist(), top_p.tolist()


class HeadsDrafter:
    """Heads 2..draft_len+1 of the main model: their guesses at the last kept position are in
    the verifying forward already, so drafting costs nothing."""

    own_forwards = 0

    def __init__(self, draft_len: int):
        self.labels = list(range(2, draft_len + 2))  # head k drafts the (k-1)-th token of a round
        self.verify_heads = draft_len + 1  # heads 1..draft_len+1 in every forward
        self.row = None  # (heads, V): every head at the last kept position

    def begin(self, window, forward) -> None:
        self.row = forward.logits[-1]  # (heads, V)

    def draft(self, tokens: list, draft_len: int, run):
        if run.temperature == 0:
            return greedy_picks(self.row[1 : draft_len + 1])
        q = probabilities(self.row[1 : draft_len + 1], run.temperature, run.top_k)  # (draft_len, V)
        drafts = torch.multinomial(q, 1, generator=run.generator)[:, 0].tolist() if draft_len else []
        return drafts, q

    def ranked(self, tokens: list, tree) -> tuple[list, list]:
        """Heads 2..D+1's ranked guesses, as many as the tree uses: (candidates, q), index 0 left for
        the root; candidates[d] = head d+1's tokens, best first, q[d] their probabilities. Every head
        guesses from the same position, so a depth's nodes all pick from one ranked list."""
        if tree.depth == 0:  # the tree was cut to its root (the end of the text or of a window)
            return [[]], [[]]
        probs = torch.softmax(self.row[1 : tree.depth + 1], dim=-1)  # (D, V)
        top_p, top_t = probs.topk(max(tree.widths[1:]), dim=-1)  # (D, width)
        return [[]] + top_t.tolist(), [[]] + top_p.tolist()

    def after_verify(self, window, forward, kept: int, end: int) -> None:
        self.row = forward.logits[kept]  # (heads, V) at the last kept position: the next round drafts from here


class DraftModelDrafter:
    """A separate next-token model drafts, one forward per token, with its own KV cache. It
    needs the main model's vocabulary; its window follows the same rule (window.py)."""

    def __init__(self, draft_model, draft_len: int):
        self.labels = list(range(1, draft_len + 1))  # draft steps 1..draft_len play the role of heads
        self.verify_heads = 1  # the main model is a plain next-token model here
        self.window = SlidingWindow(draft_model, heads=1)
        self.own_forwards = 0

    def begin(self, window, forward) -> None:
        pass  # the draft model reads the prompt in its first draft() call

    def draft(self, tokens: list, draft_len: int, run):
        seq, drafts, q = list(tokens), [], []
        for _ in range(draft_len):
            last = self.window.feed(seq, len(seq)).logits[-1, 0]  # feeds whatever it has not seen: (V,)
            if run.temperature == 0:
                token, prob = choose(last, 0, None, None)
                q.append(prob)
            else:
                dist = probabilities(last, run.temperature, run.top_k)  # (V,)
                token = sample(dist, run.generator)
                q.append(dist)
            drafts.append(token)
            seq.append(token)
        self.own_forwards = draft_len
        if run.temperature != 0:
            V = self.window.model.config.vocab_size
            q = torch.stack(q) if q else torch.zeros(0, V)  # (draft_len, V)
        return drafts, q

    def after_verify(self, window, forward, kept: int, end: int) -> None:
        self.window.truncate(min(self.window.end, end))  # forget its rejected drafts too


class LookupDrafter:
    """Prompt lookup (Saxena 2023; transformers' `prompt_lookup_num_tokens`): find the last
    earlier place where the text's final `ngram` tokens occurred (trying `ngram` down to 1)
    with a whole draft after it, and propose the tokens that followed it there (`lookup`). No model, no training; text that repeats
    itself (code, quotes, the prompt) gets long accepted drafts, new text gets none.

    Its drafts carry no distribution of their own: q puts all its mass on the draft (q = 1), so
    greedy decoding keeps a draft that equals head 1's choice, and exact sampling (`lookup-sample`)
    keeps it with probability min(1, p(draft) / 1) and otherwise draws from p without it."""

    own_forwards = 0

    def __init__(self, draft_len: int, context_length: int, vocab_size: int, device=None, ngram: int = 3):
        self.labels = list(range(1, draft_len + 1))
        self.vocab_size, self.device = vocab_size, device
        self.verify_heads = 1
        self.ngram = ngram
        self.search = context_length  # look back over what the model can see, not the whole text

    def begin(self, window, forward) -> None:
        pass

    def draft(self, tokens: list, draft_len: int, run):
        drafts = lookup(tokens[-self.search :], draft_len, self.ngram) if draft_len else []
        if run.temperature == 0:
            return drafts, [1.0] * len(drafts)
        q = torch.zeros(len(drafts), self.vocab_size, device=self.device)  # (j, V): all mass on each draft
        q[torch.arange(len(drafts)), torch.tensor(drafts, dtype=torch.long)] = 1.0
        return drafts, q

    def after_verify(self, window, forward, kept: int, end: int) -> None:
        pass  # it holds nothing: the next search reads the committed text


def lookup(tokens: list, count: int, ngram: int = 3) -> list:
    """Up to `count` tokens that followed an earlier occurrence of the last n tokens of `tokens`
    (n = ngram, ngram - 1, ..., 1; the longest match wins): the latest occurrence with `count`
    tokens after it, else the latest one. [] when nothing repeats.

    Why not simply the latest: in a run of spaces or a repeated letter the latest occurrence
    overlaps the tail itself, so only a token or two follow it before the text ends; an earlier
    copy gives a whole draft (on bench decode's held-out code: 2.57 tokens per forward against
    1.88 with the plain latest copy, see docs/measurements.md)."""
    for n in range(min(ngram, len(tokens) - 1), 0, -1):
        tail = tokens[-n:]
        cut_short = None  # the latest occurrence, whose continuation runs into the end of the text
        for start in range(len(tokens) - n - 1, -1, -1):  # latest first, never the tail itself
            if tokens[start : start + n] == tail:
                following = tokens[start + n : start + n + count]  # at least one token
                if len(following) == count:
                    return following
                cut_short = cut_short or following
        if cut_short:
            return cut_short
    return []
