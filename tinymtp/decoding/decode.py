"""Decoding: continue a prompt with one of seven modes, all on the same model and KV cache.

    generate(model, tokenizer, "def ", DecodeSettings("speculative")) -> DecodeResult(tokens, text, trace)

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
| lookup-sample      | the same drafts, kept with probability p(draft) (a draft with no  | same distribution as sample |
|                    | distribution is a q that puts all its mass on it)                 |             |
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
a token) and, unless `keep_rounds=False`, the trace's rounds (a few kB each); DecodeHooks' `on_round` sees each
round as it ends (the CLI prints the text as it comes) and `should_stop` ends a run early.
How to decode (mode, length, temperature, draft_len, ...) is one `DecodeSettings` (settings.py),
checked where it is built.

Left out on purpose: batching several prompts, tree verification with sampling, stop sequences.
Explained in notebooks/06_self_speculative_decoding.ipynb and 07_speculative_sampling.ipynb.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..core.errors import TinyMTPError
from ..data.tokenizer import encode_prompt
from .drafters import DraftModelDrafter, LookupDrafter, head_drafter
from .sampling import choose
from .settings import HEAD_MODES, MODES, DecodeHooks, DecodeSettings
from .speculative import DecodeRun, speculative_decode
from .trace import Round, Trace
from .tree_decode import tree_speculative_decode
from .window import SlidingWindow

__all__ = ["MODES", "HEAD_MODES", "DecodeResult", "decode_ids", "generate", "drafter_name"]


def drafter_name(drafter: int, mode: str | None = None) -> str:
    """Who drafted a position: 'head k' when the model's own heads draft, else 'draft step k'
    (a separate draft model, or prompt lookup, numbers its drafts by step)."""
    return f"head {drafter}" if mode is None or mode in HEAD_MODES else f"draft step {drafter}"


@dataclass
class DecodeResult:
    tokens: list  # the generated token ids, without the prompt
    text: str  # the generated continuation, without the prompt
    trace: Trace


def generate(model, tokenizer, prompt: str, settings: DecodeSettings | None = None, draft_model=None,
             hooks: DecodeHooks | None = None) -> DecodeResult:
    """Continue `prompt` as `settings` say (default: greedy, 200 tokens); see the table above.
    draft_model: the separate model for draft-model mode. User errors raise TinyMTPError."""
    ids = encode_prompt(tokenizer, prompt)  # empty prompts and unknown characters get one-line errors
    result = decode_ids(model, ids, settings, draft_model, vocab=tokenizer.vocab, hooks=hooks)
    result.text = tokenizer.decode(result.tokens)
    return result


def check_prompt(model, prompt_ids: list) -> None:
    V = model.config.vocab_size
    if not prompt_ids:
        raise TinyMTPError("the prompt is empty: give at least one token to continue")
    if not all(0 <= t < V for t in prompt_ids):
        raise TinyMTPError(f"the prompt has token ids outside the vocabulary (0..{V - 1})")


def check_draft_model(model, draft_model) -> None:
    if draft_model is None:
        raise TinyMTPError("draft-model mode needs a draft model (--draft-checkpoint DIR)")
    if draft_model.config.vocab_size != model.config.vocab_size:
        raise TinyMTPError(f"the draft model's vocabulary ({draft_model.config.vocab_size} tokens) differs "
                           f"from the main model's ({model.config.vocab_size}): they must share one tokenizer")


def make_drafter(model, settings: DecodeSettings, draft_model):
    """The drafter a speculative mode uses (drafters.py)."""
    if settings.mode == "draft-model":
        return DraftModelDrafter(draft_model, settings.draft_len)
    if settings.mode in ("lookup", "lookup-sample"):
        cfg = model.config
        return LookupDrafter(settings.draft_len, cfg.context_length, cfg.vocab_size, next(model.parameters()).device)
    return head_drafter(model, settings.draft_len)


def decode_ids(model, prompt_ids, settings: DecodeSettings | None = None, draft_model=None, vocab: str | None = None,
               hooks: DecodeHooks | None = None) -> DecodeResult:
    """`generate` on token ids (no tokenizer needed); `vocab` only fills the trace's characters."""
    settings = (settings or DecodeSettings()).for_model(model)  # already checked settings pass as they are
    hooks = hooks or DecodeHooks()
    prompt_ids = [int(t) for t in prompt_ids]
    check_prompt(model, prompt_ids)
    if settings.mode == "draft-model":
        check_draft_model(model, draft_model)
    run = DecodeRun(max_new_tokens=settings.max_new_tokens, temperature=settings.temperature, top_k=settings.top_k,
                    generator=torch.Generator().manual_seed(settings.seed), vocab=vocab,
                    accept_rule=settings.accept_rule, detail=hooks.detail)
    recorded = {**settings.describe(), "prompt_tokens": len(prompt_ids), "context_length": model.config.context_length}
    trace = Trace(mode=settings.mode, settings=recorded, keep_rounds=hooks.keep_rounds, on_round=hooks.on_round,
                  should_stop=hooks.should_stop)
    training = [m for m in (model, draft_model) if m is not None and m.training]
    for m in training:  # dropout off while decoding; put back afterwards
        m.eval()
    started = time.perf_counter()
    try:
        with torch.inference_mode():
            if settings.mode in ("greedy", "sample"):
                tokens = plain_decode(model, prompt_ids, run, trace)
            elif settings.mode == "tree":
                tokens = tree_speculative_decode(model, head_drafter(model, settings.tree.depth), settings.tree,
                                                 prompt_ids, run, trace)
            else:
                tokens = speculative_decode(model, make_drafter(model, settings, draft_model), prompt_ids, run, trace)
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
        forward = window.feed(tokens, len(tokens))
        logits, reread = forward.logits, forward.reread  # (T, 1, V)
        token, prob = choose(logits[-1, 0], run.temperature, run.top_k, run.generator)
        fed = tokens[len(tokens) - logits.size(0) :]
        tokens.append(token)
        trace.add(Round(
            index=trace.forwards, kind="prefill" if prefill else "decode", fed=fed,
            next_token=token, next_prob=prob, committed=[token], cache_before=before,
            cache_after=window.cache.length, seconds=time.perf_counter() - t0, window_start=window.start,
            reread=reread, note=window.note(reread, prefill)))
    return tokens[P:]
