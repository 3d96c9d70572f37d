"""How much dearer is a verifying forward than a greedy one, model size by model size?

    .venv/bin/python benchmarks/verify_cost_by_size.py            # every size preset, 4 heads, one thread
    .venv/bin/python benchmarks/verify_cost_by_size.py --extra 384x6 768x4   # and wider trunks (width x layers)

A verifying forward feeds K = 4 tokens (the sure token and 3 drafts) with all heads; a greedy
forward feeds 1 token with head 1. Their ratio bounds the wall-clock speed-up: speed-up is at
most tokens per forward / ratio. The ratio does not depend on what the weights learned, so the
models here are untrained (seeded), built from tinymtp.core.config.PRESETS, each on a KV cache filled
to half its context; `tinymtp.analysis.speedup.forward_costs` times them (medians of interleaved
repeats), all in one process. docs/measurements.md ("The speed-up, measured") quotes the result.
"""

from __future__ import annotations

import argparse

import torch

from tinymtp.analysis.speedup import forward_costs
from tinymtp.core.config import PRESETS
from tinymtp.core.model import ModelConfig, MTPModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--extra", nargs="*", default=[], metavar="WIDTHxLAYERS",
                        help="more trunks beyond the presets, e.g. 384x6 (context 256, 64-wide attention heads)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"{'preset':8} {'layers':>6} {'width':>5} {'parameters':>10}  {'greedy ms':>9} {'verify ms':>9} {'ratio':>6}"
          f"  {'ceiling at 3.2 tokens/forward':>29}")
    sizes_by_name = {name: sizes for name, sizes in PRESETS.items() if name != "micro"}  # micro: the tests' toy
    for extra in args.extra:
        width, layers = (int(v) for v in extra.split("x"))
        sizes_by_name[extra] = dict(context_length=256, d_model=width, n_layers=layers, attn_heads=max(1, width // 64))
    for name, sizes in sizes_by_name.items():
        model = MTPModel(ModelConfig(vocab_size=96, n_heads=args.heads, **sizes)).eval()
        costs = forward_costs(model, args.heads, calls=args.calls, repeats=args.repeats)
        ratio = costs["model_cost_ratio"]
        print(f"{name:8} {sizes['n_layers']:>6} {sizes['d_model']:>5} {model.num_parameters():>10,}  "
              f"{costs['greedy_forward_ms']:>9.3f} {costs['verify_forward_ms']:>9.3f} {ratio:>5.2f}x  "
              f"{3.2 / ratio:>28.2f}x")


if __name__ == "__main__":
    main()
