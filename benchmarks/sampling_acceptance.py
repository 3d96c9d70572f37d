"""How often does the exact speculative sampler keep the heads' drafts? (temperature 1 by default)

    .venv/bin/python benchmarks/sampling_acceptance.py --checkpoint checkpoints/mtp-4head --checkpoint DIR
    .venv/bin/python benchmarks/sampling_acceptance.py --checkpoint DIR --seeds 5 --json

`python -m tinymtp bench decode` measures this too, beside plain sampling's speed (3 seeds by
default); this counts only (no timing), for several checkpoints in one run. It decodes the
12 held-out prompts of tinymtp.analysis.speedup (`heldout_prompts`) with `speculative-sample`
(drafts sampled from heads 2..n, kept with probability min(1, p/q)) for each seed, and prints,
per checkpoint, committed tokens / forwards summed over every run, and per drafting head the
share of drafting rounds that kept its draft and the conditional rate (kept / reached, as
tinymtp/decoding/trace.py defines them). Soft distillation (`distill --target soft`) teaches
heads 2..n head 1's distribution, which is what min(1, p/q) rewards; this is its measurement.
The figures count tokens, not seconds, so they are the same on any machine for the same seeds;
"+-" is the standard error over the runs (seeds and prompts), to tell a change from sampling noise.
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

from tinymtp.analysis.speedup import heldout_prompts
from tinymtp.decoding.decode import decode_ids
from tinymtp.decoding.settings import DecodeHooks, DecodeSettings
from tinymtp.files.checkpoint import load_checkpoint


def measure(path: str, seeds: int, new_tokens: int, temperature: float) -> dict:
    """Every prompt decoded once per seed; tokens, forwards and per-head acceptance summed over all runs."""
    ckpt = load_checkpoint(path)
    model = ckpt.model.eval()
    prompts = heldout_prompts(ckpt.tokenizer, corpus=ckpt.metadata.get("corpus", "python-stdlib"))
    tokens = forwards = 0
    heads: dict = {}
    run_forwards = []  # each run's forwards: their spread gives the figure's standard error
    for prompt in prompts:
        ids = ckpt.tokenizer.encode(prompt)
        for seed in range(seeds):
            summary = decode_ids(model, ids, DecodeSettings("speculative-sample", new_tokens, temperature=temperature, seed=seed), hooks=DecodeHooks(keep_rounds=False)).trace.summary()
            tokens, forwards = tokens + summary["tokens"], forwards + summary["forwards"]
            run_forwards.append(summary["forwards"] / summary["tokens"])
            for row in summary["acceptance_per_head"]:
                counts = heads.setdefault(row["head"], {"rounds": 0, "reached": 0, "accepted": 0})
                for key in counts:
                    counts[key] += row[key]
    per_head = [{"head": head, "share_of_rounds": round(c["accepted"] / c["rounds"], 4),
                 "conditional": round(c["accepted"] / c["reached"], 4) if c["reached"] else None}
                for head, c in sorted(heads.items())]
    return {"checkpoint": path, "prompts": len(prompts), "seeds": seeds, "new_tokens": new_tokens,
            "temperature": temperature, "tokens": tokens, "forwards": forwards,
            "tokens_per_forward": round(tokens / forwards, 4),
            "standard_error": round(standard_error(run_forwards, tokens / forwards), 4),
            "acceptance_per_head": per_head}


def standard_error(forwards_per_token: list, tokens_per_forward: float) -> float:
    """Standard error of tokens per forward over runs of equal length (the delta method: the runs'
    forwards per token vary, and tokens per forward is their mean's inverse)."""
    return tokens_per_forward ** 2 * statistics.stdev(forwards_per_token) / len(forwards_per_token) ** 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", action="append", help="a checkpoint directory (repeat to compare)")
    parser.add_argument("--seeds", type=int, default=3, help="sampling seeds per prompt (0..SEEDS-1)")
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = [measure(path, args.seeds, args.new_tokens, args.temperature)
               for path in args.checkpoint or ["checkpoints/mtp-4head"]]
    if args.json:
        print(json.dumps({"runs": results}))
        return
    for r in results:
        heads = "  ".join(f"head {h['head']}: {h['share_of_rounds']:.3f} of rounds "
                          f"({h['conditional']:.3f} conditional)" for h in r["acceptance_per_head"])
        print(f"{r['checkpoint']}: {r['tokens_per_forward']:.3f} +- {r['standard_error']:.3f} tokens per forward "
              f"({r['tokens']} tokens / {r['forwards']} forwards; {r['prompts']} prompts x {r['seeds']} seeds, "
              f"temperature {r['temperature']:g})\n  {heads}")


if __name__ == "__main__":
    main()
