"""`python -m tinymtp generate`: the command-line glue around `decode.generate`.

Plain output: the prompt followed by the continuation on stdout, and a one-line summary
(forwards, tokens per forward, acceptance, seconds) on stderr; `--trace` adds one line per
round on stdout. `--json`: exactly one JSON object on stdout with `text` (the continuation,
without the prompt), `tokens`, `summary` and, with `--trace`, `rounds`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from .errors import TinyMTPError

DEFAULT_DRAFT = Path(__file__).resolve().parent.parent / "checkpoints" / "draft"


def load_draft(path: str | None, tokenizer):
    """The draft model for --mode draft-model; it must share the main model's vocabulary."""
    from .checkpoint import load_checkpoint

    path = path or str(DEFAULT_DRAFT)
    if not Path(path).is_dir():
        raise TinyMTPError(f"draft checkpoint not found: {path} (pass --draft-checkpoint DIR, a next-token model "
                           f"trained on the same corpus)")
    draft = load_checkpoint(path)
    if draft.tokenizer != tokenizer:
        raise TinyMTPError(f"the draft checkpoint {path} has another vocabulary than the main checkpoint: "
                           f"both must be trained on the same corpus")
    return draft.model


def cmd_generate(args) -> int:
    from .checkpoint import load_checkpoint
    from .decode import generate, resolve_heads

    ckpt = load_checkpoint(args.checkpoint)
    heads = resolve_heads(ckpt.model, args.mode, args.heads)  # a bad --heads fails before any work
    if args.tree is not None:
        if args.mode != "tree":
            raise TinyMTPError(f"--tree applies only to --mode tree (this is --mode {args.mode})")
        from .tree_decode import resolve_tree

        resolve_tree(ckpt.model, args.tree, heads)  # a bad --tree too
    draft = load_draft(args.draft_checkpoint, ckpt.tokenizer) if args.mode == "draft-model" else None
    torch.set_num_threads(1)  # a tiny model decodes faster on one thread (see speedup.py)
    result = generate(ckpt.model, ckpt.tokenizer, args.prompt, mode=args.mode, max_new_tokens=args.max_new_tokens,
                      temperature=args.temperature, top_k=args.top_k, heads=args.heads, draft_model=draft,
                      seed=args.seed, tree=args.tree)
    trace = result.trace.to_dict()
    if args.json:
        out = {"mode": args.mode, "prompt": args.prompt, "text": result.text, "tokens": result.tokens,
               "summary": trace["summary"], "settings": trace["settings"]}
        if args.trace:
            out["rounds"] = trace["rounds"]
        print(json.dumps(out))
        return 0
    print(args.prompt + result.text)
    if args.trace:
        for r in result.trace.rounds:
            print(format_round(r, ckpt.tokenizer.vocab))
    sys.stdout.flush()  # the text first, then the summary line on stderr
    print(summary_line(trace["summary"]), file=sys.stderr)
    return 0


def summary_line(s: dict) -> str:
    who = "draft token" if s["mode"] == "draft-model" else "head"
    acceptance = ", ".join(f"{a['label'] if 'label' in a else who + ' ' + str(a['head'])} {a['rate']:.0%}"
                           for a in s["acceptance_per_head"] if a["rate"] is not None)
    return (f"[{s['mode']}: {s['tokens']} tokens in {s['forwards']} forwards = {s['tokens_per_forward']:.2f} "
            f"tokens/forward, {s['seconds']:.3f} s" + (f"; accepted: {acceptance}" if acceptance else "") + "]")


def format_round(r, vocab: str) -> str:
    """One round as a line: what was fed, which drafts were kept, what was committed."""
    show = lambda ids: repr("".join(vocab[t] for t in ids))
    line = f"round {r.index:>3} {r.kind:<7} fed {show(r.fed)}"
    if r.tree:  # tree mode: which nodes formed the accepted path
        kept = r.tree["path"][1:]
        line += (f" tree of {len(r.fed)} nodes, kept {r.accepted} {show([r.fed[i] for i in kept])} (nodes {kept}),"
                 f" {r.next_kind} {show([r.next_token])}")
    elif r.checks:
        verdicts = " ".join(f"{c.drafter}:{'ok' if c.accepted else ('x' if c.checked else '-')}" for c in r.checks)
        line += f" drafts [{verdicts}] kept {r.accepted}, {r.next_kind} {show([r.next_token])}"
    line += f" -> {show(r.committed)} cache {r.cache_before}->{r.cache_after}"
    return line + (f" ({r.note})" if r.note else "")
