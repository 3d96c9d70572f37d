"""Peak memory of long generations: does `generate` stay bounded when no trace is asked for?

    .venv/bin/python benchmarks/generate_memory.py                    # 100,000 tokens, speculative and greedy
    .venv/bin/python benchmarks/generate_memory.py --tokens 20000 --json

Each run is a real `python -m tinymtp generate --checkpoint checkpoints/mtp-4head ...` child
process, its output thrown away; its peak resident memory is the kernel's ru_maxrss for that
child (os.wait4). For scale, the same is measured for a child that only imports tinymtp and
loads the checkpoint (the fixed cost: Python, PyTorch, the model), and, with --with-trace, for
a run that keeps every round (`--json --trace`, at most 20,000 tokens), which is what every run
did before rounds could be left out. One run each: memory, unlike time, hardly moves between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT = ROOT / "checkpoints" / "mtp-4head"
PROMPT = "def parse(self, text):\n"
LOAD_ONLY = ("import torch; from tinymtp.files.checkpoint import load_checkpoint; "
             f"load_checkpoint({str(CHECKPOINT)!r}); import tinymtp.decoding.decode")


def peak_of(command: list) -> dict:
    """Run `command` with its output discarded; return its peak memory (MB) and seconds."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} failed: {err.strip()}")
    mb = usage.ru_maxrss / 1024  # Linux reports kilobytes
    return {"peak_mb": round(mb, 1), "seconds": round(time.perf_counter() - started, 1),
            "summary": err.strip().splitlines()[-1] if err.strip() else ""}


def generate_command(mode: str, tokens: int, extra=()) -> list:
    return [sys.executable, "-m", "tinymtp", "generate", "--checkpoint", str(CHECKPOINT), "--prompt", PROMPT,
            "--mode", mode, "--max-new-tokens", str(tokens), *extra]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--modes", default="speculative,greedy")
    parser.add_argument("--with-trace", type=int, default=0, metavar="N",
                        help="also measure a run of N tokens that keeps every round (--json --trace)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = {"load only": {**peak_of([sys.executable, "-c", LOAD_ONLY]), "command": "import + load_checkpoint"}}
    for mode in args.modes.split(","):
        command = generate_command(mode, args.tokens)
        runs[f"{mode}, {args.tokens} tokens"] = {**peak_of(command), "command": " ".join(command[1:])}
    if args.with_trace:
        command = generate_command("speculative", args.with_trace, ("--json", "--trace"))
        runs[f"speculative, {args.with_trace} tokens, --json --trace"] = {**peak_of(command),
                                                                           "command": " ".join(command[1:])}
    if args.json:
        print(json.dumps({"tokens": args.tokens, "runs": runs}))
        return 0
    print(f"peak resident memory (ru_maxrss of the child), checkpoint {CHECKPOINT.name}")
    for name, run in runs.items():
        print(f"{name:<45} {run['peak_mb']:>8.1f} MB {run['seconds']:>8.1f} s  {run['summary'][:100]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
