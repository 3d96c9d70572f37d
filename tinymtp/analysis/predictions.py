"""What does each head predict? The numbers behind the app's Heads page and notebook 05.

For a prompt x[0..T-1], head k at position t guesses x[t+k]. This module reads every head's
guesses at every position from one forward pass and scores each guess two ways:

- **matches the real text**: head k's top guess at t equals x[t+k] (only where t+k is still
  inside the prompt). This is the accuracy training reports.
- **matches what head 1 would generate**: head k's top guess at t equals the token that plain
  greedy decoding (head 1 alone, one token at a time) would produce k steps after the prefix
  x[0..t]. This is what a speculative decoder checks, so it is the accuracy that predicts the
  speed-up. For head 1 it is 1 by definition.

Head 1's greedy continuations of all T prefixes are computed together: row t of a batch holds
x[0..t] followed by the continuation so far, padded on the right. Attention is causal, so the
padding never changes the positions before it, and n - 1 batched forwards give every row's
continuation (`greedy_continuations`).

Left out: beam search, tree drafts (decoding speed is measured by `speedup.measure_decoding`).
Explained in notebooks/05_what_the_heads_know.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..core.errors import TinyMTPError
from ..data.tokenizer import encode_prompt
from ..decoding.batched import every_prefix


@dataclass
class HeadPredictions:
    """Every head's top guesses at every position of a prompt, and how each guess scores.

    Lists are indexed [t][k - 1] (position t of the prompt, head k), head 1 first.
    """

    text: str
    tokens: list  # the prompt's token ids, length T
    chars: list  # the prompt's characters, length T
    n_heads: int
    top_tokens: list  # [t][k-1] -> the top_k token ids, most probable first
    top_chars: list  # [t][k-1] -> the same as characters
    top_probs: list  # [t][k-1] -> their probabilities
    real: list  # [t][k-1] -> x[t+k], or None where t+k is past the end of the prompt
    greedy: list  # [t][k-1] -> the token head 1 would generate k steps after x[0..t]
    greedy_chars: list = field(default_factory=list)  # the same as characters

    @property
    def length(self) -> int:
        return len(self.tokens)

    def guess(self, t: int, k: int) -> int:
        """Head k's top-1 guess at position t (for token t+k)."""
        return self.top_tokens[t][k - 1][0]

    def matches_text(self, t: int, k: int) -> bool | None:
        """Does head k's guess at t equal the real x[t+k]? None when t+k is past the prompt."""
        real = self.real[t][k - 1]
        return None if real is None else self.guess(t, k) == real

    def matches_greedy(self, t: int, k: int) -> bool:
        """Does head k's guess at t equal what head 1 would generate k steps after x[0..t]?"""
        return self.guess(t, k) == self.greedy[t][k - 1]

    def accuracy(self) -> list:
        """Per head: both kinds of top-1 accuracy over the prompt, with the counts behind them."""
        return accuracy_rows([self])


def accuracy_rows(predictions: list) -> list:
    """Both accuracies per head, pooled over several HeadPredictions (all from the same model)."""
    n = predictions[0].n_heads
    rows = []
    for k in range(1, n + 1):
        text_hits = text_count = greedy_hits = greedy_count = 0
        for pred in predictions:
            for t in range(pred.length):
                match = pred.matches_text(t, k)
                if match is not None:
                    text_count += 1
                    text_hits += match
                greedy_count += 1
                greedy_hits += pred.matches_greedy(t, k)
        rows.append({
            "head": k,
            "text_accuracy": round(text_hits / text_count, 4) if text_count else None,
            "text_count": text_count,
            "greedy_accuracy": round(greedy_hits / greedy_count, 4) if greedy_count else None,
            "greedy_count": greedy_count,
        })
    return rows


def predicted_tokens_per_forward(predictions: list) -> float:
    """The tokens per forward that greedy self-speculative rounds would give, estimated from the guesses.

    A round at position t commits head 1's sure token plus the drafts of heads 2, 3, ... that match
    head 1's generation, up to the first that does not; this averages 1 + that count over every
    position of every HeadPredictions. (Real decoding starts a round only where the last one ended,
    on its own generated text: notebook 06 measures that.)"""
    kept = []
    for pred in predictions:
        for t in range(pred.length):
            run = 0
            while run + 2 <= pred.n_heads and pred.matches_greedy(t, run + 2):
                run += 1
            kept.append(run)
    if not kept:
        raise TinyMTPError("no positions to estimate from")
    return 1 + sum(kept) / len(kept)


def max_prompt_length(model) -> int:
    """The longest prompt the Heads view accepts: head 1's continuation of it must fit the context."""
    return model.config.context_length - model.config.n_heads + 1


def greedy_continuations(model, tokens: list, steps: int) -> torch.Tensor:
    """Row t: the `steps` tokens head 1 generates greedily after the prefix tokens[0..t].

    tokens: T ids -> (T, steps) LongTensor: every prefix of the prompt at once, which the Heads view
    needs at every position (decoding/batched.py; row t equals the greedy decoder's output for
    tokens[0..t], tests/test_predictions.py checks).
    """
    device = next(model.parameters()).device
    x = torch.tensor([tokens], dtype=torch.long, device=device)  # (1, T)
    return every_prefix(model, x, steps)[0][0]  # (T, steps)


def tokens_ahead(tokens: list, greedy: torch.Tensor) -> torch.Tensor:
    """What causal heads read at each position: ahead[t, j] = x[t+j+1] from the text where it
    goes on, else head 1's greedy continuation from x[..t] (greedy (T, n)) -> (T, n-1)."""
    T, n = greedy.shape
    ahead = greedy[:, : max(n - 1, 0)].clone()  # (T, n-1): greedy[t, j] = the (j+1)-th token after t
    for t in range(T):
        for j in range(n - 1):
            if t + j + 1 < T:
                ahead[t, j] = tokens[t + j + 1]
    return ahead


@torch.no_grad()
def head_predictions(model, tokenizer, text: str, top_k: int = 5) -> HeadPredictions:
    """Every head's top_k guesses at every position of `text`, with the real and greedy targets."""
    n = model.config.n_heads
    tokens = encode_prompt(tokenizer, text, max_prompt_length(model))
    T = len(tokens)
    device = next(model.parameters()).device
    x = torch.tensor([tokens], dtype=torch.long, device=device)  # (1, T)
    greedy = greedy_continuations(model, tokens, n)  # (T, n): column k-1 = k steps on
    ahead = tokens_ahead(tokens, greedy)[None].to(device) if model.chained else None  # (1, T, n-1)
    probs = torch.softmax(model(x, ahead=ahead).logits[0].float(), dim=-1)  # (T, n, V)
    k = min(top_k, probs.size(-1))
    top_p, top_i = probs.topk(k, dim=-1)  # (T, n, k) each
    top_tokens, top_probs = top_i.tolist(), [[[round(p, 5) for p in ps] for ps in row] for row in top_p.tolist()]
    real = [[tokens[t + kk] if t + kk < T else None for kk in range(1, n + 1)] for t in range(T)]
    greedy_ids = greedy.tolist()
    return HeadPredictions(
        text=text, tokens=tokens, chars=list(text), n_heads=n,
        top_tokens=top_tokens,
        top_chars=[[[tokenizer.vocab[i] for i in ids] for ids in row] for row in top_tokens],
        top_probs=top_probs, real=real, greedy=greedy_ids,
        greedy_chars=[[tokenizer.vocab[i] for i in row] for row in greedy_ids],
    )
