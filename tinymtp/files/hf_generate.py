"""Self-speculative decoding inside transformers' `generate`: heads 2..n draft, head 1 verifies.

    from tinymtp.files.hf import load_hf, self_speculative_decoding
    model = load_hf("runs/mtp-hf")
    model.generate(ids, custom_generate=self_speculative_decoding, max_new_tokens=80)   # greedy
    model.generate(ids, custom_generate=self_speculative_decoding, draft_len=2, ...)     # heads 2..3 draft

transformers' own extension point for a new decoding loop is `generate(custom_generate=CALLABLE)`:
`generate` prepares the inputs, the cache (a `DynamicCache`), the logits processors and the
stopping criteria (max_length), then calls the callable instead of its own loop; arguments the
callable names beyond transformers' (`draft_len` here) are passed through. No code is loaded from
a folder and nothing needs `trust_remote_code`. (Its other door, `use_mtp=True`, builds
DeepSeek-style sequential MTP layers from a model's decoder layers: not what parallel heads are.)

The loop is tinymtp's speculative loop with the heads as drafter (decoding/speculative.py and
drafters.HeadsDrafter), written with transformers' objects:
    prefill: one forward of the prompt; head 1's choice at its last position is the sure token
    a round: heads 2..draft_len+1 at the last kept position guess the tokens after the sure one;
             ONE forward of [sure, drafts] with the cache; keep the drafts head 1 agrees with, then
             head 1's own token after them; crop the cache back to the kept tokens
Drafts are shortened near max_length (a round commits at most drafts + 1 tokens), as in tinymtp,
so the output is token for token tinymtp's greedy output and the forwards are tinymtp's too
(tests/test_hf_mtp.py checks both on the held-out prompts). `generate_and_count` counts the
forwards with a hook: tokens per forward is the figure docs/transformers.md reports.

Left out on purpose: sampling (tinymtp's `speculative-sample` mode has the exact rule), causal
and sequential heads (they draft one after another: tinymtp's causal_drafts.py, sequential_drafts.py), batches
of more than one prompt, and `return_dict_in_generate` (the callable returns the token ids).
Explained in notebooks/10_mtp_at_scale.ipynb; docs/transformers.md.
"""

from __future__ import annotations

import logging

import torch

from ..core.errors import TinyMTPError


def check_self_speculative(model, input_ids: torch.Tensor, generation_config, draft_len: int | None, cache) -> int:
    """The one-line refusals, before any forward; returns draft_len (default: every head but head 1)."""
    n = model.config.n_heads
    if generation_config.do_sample:
        raise TinyMTPError("self_speculative_decoding is greedy: pass do_sample=False (for exact speculative "
                           "sampling use tinymtp's speculative-sample mode)")
    if model.config.head_type in ("causal", "sequential"):
        raise TinyMTPError(f"{model.config.head_type} heads draft one after another, reading the drafts: use "
                           "tinymtp's speculative mode for them (self_speculative_decoding takes linear, mlp and "
                           "block heads)")
    if input_ids.size(0) != 1:
        raise TinyMTPError(f"self_speculative_decoding takes one prompt at a time, got a batch of {input_ids.size(0)}")
    if cache is None:
        raise TinyMTPError("self_speculative_decoding needs the KV cache: leave use_cache on")
    draft_len = n - 1 if draft_len is None else draft_len
    if isinstance(draft_len, bool) or not isinstance(draft_len, int) or not 0 <= draft_len <= n - 1:
        raise TinyMTPError(f"draft_len must be a whole number from 0 to {n - 1} (heads 2..draft_len+1 draft; "
                           f"this model has {n} heads), got {draft_len!r}")
    return draft_len


def head1_choices(logits_processor, sequence: torch.Tensor, head1: torch.Tensor) -> list:
    """Head 1's greedy token after each fed position, after transformers' logits processors, applied
    as transformers' own loops apply them: row i sees the sequence up to fed token i.
    sequence (1, L + j): the tokens up to the last fed one; head1 (j+1, V) -> j+1 tokens."""
    first = sequence.size(1) - head1.size(0) + 1  # length of the sequence up to the first fed token
    scores = [logits_processor(sequence[:, : first + i], head1[i : i + 1].float()) for i in range(head1.size(0))]
    return [int(row.argmax(dim=-1)) for row in scores]  # (1, V) each


def self_speculative_decoding(model, input_ids, logits_processor, stopping_criteria, generation_config,
                              draft_len: int | None = None, **model_kwargs) -> torch.Tensor:
    """transformers' `custom_generate` callable: greedy self-speculative decoding with the model's
    heads; returns the token ids (1, P + new), like `generate`. draft_len: tokens drafted per
    round (heads 2..draft_len+1), default every head."""
    cache = model_kwargs.get("cache")
    draft_len = check_self_speculative(model, input_ids, generation_config, draft_len, cache)
    heads = draft_len + 1  # every forward computes heads 1..draft_len+1, as tinymtp's HeadsDrafter asks
    out = model(input_ids, cache=cache, use_cache=True, heads=heads)  # the prefill: (1, P, heads, V)
    row = out.logits_per_head[0, -1]  # (heads, V): every head at the last kept position
    ids, committed = input_ids, head1_choices(logits_processor, input_ids, row[None, 0])  # the sure token
    while True:
        ids = torch.cat([ids, torch.tensor([committed], dtype=ids.dtype, device=ids.device)], dim=1)  # (1, L)
        if reached_an_end(ids, committed, stopping_criteria, generation_config):
            break
        j = min(draft_len, generation_config.max_length - ids.size(1) - 1)  # a round commits up to j + 1
        drafts = row[1 : j + 1].argmax(dim=-1).tolist()  # head k guesses the (k-1)-th token after the sure one
        fed = torch.tensor([[int(ids[0, -1])] + drafts], dtype=ids.dtype, device=ids.device)  # (1, j+1)
        out = model(fed, cache=cache, use_cache=True, heads=heads)  # ONE forward verifies: (1, j+1, heads, V)
        choices = head1_choices(logits_processor, torch.cat([ids, fed[:, 1:]], dim=1), out.logits_per_head[0, :, 0])
        kept = 0
        while kept < j and drafts[kept] == choices[kept]:
            kept += 1  # draft i is kept while it is head 1's own choice after the tokens before it
        cache.crop(-(j - kept))  # rejected drafts leave the cache (crop takes minus the count)
        row = out.logits_per_head[0, kept]  # (heads, V) at the last kept position: the next drafts
        committed = drafts[:kept] + [choices[kept]]  # the kept drafts and head 1's token after them
    return cut_after_eos(ids, input_ids.size(1), generation_config)


def reached_an_end(ids: torch.Tensor, committed: list, stopping_criteria, generation_config) -> bool:
    """transformers' stopping criteria (max_length, ...) on the sequence, or an end-of-text token
    among the tokens this round committed."""
    eos = end_tokens(generation_config)
    return any(t in eos for t in committed) or bool(stopping_criteria(ids, None).all())


def end_tokens(generation_config) -> set:
    eos = generation_config.eos_token_id  # None for tinymtp's character models: no special tokens
    return set(eos if isinstance(eos, list) else [] if eos is None else [eos])


def cut_after_eos(ids: torch.Tensor, prompt_length: int, generation_config) -> torch.Tensor:
    """Like transformers: nothing after the first end-of-text token a round committed."""
    eos = end_tokens(generation_config)
    new = ids[0, prompt_length:].tolist()
    first = next((i for i, t in enumerate(new) if t in eos), None)
    return ids if first is None else ids[:, : prompt_length + first + 1]


class _AssistantsOwnCall(logging.Filter):
    """transformers 5.24's assisted generation calls the assistant model's `generate` with a
    generation_config and generation arguments together, then warns about that call of its own as a
    deprecation: nothing the caller passed, so it is dropped while `generate_and_count` runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Passing `generation_config` together with" not in record.getMessage()


def generate_and_count(model, input_ids: torch.Tensor, **generate_kwargs) -> dict:
    """transformers' `generate` for one prompt (1, P), counting the main model's forwards (a forward
    hook): the new tokens, the forwards (the prefill included, as in tinymtp's summary) and tokens
    per forward. A draft model's own forwards are not counted, as in tinymtp's figure."""
    forwards = []
    hook = model.register_forward_hook(lambda *args: forwards.append(1))
    quiet, logger = _AssistantsOwnCall(), logging.getLogger("transformers.generation.utils")
    logger.addFilter(quiet)
    try:
        out = model.generate(input_ids, **generate_kwargs)  # (1, P + new)
    finally:
        hook.remove()
        logger.removeFilter(quiet)
    tokens = out[0, input_ids.size(1):].tolist()
    return {"tokens": tokens, "forwards": len(forwards), "tokens_per_forward": len(tokens) / max(1, len(forwards))}
