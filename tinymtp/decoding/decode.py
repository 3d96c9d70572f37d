"""Decoding: continue a prompt with one of seven modes, all on the same model and KV cache.

    generate(model, tokenizer, "def ", mode="speculative") -> DecodeResult(tokens, text, trace)

| mode               | what each forward pass does                                       | output      |
|--------------------|-------------------------------------------------------------------|-------------|
| greedy             | feeds one token, keeps head 1's argmax (heads 2..n never run)     | greedy text |
| sample             | feeds one token, samples head 1 (temperature, top-k; seeded)      | a sample    |
| speculative        | feeds the sure token + drafts of heads 2..K, keeps the drafts     | = greedy,   |
|                    | head 1 agrees with (Stern et al. 2018), see speculative.py        | token for token |
| speculative-sample | the same with exact speculative sampling (Leviathan et al. 2023)  | same distribution as sample |
| draft-model        | a separate small next-token model drafts K tokens, the main model | = greedy (temperature 0) or |
|                    | verifies them in one forward (drafters.py)                        | same distribution as sample |
| lookup             | drafts the tokens that followed the last earlier copy of the      | = greedy,   |
|                    | text's last few tokens (prompt lookup, Saxena 2023; drafters.py)  | token for token |
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

from ..errors import TinyMTPError
from ..tokenizer import encode_prompt
from .causal_drafts import ChainDrafter
from .drafters import DraftModelDrafter, HeadsDrafter, LookupDrafter
from .sampling import accept_exact, check_sampling_args, choose
from .speculative import DecodeRun, speculative_decode
from .trace import Round, Trace
from .tree_decode import resolve_tree, tree_speculative_decode
from .window import SlidingWindow

MODES = ("greedy", "sample", "speculative", "speculative-sample", "draft-model", "lookup", "tree")
HEAD_MODES = ("speculative", "speculative-sample", "tree")  # the model's own heads draft
DEFAULT_DRAFT_LEN = 3  # draft-model and lookup modes: tokens proposed per round
MAX_DRAFT_LEN = 16


def drafter_name(drafter: int, mode: str | None = None) -> str:
    """Who drafted a position: 'head k' when the model's own heads draft, else 'draft step k'
    (a separate draft model, or prompt lookup, numbers its drafts by step)."""
    return f"head {drafter}" if mode is None or mode in HEAD_MODES else f"draft step {drafter}"


@dataclass
class DecodeResult:
    tokens: list  # the generated token ids, without the prompt
    text: str  # the generated continuation, without the prompt
    trace: Trace


def generate(model, tokenizer, prompt: str, mode: str = "greedy", max_new_tokens: int = 200,
             temperature: float = 1.0, top_k: int | None = None, draft_len: int | None = None,
             draft_model=None, seed: int = 0, tree=None, on_round=None, keep_rounds: bool = True,
             should_stop=None) -> DecodeResult:
    """Continue `prompt` with `mode`; see the table above. User errors raise TinyMTPError.

    draft_len: tokens drafted per round. Self-speculation: heads 2..draft_len+1 draft (default:
    every head, n - 1); tree: the tree's depth; draft-model and lookup: tokens proposed (default 3).
    tree: tree mode's shape (tree.parse_tree: a preset, widths like "3,2,1", or paths); default
    the shape chosen by measurement (tree.DEFAULT_PATHS), cut to draft_len.
    on_round(round): called after every forward with its Round (`round.committed`: the new tokens),
    e.g. to print text as it comes; keep_rounds=False: the trace keeps running totals only, so
    memory stays bounded (its summary is the same); should_stop(): polled after every round, True
    ends the run there with stop_reason "stopped" (the CLI's Ctrl-C).
    """
    ids = encode_prompt(tokenizer, prompt)  # empty prompts and unknown characters get one-line errors
    result = decode_ids(model, ids, mode, max_new_tokens, temperature, top_k, draft_len, draft_model, seed,
                        vocab=tokenizer.vocab, tree=tree, on_round=on_round, keep_rounds=keep_rounds,
                        should_stop=should_stop)
    result.text = tokenizer.decode(result.tokens)
    return result


def resolve_draft_len(model, mode: str, draft_len: int | None) -> int:
    """Check `draft_len` against the mode and the model; return the value the mode uses (0: none)."""
    n = model.config.n_heads
    if draft_len is not None and (isinstance(draft_len, bool) or int(draft_len) != draft_len):
        raise TinyMTPError(f"draft_len must be a whole number, got {draft_len!r}")
    if mode in ("greedy", "sample"):
        if draft_len is not None:
            raise TinyMTPError(f"{mode} decoding drafts nothing: draft_len is for the speculative modes")
        return 0
    if mode in ("draft-model", "lookup"):
        draft_len = DEFAULT_DRAFT_LEN if draft_len is None else int(draft_len)
        if not 1 <= draft_len <= MAX_DRAFT_LEN:
            raise TinyMTPError(f"{mode} mode drafts 1 to {MAX_DRAFT_LEN} tokens per round, got {draft_len}")
        return draft_len
    if n < 2:
        what = "tree decoding" if mode == "tree" else "self-speculative decoding"
        raise TinyMTPError(f"{what} needs a model with at least 2 heads; this one has {n} (use --mode greedy, "
                           "lookup, or draft-model with a separate draft model)")
    draft_len = n - 1 if draft_len is None else int(draft_len)
    if not 1 <= draft_len <= n - 1:
        raise TinyMTPError(f"draft_len must be between 1 and {n - 1} for {mode} on this {n}-head model "
                           f"(heads 2..draft_len+1 draft), got {draft_len}")
    return draft_len


def check_decode_args(model, prompt_ids: list, mode: str, max_new_tokens) -> None:
    """One-line errors for everything `decode_ids` cannot work with."""
    if mode not in MODES:
        raise TinyMTPError(f"unknown mode '{mode}' (choose from {', '.join(MODES)})")
    V = model.config.vocab_size
    if not prompt_ids:
        raise TinyMTPError("the prompt is empty: give at least one token to continue")
    if not all(0 <= t < V for t in prompt_ids):
        raise TinyMTPError(f"the prompt has token ids outside the vocabulary (0..{V - 1})")
    if isinstance(max_new_tokens, bool) or int(max_new_tokens) != max_new_tokens or max_new_tokens < 1:
        raise TinyMTPError(f"max_new_tokens must be a whole number >= 1, got {max_new_tokens!r}")


def check_draft_model(model, draft_model) -> None:
    if draft_model is None:
        raise TinyMTPError("draft-model mode needs a draft model (--draft-checkpoint DIR)")
    if draft_model.config.vocab_size != model.config.vocab_size:
        raise TinyMTPError(f"the draft model's vocabulary ({draft_model.config.vocab_size} tokens) differs "
                           f"from the main model's ({model.config.vocab_size}): they must share one tokenizer")


def make_drafter(model, mode: str, draft_len: int, draft_model):
    """The drafter a speculative mode uses (drafters.py)."""
    if mode == "draft-model":
        return DraftModelDrafter(draft_model, draft_len)
    if mode == "lookup":
        return LookupDrafter(draft_len, model.config.context_length)
    return ChainDrafter(model, draft_len) if model.chained else HeadsDrafter(draft_len)


def decode_ids(model, prompt_ids, mode: str = "greedy", max_new_tokens: int = 200, temperature: float = 1.0,
               top_k: int | None = None, draft_len: int | None = None, draft_model=None, seed: int = 0,
               vocab: str | None = None, tree=None, on_round=None, keep_rounds: bool = True, should_stop=None,
               _accept_rule=accept_exact) -> DecodeResult:
    """`generate` on token ids (no tokenizer needed); `vocab` only fills the trace's characters.
    on_round, keep_rounds, should_stop: see `generate`.

    `_accept_rule(p_x, q_x, u) -> bool` replaces the exact acceptance test (tests use it to show
    that a wrong rule changes the output distribution).
    """
    prompt_ids = [int(t) for t in prompt_ids]
    check_decode_args(model, prompt_ids, mode, max_new_tokens)
    check_sampling_args(temperature, top_k, model.config.vocab_size)
    draft_len = resolve_draft_len(model, mode, draft_len)
    if mode == "draft-model":
        check_draft_model(model, draft_model)
    shape = None
    if mode == "tree":
        shape = resolve_tree(model, tree, draft_len)
    greedy = temperature == 0 or mode in ("greedy", "speculative", "lookup", "tree")
    run = DecodeRun(max_new_tokens=int(max_new_tokens), temperature=0.0 if greedy else float(temperature),
                    top_k=None if greedy else top_k, generator=torch.Generator().manual_seed(int(seed)),
                    vocab=vocab, accept_rule=_accept_rule)
    settings = {"temperature": run.temperature, "top_k": run.top_k, "draft_len": draft_len,
                "heads": draft_len + 1 if mode in HEAD_MODES else (draft_len or 1), "seed": seed,
                "max_new_tokens": run.max_new_tokens, "prompt_tokens": len(prompt_ids),
                "context_length": model.config.context_length}
    if shape is not None:
        settings["tree"] = shape.text()
    trace = Trace(mode=mode, settings=settings, keep_rounds=keep_rounds, on_round=on_round,
                  should_stop=should_stop)
    training = [m for m in (model, draft_model) if m is not None and m.training]
    for m in training:  # dropout off while decoding; put back afterwards
        m.eval()
    started = time.perf_counter()
    try:
        with torch.inference_mode():
            if mode in ("greedy", "sample"):
                tokens = plain_decode(model, prompt_ids, run, trace)
            elif mode == "tree":
                tokens = tree_speculative_decode(model, shape, prompt_ids, run, trace)
            else:
                drafter = make_drafter(model, mode, draft_len, draft_model)
                tokens = speculative_decode(model, drafter, prompt_ids, run, trace)
    finally:
        trace.seconds = time.perf_counter() - started
        for m in training:
            m.train()
    return DecodeResult(tokens, "".join(vocab[t] for t in tokens) if vocab else "", trace)


def plain_decode(model, prompt_ids: list, run: DecodeRun, trace: Trace) -> list:
    """Greedy (temperature 0) or sampling: one forward, one token, head 1 only. Deliberately its
    own simple loop: the golden reference every speculative mode is tested against."""
    window = SlidingWindow(model, heads=1)  # the other heads are never computed ("standard inference")
    tokens, P = list(prompt_ids), len(prompt_ids)
    while len(tokens) - P < run.max_new_tokens and not trace.stopped:
        t0 = time.perf_counter()
        before, prefill = window.cache.length, trace.forwards == 0
        logits, reread = window.feed(tokens, len(tokens))  # (T, 1, V)
        token, prob = choose(logits[-1, 0], run.temperature, run.top_k, run.generator)
        fed = tokens[len(tokens) - logits.size(0) :]
        tokens.append(token)
        trace.add(Round(
            index=trace.forwards, kind="prefill" if prefill else "decode", fed=fed,
            next_token=token, next_prob=prob, committed=[token], cache_before=before,
            cache_after=window.cache.length, seconds=time.perf_counter() - t0, window_start=window.start,
            reread=reread, note=window.note(reread, prefill)))
    return tokens[P:]
