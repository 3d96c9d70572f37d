"""Self-speculative decoding inside transformers' `generate`, measured beside tinymtp's own.

    .venv/bin/python benchmarks/hf_self_speculative.py                       # checkpoints/mtp-4head
    .venv/bin/python benchmarks/hf_self_speculative.py --checkpoint DIR --repeats 5 --json

For each of the 12 held-out prompts of tinymtp.analysis.speedup (`heldout_prompts`, 48 characters of
the validation text) this decodes greedily to the end of the context (80 new tokens) with
transformers' plain `generate` and with `generate(custom_generate=self_speculative_decoding)`
(tinymtp/files/hf_generate.py), and with tinymtp's `greedy` and `speculative` modes. It prints
whether the tokens are the same, tokens per forward on both sides (forwards counted with a hook
on the transformers side, from the trace on tinymtp's; the prefill included on both), the
wall-clock ratio plain / self-speculative inside transformers (median over --repeats interleaved
runs, one thread), and the greedy text's repetition (`distinct_8`, the share of continuations that
end in a loop, tokens per forward before the loop): greedy text of a model this small falls into
loops, inside which every draft is easy, so the greedy figure is mostly the loop's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from tinymtp.analysis.repetition import before_loop, loop_start, pooled_statistics
from tinymtp.analysis.speedup import heldout_prompts
from tinymtp.decoding import generate
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.files.checkpoint import load_checkpoint
from tinymtp.files.hf import from_tinymtp, generate_and_count, self_speculative_decoding


def timed(hf, ids, **generate_kwargs) -> tuple[float, dict]:
    started = time.perf_counter()
    result = generate_and_count(hf, ids, do_sample=False, **generate_kwargs)
    return time.perf_counter() - started, result


def measure(checkpoint: str, repeats: int) -> dict:
    ckpt = load_checkpoint(checkpoint)
    model, tokenizer = ckpt.model, ckpt.tokenizer
    hf = from_tinymtp(model)
    prompts = heldout_prompts(tokenizer)
    plain_seconds, spec_seconds, same, texts = [], [], 0, []
    totals = {"hf_tokens": 0, "hf_forwards": 0, "tinymtp_forwards": 0, "before_tokens": 0, "before_forwards": 0}
    for prompt in prompts:
        ids = torch.tensor([tokenizer.encode(prompt)])  # (1, P)
        new_tokens = model.config.context_length - ids.size(1)
        greedy = generate(model, tokenizer, prompt, DecodeSettings("greedy", new_tokens))
        ours = generate(model, tokenizer, prompt, DecodeSettings("speculative", new_tokens))
        runs = {"plain": [], "self-speculative": []}
        for _ in range(repeats):  # interleaved, so a busy moment hits both
            seconds, plain = timed(hf, ids, max_new_tokens=new_tokens)
            runs["plain"].append(seconds)
            seconds, theirs = timed(hf, ids, max_new_tokens=new_tokens, custom_generate=self_speculative_decoding)
            runs["self-speculative"].append(seconds)
        plain_seconds.append(statistics.median(runs["plain"]))  # this prompt's median
        spec_seconds.append(statistics.median(runs["self-speculative"]))
        same += theirs["tokens"] == greedy.tokens == plain["tokens"]
        texts.append(greedy.text)
        before = before_loop(ours.trace.rounds, loop_start(greedy.text))
        totals["hf_tokens"] += len(theirs["tokens"])
        totals["hf_forwards"] += theirs["forwards"]
        totals["tinymtp_forwards"] += ours.trace.forwards
        totals["before_tokens"] += before[0]
        totals["before_forwards"] += before[1]
    return {
        "checkpoint": checkpoint, "prompts": len(prompts), "new_tokens": new_tokens, "repeats": repeats,
        "same_tokens": same, "draft_len": model.config.n_heads - 1,
        "tokens_per_forward_transformers": round(totals["hf_tokens"] / totals["hf_forwards"], 4),
        "tokens_per_forward_tinymtp": round(totals["hf_tokens"] / totals["tinymtp_forwards"], 4),
        "forwards_transformers": totals["hf_forwards"], "forwards_tinymtp": totals["tinymtp_forwards"],
        "speedup_in_transformers": round(sum(plain_seconds) / sum(spec_seconds), 3),
        "tokens_per_forward_before_loop": round(totals["before_tokens"] / max(1, totals["before_forwards"]), 4),
        "greedy_text": pooled_statistics(texts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="checkpoints/mtp-4head")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with torch.no_grad():
        result = measure(args.checkpoint, max(1, args.repeats))
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['checkpoint']}: {result['prompts']} held-out prompts, {result['new_tokens']} new tokens each, "
          f"greedy, draft_len {result['draft_len']}")
    print(f"  same tokens as tinymtp's greedy: {result['same_tokens']} of {result['prompts']}")
    print(f"  tokens per forward: transformers {result['tokens_per_forward_transformers']:.3f} "
          f"({result['forwards_transformers']} forwards), tinymtp {result['tokens_per_forward_tinymtp']:.3f} "
          f"({result['forwards_tinymtp']} forwards)")
    print(f"  inside transformers, self-speculative vs plain generate: {result['speedup_in_transformers']:.2f}x "
          f"(per prompt the median of {result['repeats']} runs, summed)")
    text = result["greedy_text"]
    print(f"  the greedy text: distinct_8 {text['distinct_8']}, {text['looping']:.0%} of continuations end in a "
          f"loop; tokens per forward before the loop {result['tokens_per_forward_before_loop']:.3f}")


if __name__ == "__main__":
    main()
