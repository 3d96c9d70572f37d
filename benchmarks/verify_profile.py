"""Where does a verifying round of speculative decoding spend its time, and do two ideas help?

    .venv/bin/python benchmarks/verify_profile.py            # checkpoints/mtp-4head, 12 prompts, one thread
    .venv/bin/python benchmarks/verify_profile.py --prompts 4 --repeats 3
    .venv/bin/python benchmarks/verify_profile.py --checkpoint runs/mtp-4head-base   # before its distillation

Prints, all in one process, one PyTorch thread, medians of interleaved repeats:
1. the pieces: one 128 -> 512 linear layer (the MLP's first) over 1 row and over K rows, and one
   attention layer's scaled_dot_product_attention for 1 new token (no mask) and K new tokens (with
   the causal mask the cache needs);
2. a round of the loop, split: the window's feed (the model's forward) and the Python around it
   (checking the drafts, drafting from the heads' logits), against a greedy step;
3. two variants of the drafter, both greedy-exact (the script checks the text equals greedy's):
   - "late heads": the verifying forward runs head 1 only, and heads 2..K run afterwards on the
     kept position's trunk output alone (one row instead of K), read through a forward hook;
   - "lookup first": prompt lookup's drafts when it finds at least `--min-lookup` tokens (up to
     `--lookup-len`), else the heads'.
   Each is timed beside the plain heads drafter and greedy decoding: round cost (median verifying
   round / median greedy step), tokens per forward, wall-clock speed-up.
docs/measurements.md ("The speed-up, measured") quotes its figures.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from tinymtp.analysis.speedup import heldout_prompts
from tinymtp.core.errors import TinyMTPError
from tinymtp.core.layers import causal_mask
from tinymtp.data.tokenizer import encode_prompt
from tinymtp.decoding import speculative, window
from tinymtp.decoding.decode import decode_ids
from tinymtp.decoding.drafters import HeadsDrafter, lookup
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.decoding.speculative import DecodeRun, speculative_decode
from tinymtp.decoding.trace import Trace
from tinymtp.files.checkpoint import load_checkpoint

CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "mtp-4head"


def per_call_us(fn, calls: int = 2000) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1e6


def pieces(K: int, d: int, repeats: int) -> dict:
    """Microseconds of one linear layer and one attention layer, 1 row against K rows."""
    weight = torch.randn(4 * d, d)
    one, many = torch.randn(1, 1, d), torch.randn(1, K, d)  # (B, T, C)
    q1, qK = torch.randn(1, 4, 1, d // 4), torch.randn(1, 4, K, d // 4)  # (B, H, T, hs)
    k = v = torch.randn(1, 4, 64 + K, d // 4)  # (B, H, S, hs): a cache half full
    jobs = {"linear, 1 row": lambda: F.linear(one, weight), f"linear, {K} rows": lambda: F.linear(many, weight),
            "attention, 1 new token": lambda: F.scaled_dot_product_attention(q1, k, v),
            f"attention, {K} new tokens + mask": lambda: F.scaled_dot_product_attention(
                qK, k, v, attn_mask=causal_mask(K, 64 + K))}
    samples = {name: [] for name in jobs}
    with torch.inference_mode():
        for _ in range(repeats):
            for name, job in jobs.items():
                samples[name].append(per_call_us(job))
    return {name: statistics.median(s) for name, s in samples.items()}


class LateHeadsDrafter(HeadsDrafter):
    """Heads 2..K computed after the verdict, at the kept position only (see the module doc)."""

    def __init__(self, model, draft_len: int):
        super().__init__(draft_len)
        self.verify_heads, self.model, self.trunk = 1, model, None  # decode_with hooks the trunk's output here

    def _row(self, window, logits, kept: int):
        rows = self.trunk[-logits.size(0):][kept : kept + 1]  # (1, C): the kept position's trunk output
        zs = [self.model.heads[k](rows) for k in range(1, len(self.labels) + 1)]  # each (1, C)
        later = self.model.unembedding(self.model.final_norm(torch.stack(zs, dim=1)))[0]  # (K-1, V)
        return torch.cat([logits[kept, :1], later])  # (K, V)

    def begin(self, window, logits) -> None:
        self.row = self._row(window, logits, logits.size(0) - 1)

    def after_verify(self, window, logits, kept: int, end: int) -> None:
        self.row = self._row(window, logits, kept)


class LookupFirstDrafter(HeadsDrafter):
    """Prompt lookup's drafts when it finds `min_lookup` tokens or more, else the heads'."""

    def __init__(self, draft_len: int, lookup_len: int, min_lookup: int, search: int):
        super().__init__(draft_len)
        self.heads_len, self.min_lookup, self.search = draft_len, min_lookup, search
        self.labels = list(range(1, max(draft_len, lookup_len) + 1))  # draft steps, not heads

    def draft(self, tokens: list, draft_len: int, run):
        found = lookup(tokens[-self.search :], draft_len) if draft_len else []
        if len(found) >= self.min_lookup:
            return found, [1.0] * len(found)
        return super().draft(tokens, min(draft_len, self.heads_len), run)


def decode_with(model, make_drafter, prompt: list, new_tokens: int):
    """One speculative decode with this drafter; the trace's seconds are its wall time."""
    trace, drafter = Trace(mode="speculative"), make_drafter()
    hook = None
    if isinstance(drafter, LateHeadsDrafter):  # only its runs pay for the hook
        hook = model.trunk.register_forward_hook(lambda module, args, out: setattr(drafter, "trunk", out[0]))  # (T, C)
    started = time.perf_counter()
    with torch.inference_mode():
        tokens = speculative_decode(model, drafter, prompt, DecodeRun(max_new_tokens=new_tokens), trace)
    trace.seconds = time.perf_counter() - started
    if hook is not None:
        hook.remove()
    return tokens, trace


def compare_drafters(model, prompts: list, new_tokens: int, repeats: int, args) -> dict:
    """Round cost, tokens per forward and speed-up of each drafter, interleaved with greedy."""
    n, C = model.config.n_heads, model.config.context_length
    drafters = {"heads (shipped)": lambda: HeadsDrafter(n - 1), "late heads": lambda: LateHeadsDrafter(model, n - 1),
                f"lookup first (>= {args.min_lookup} of {args.lookup_len})":
                    lambda: LookupFirstDrafter(n - 1, args.lookup_len, args.min_lookup, C)}
    greedy_text = [decode_ids(model, p, DecodeSettings("greedy", new_tokens)).tokens for p in prompts]
    rows = {name: {"ratio": [], "speedup": []} for name in drafters}
    for _ in range(repeats):
        greedy = [decode_ids(model, p, DecodeSettings("greedy", new_tokens)).trace for p in prompts]
        greedy_step = statistics.median(r.seconds for t in greedy for r in t.rounds if r.kind == "decode")
        for name, make in drafters.items():
            runs = [decode_with(model, make, p, new_tokens) for p in prompts]
            traces = [t for _, t in runs]
            verify = statistics.median(r.seconds for t in traces for r in t.rounds if r.kind == "verify")
            rows[name]["ratio"].append(verify / greedy_step)
            rows[name]["speedup"].append(sum(t.seconds for t in greedy) / sum(t.seconds for t in traces))
            rows[name]["identical"] = [tokens for tokens, _ in runs] == greedy_text
            rows[name]["tokens_per_forward"] = sum(len(t.tokens) for t in traces) / sum(t.forwards for t in traces)
    return rows


def loop_split(model, prompts: list, new_tokens: int) -> dict:
    """Median milliseconds per round of the pieces of the loop, wrapped with timers."""
    spent = {}

    def timed(name, fn):
        @functools.wraps(fn)
        def wrapper(*a, **kw):
            started = time.perf_counter()
            out = fn(*a, **kw)
            spent.setdefault(name, []).append(time.perf_counter() - started)
            return out
        return wrapper

    originals = window.SlidingWindow.feed, speculative.verify_greedy, HeadsDrafter.draft
    window.SlidingWindow.feed = timed("feed: the model's forward", originals[0])
    speculative.verify_greedy = timed("checking the drafts", originals[1])
    HeadsDrafter.draft = timed("drafting from the heads' logits", originals[2])
    split = {}
    try:
        for mode in ("greedy", "speculative"):
            spent.clear()
            traces = [decode_ids(model, p, DecodeSettings(mode, new_tokens)).trace for p in prompts]
            rounds = [r.seconds for t in traces for r in t.rounds if r.kind != "prefill"]
            split[mode] = {"whole round": statistics.median(rounds) * 1000,
                           **{name: statistics.median(s) * 1000 for name, s in spent.items()}}
    finally:
        window.SlidingWindow.feed, speculative.verify_greedy, HeadsDrafter.draft = originals
    return split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=12)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lookup-len", type=int, default=8)
    parser.add_argument("--min-lookup", type=int, default=5)
    parser.add_argument("--checkpoint", default=str(CHECKPOINT), help="default: the shipped mtp-4head")
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:
        ckpt = load_checkpoint(args.checkpoint)
    except TinyMTPError as error:
        raise SystemExit(f"error: {error}") from None
    model, K = ckpt.model, ckpt.model.config.n_heads
    prompts = [encode_prompt(ckpt.tokenizer, p) for p in heldout_prompts(ckpt.tokenizer, count=args.prompts)]
    print(f"{Path(args.checkpoint).name}, {len(prompts)} held-out prompts x {args.new_tokens} new tokens, one thread")
    print("1. the pieces, microseconds per call:")
    for name, us in pieces(K, model.config.d_model, max(5, args.repeats)).items():
        print(f"   {name:<34} {us:7.1f}")
    print("2. a round of the loop, median ms:")
    for mode, parts in loop_split(model, prompts, args.new_tokens).items():
        print(f"   {mode}: " + ", ".join(f"{name} {ms:.3f}" for name, ms in parts.items()))
    print(f"3. drafters, median of {args.repeats} interleaved repeats:")
    for name, row in compare_drafters(model, prompts, args.new_tokens, args.repeats, args).items():
        print(f"   {name:<28} round cost {statistics.median(row['ratio']):.3f}x, tokens per forward "
              f"{row['tokens_per_forward']:.3f}, speed-up {statistics.median(row['speedup']):.2f}x, "
              f"identical to greedy: {row['identical']}")


if __name__ == "__main__":
    main()
