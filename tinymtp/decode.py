"""Decoding: continue a prompt with one of five modes, all on the same model and KV cache.

    generate(model, tokenizer, "def ", mode="speculative") -> DecodeResult(tokens, text, trace)

| mode               | what each forward pass does                                       | output      |
|--------------------|-------------------------------------------------------------------|-------------|
| greedy             | feeds one token, keeps head 1's argmax (heads 2..n never run)     | greedy text |
| sample             | feeds one token, samples head 1 (temperature, top-k; seeded)      | a sample    |
| speculative        | feeds the sure token + drafts of heads 2..K, keeps the drafts     | = greedy,   |
|                    | head 1 agrees with (Stern et al. 2018), see speculative.py        | token for token |
| speculative-sample | the same with exact speculative sampling (Leviathan et al. 2023)  | same distribution as sample |
| draft-model        | a separate small next-token model drafts K tokens, the main model | = greedy (temperature 0) or |
|                    | verifies them in one forward, see draft.py                        | same distribution as sample |
| tree               | feeds the sure token + a tree of the heads' top guesses, keeps    | = greedy,   |
|                    | the longest path head 1 agrees with (Medusa), see tree.py         | token for token |

Temperature 0 makes `sample` greedy and the speculative modes greedy-exact; `tree` is greedy
only. Every mode starts with one prefill forward over the prompt, which commits the first new
token; the trace counts every forward (prefill, re-reads of the context window, the last partial
round), so greedy makes exactly 1 token per forward and the speculative modes 1 .. K.

Longer than the context: the KV cache holds a window of the text that restarts at positions
fixed by a rule of positions only (C = context length: the window restarts at position C with
the last C // 2 tokens re-read, and every C - C // 2 tokens after that; see window.py). All
modes use the same rule and a speculative block never crosses a window's end (it is shortened
instead), so speculative decoding equals greedy decoding at any length. A prompt longer than
the context is read from the start of its last window.

Long runs: the KV cache is one window, so what grows with the length is the token list (8 bytes
a token) and, unless `keep_rounds=False`, the trace's rounds (a few kB each); `on_round` sees each
round as it ends (the CLI prints the text as it comes) and `should_stop` ends a run early.

Left out on purpose: batching several prompts, tree verification with sampling, stop sequences.
Explained in notebooks/06_self_speculative_decoding.ipynb and 07_speculative_sampling.ipynb.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from .errors import TinyMTPError
from .sampling import accept_exact, check_sampling_args, choose
from .tokenizer import encode_prompt
from .trace import Round, Trace
from .window import SlidingWindow

MODES = ("greedy", "sample", "speculative", "speculative-sample", "draft-model", "tree")
DEFAULT_DRAFT_TOKENS = 3  # draft-model mode: tokens the draft model proposes per round
MAX_DRAFT_TOKENS = 16


@dataclass
class DecodeResult:
    tokens: list  # the generated token ids, without the prompt
    text: str  # the generated continuation, without the prompt
    trace: Trace


def generate(model, tokenizer, prompt: str, mode: str = "greedy", max_new_tokens: int = 200,
             temperature: float = 1.0, top_k: int | None = None, heads: int | None = None,
             draft_model=None, seed: int = 0, tree=None, on_round=None, keep_rounds: bool = True,
             should_stop=None) -> DecodeResult:
    """Continue `prompt` with `mode`; see the table above. User errors raise TinyMTPError.

    heads: speculative modes and tree: the drafting heads are 2..heads (2 <= heads <= n, default n);
    draft-model: how many tokens the draft model proposes per round (default 3).
    tree: tree mode's shape (tree.parse_tree: a preset, widths like "3,2,1", or paths); default
    the shape chosen by measurement (tree.DEFAULT_PATHS), cut to the drafting heads.
    on_round(round): called after every forward with its Round (`round.committed`: the new tokens),
    e.g. to print text as it comes; keep_rounds=False: the trace keeps running totals only, so
    memory stays bounded (its summary is the same); should_stop(): polled after every round, True
    ends the run there with stop_reason "stopped" (the CLI's Ctrl-C).
    """
    ids = encode_prompt(tokenizer, prompt)  # empty prompts and unknown characters get one-line errors
    result = decode_ids(model, ids, mode, max_new_tokens, temperature, top_k, heads, draft_model, seed,
                        vocab=tokenizer.vocab, tree=tree, on_round=on_round, keep_rounds=keep_rounds,
                        should_stop=should_stop)
    result.text = tokenizer.decode(result.tokens)
    return result


def resolve_heads(model, mode: str, heads: int | None) -> int | None:
    """Check `heads` against the mode and the model; return the value the mode uses."""
    n = model.config.n_heads
    if heads is not None and (isinstance(heads, bool) or int(heads) != heads):
        raise TinyMTPError(f"heads must be a whole number, got {heads!r}")
    if mode == "draft-model":
        heads = DEFAULT_DRAFT_TOKENS if heads is None else int(heads)
        if not 1 <= heads <= MAX_DRAFT_TOKENS:
            raise TinyMTPError(f"draft-model mode drafts 1 to {MAX_DRAFT_TOKENS} tokens per round, got --heads {heads}")
        return heads
    if mode in ("speculative", "speculative-sample", "tree"):
        if n < 2:
            what = "tree decoding" if mode == "tree" else "self-speculative decoding"
            raise TinyMTPError(f"{what} needs a model with at least 2 heads; this one has "
                               f"{n} (use --mode greedy, or --mode draft-model with a separate draft model)")
        heads = n if heads is None else int(heads)
        if not 2 <= heads <= n:
            raise TinyMTPError(f"--heads must be between 2 and {n} for {mode} on this {n}-head model "
                               f"(heads 2..K draft), got {heads}")
        return heads
    if heads is not None and not 1 <= heads <= n:
        raise TinyMTPError(f"--heads must be between 1 and {n} on this {n}-head model, got {heads}")
    return 1  # greedy and sample use head 1 only


def decode_ids(model, prompt_ids, mode: str = "greedy", max_new_tokens: int = 200, temperature: float = 1.0,
               top_k: int | None = None, heads: int | None = None, draft_model=None, seed: int = 0,
               vocab: str | None = None, tree=None, on_round=None, keep_rounds: bool = True, should_stop=None,
               _accept_rule=accept_exact) -> DecodeResult:
    """`generate` on token ids (no tokenizer needed); `vocab` only fills the trace's characters.
    on_round, keep_rounds, should_stop: see `generate`.

    `_accept_rule(p_x, q_x, u) -> bool` replaces the exact acceptance test (tests use it to show
    that a wrong rule changes the output distribution).
    """
    if mode not in MODES:
        raise TinyMTPError(f"unknown mode '{mode}' (choose from {', '.join(MODES)})")
    V = model.config.vocab_size
    prompt_ids = [int(t) for t in prompt_ids]
    if not prompt_ids:
        raise TinyMTPError("the prompt is empty: give at least one token to continue")
    if not all(0 <= t < V for t in prompt_ids):
        raise TinyMTPError(f"the prompt has token ids outside the vocabulary (0..{V - 1})")
    if isinstance(max_new_tokens, bool) or int(max_new_tokens) != max_new_tokens or max_new_tokens < 1:
        raise TinyMTPError(f"max_new_tokens must be a whole number >= 1, got {max_new_tokens!r}")
    check_sampling_args(temperature, top_k, V)
    heads = resolve_heads(model, mode, heads)
    if mode == "draft-model":
        if draft_model is None:
            raise TinyMTPError("draft-model mode needs a draft model (--draft-checkpoint DIR)")
        if draft_model.config.vocab_size != V:
            raise TinyMTPError(f"the draft model's vocabulary ({draft_model.config.vocab_size} tokens) differs "
                               f"from the main model's ({V}): they must share one tokenizer")
    shape = None
    if mode == "tree":
        from .tree_decode import resolve_tree

        shape = resolve_tree(model, tree, heads)
    greedy = temperature == 0 or mode in ("greedy", "speculative", "tree")
    settings = {"temperature": 0.0 if greedy else float(temperature), "top_k": None if greedy else top_k,
                "heads": heads, "seed": seed, "max_new_tokens": int(max_new_tokens),
                "prompt_tokens": len(prompt_ids), "context_length": model.config.context_length}
    if shape is not None:
        settings["tree"] = shape.text()
    trace = Trace(mode=mode, settings=settings, keep_rounds=keep_rounds, on_round=on_round,
                  should_stop=should_stop)
    generator = torch.Generator().manual_seed(int(seed))
    args = (prompt_ids, int(max_new_tokens), settings["temperature"], settings["top_k"], generator, vocab, trace)
    training = [m for m in (model, draft_model) if m is not None and m.training]
    for m in training:  # dropout off while decoding; put back afterwards
        m.eval()
    started = time.perf_counter()
    try:
        with torch.inference_mode():
            if mode in ("greedy", "sample"):
                tokens = plain_decode(model, *args)
            elif mode == "tree":
                from .tree_decode import tree_speculative_decode

                tokens = tree_speculative_decode(model, heads, shape, *args)
            elif mode == "draft-model":
                from .draft import draft_model_decode

                tokens = draft_model_decode(model, draft_model, heads, *args, accept_rule=_accept_rule)
            else:
                from .speculative import self_speculative_decode

                tokens = self_speculative_decode(model, heads, *args, accept_rule=_accept_rule)
    finally:
        trace.seconds = time.perf_counter() - started
        for m in training:
            m.train()
    return DecodeResult(tokens, "".join(vocab[t] for t in tokens) if vocab else "", trace)


def plain_decode(model, prompt_ids, max_new_tokens, temperature, top_k, generator, vocab, trace) -> list:
    """Greedy (temperature 0) or sampling: one forward, one token, head 1 only."""
    window = SlidingWindow(model, heads=1)  # the other heads are never computed ("standard inference")
    tokens, P = list(prompt_ids), len(prompt_ids)
    while len(tokens) - P < max_new_tokens and not trace.stopped:
        t0 = time.perf_counter()
        before, prefill = window.cache.length, trace.forwards == 0
        logits, reread = window.feed(tokens, len(tokens))  # (T, 1, V)
        token, prob = choose(logits[-1, 0], temperature, top_k, generator)
        fed = tokens[len(tokens) - logits.size(0) :]
        tokens.append(token)
        trace.add(Round(
            index=trace.forwards, kind="prefill" if prefill else "decode", fed=fed,
            next_token=token, next_prob=prob, committed=[token], cache_before=before,
            cache_after=window.cache.length, seconds=time.perf_counter() - t0, window_start=window.start,
            reread=reread, note=window.note(reread, prefill)))
    return tokens[P:]

