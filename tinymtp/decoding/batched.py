"""Continuing many short texts at once: one batched forward per step, head 1 only, no KV cache.

`decode.generate` continues ONE prompt, with the KV cache, round by round, and records a trace:
the decoder a learner watches. Some jobs need many short continuations at once instead: the
Heads view continues every prefix of a prompt (what greedy decoding writes after x[0..t], for
every t), distillation continues every prefix of every window of a batch (its targets) and
generates its training text from short prompts, and the experiments score hundreds of
`a+b=` problems. `continue_rows` serves them all:

    rows (R, L): one text per row, row r's text is rows[r, : ends[r] + 1], padded on the right
    step j: ONE forward of every row (the width grows by one a step), head 1 at each row's end,
            the next token (argmax at temperature 0, else a draw from softmax(logits / T)),
            written over the padding after the row's end

Attention is causal, so the padding after a row's end never changes what head 1 sees at it; no
KV cache is needed, since these texts are a few dozen tokens. The greedy tokens equal the
decoder's token for token (tests/test_batched.py checks against `decode_ids`). `every_prefix`
lays out the every-prefix case and saves its first forward: every row is then still the window
itself, so one forward of the windows gives head 1 at every prefix's end.

Left out: top-k, a stop token (callers cut the text), texts longer than the context.
Explained in notebooks/05_what_the_heads_know.ipynb (the Heads view's greedy targets).
"""

from __future__ import annotations

import torch

from ..core.errors import TinyMTPError


def _next(last: torch.Tensor, temperature: float, generator) -> torch.Tensor:
    """Head 1's logits at each row's end (R, V) -> the next token of every row (R,)."""
    if temperature == 0:
        return last.argmax(-1)  # (R,)
    probs = torch.softmax(last.float() / temperature, dim=-1)  # (R, V)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]  # (R,)


@torch.no_grad()
def continue_rows(model, rows: torch.Tensor, ends: torch.Tensor, steps: int, temperature: float = 0.0,
                  generator: torch.Generator | None = None, first: torch.Tensor | None = None) -> tuple:
    """`steps` new tokens after each row's end: rows (R, L), ends (R,) -> (tokens (R, steps),
    head 1's logits in the forward that chose each of them (R, steps, V)).

    first: head 1's logits at every row's end (R, V) when the caller already has them."""
    R, L = rows.shape
    width = int(ends.max()) + 1 if R else 0
    if width + steps - 1 > model.config.context_length:
        raise TinyMTPError(f"{width} tokens plus {steps - 1} more steps exceed the context length "
                           f"{model.config.context_length}")
    was_training = model.training
    model.eval()  # no dropout: the tokens are the decoder's
    every_row = torch.arange(R, device=rows.device)  # (R,)
    rows = torch.cat([rows[:, :width], rows.new_zeros(R, steps)], dim=1)  # (R, width + steps): room to write
    tokens = rows.new_empty(R, steps)  # (R, steps)
    logits = None
    for j in range(steps):
        if j == 0 and first is not None:
            last = first  # (R, V)
        else:  # positions past every row's current end are never read
            last = model(rows[:, : width + j], heads=1).logits[every_row, ends + j, 0]  # (R, V)
        if logits is None:
            logits = last.new_empty(R, steps, last.size(-1))  # (R, steps, V)
        logits[:, j] = last
        tokens[:, j] = _next(last, temperature, generator)
        rows[every_row, ends + j + 1] = tokens[:, j]  # the new token goes over the padding
    if was_training:
        model.train()
    return tokens, logits


@torch.no_grad()
def every_prefix(model, x: torch.Tensor, steps: int, temperature: float = 0.0,
                 generator: torch.Generator | None = None) -> tuple:
    """Continue every prefix x[b, 0..t] of every window: x (B, L) -> (tokens (B, L, steps),
    head 1's logits (B, L, steps, V)); tokens[b, t, k-1] is the token written k steps after t."""
    B, L = x.shape
    was_training = model.training
    model.eval()
    first = model(x, heads=1).logits[:, :, 0].reshape(B * L, -1)  # (B*L, V): every prefix's end at once
    if was_training:
        model.train()
    rows = x.repeat_interleave(L, dim=0)  # (B*L, L): row b*L + t is window b; only x[b, 0..t] matters
    ends = torch.arange(L, device=x.device).repeat(B)  # (B*L,): row b*L + t ends at position t
    tokens, logits = continue_rows(model, rows, ends, steps, temperature, generator, first=first)
    return tokens.view(B, L, steps), logits.view(B, L, steps, -1)
