"""`python -m tinymtp generate`: the command-line glue around `decode.generate`.

Plain output streams: the prompt, then each round's committed text as soon as the round ends
(flushed), then a one-line summary on stderr (tokens, forwards, tokens per forward, seconds, and
for the speculative modes the acceptance length and both acceptance rates per head, see
trace.py). Without `--trace` the decoder keeps running totals only, so memory hardly grows
however many tokens are asked for (the token list, 8 bytes a token; benchmarks/generate_memory.py
measures it). `--trace` keeps every round (at most MAX_TRACE_TOKENS new tokens): plain output then
adds one line per round after the text, `--json` adds `rounds`. `--html FILE` keeps the rounds too
(same cap) and writes them as one offline HTML replay (tinymtp/viz/replay.py), by the rule of
tinymtp/files/safe_write.py: a file that is not a tinymtp replay is refused, our own replaced only with
`--overwrite`.
`--json`: exactly one JSON object on stdout, at the end, with `text` (the continuation, without
the prompt), `tokens`, `summary` (with the text's `distinct_8` and `loop_start`, analysis/repetition.py:
greedy text of a model this small loops, and a drafting figure means little inside a loop),
`settings` and, with `--trace`, `rounds`.

Ctrl-C stops decoding after the current round: the text so far stays, the summary of what was
generated follows (stop_reason "stopped"), and the exit code is 130 (128 + SIGINT, the shell's
convention for a run stopped by Ctrl-C). A second Ctrl-C stops at once.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

import torch

from ..analysis.repetition import text_statistics
from ..core.errors import TinyMTPError
from ..decoding.decode import drafter_name, generate
from ..decoding.settings import DecodeHooks, DecodeSettings
from ..files.checkpoint import load_checkpoint
from ..files.paths import checkpoints_dir
from ..files.safe_write import check_target, write_text
from ..viz.replay import is_replay, replay_html

MAX_TRACE_TOKENS = 20_000  # a kept round costs a few kB (a tree round more): 20,000 tokens stay in tens of MB
STOPPED_EXIT_CODE = 130


def load_draft(path: str | None, tokenizer):
    """The draft model for --mode draft-model; it must share the main model's vocabulary."""
    path = path or str(checkpoints_dir() / "draft")
    if not Path(path).is_dir():
        raise TinyMTPError(f"draft checkpoint not found: {path} (pass --draft-checkpoint DIR, a next-token model "
                           f"trained on the same corpus)")
    draft = load_checkpoint(path)
    if draft.tokenizer != tokenizer:
        raise TinyMTPError(f"the draft checkpoint {path} has another vocabulary than the main checkpoint: "
                           f"both must be trained on the same corpus")
    return draft.model


def cmd_generate(args) -> int:
    html_path = getattr(args, "html", None)
    for flag, asked in (("--trace", args.trace), ("--html", html_path is not None)):
        if asked and args.max_new_tokens > MAX_TRACE_TOKENS:
            raise TinyMTPError(f"{flag} keeps every round in memory, so it allows at most {MAX_TRACE_TOKENS} new "
                               f"tokens (got --max-new-tokens {args.max_new_tokens}); leave out {flag} for longer runs")
    if html_path is not None:  # refuse a file that is not our replay before any work
        check_target(html_path, "a replay", is_replay, getattr(args, "overwrite", False), folder=False)
    ckpt = load_checkpoint(args.checkpoint)
    settings = DecodeSettings(args.mode, args.max_new_tokens, args.temperature, args.top_k, args.draft_len, args.seed,
                              args.tree).for_model(ckpt.model)  # every bad setting fails here, before any work
    draft = load_draft(args.draft_checkpoint, ckpt.tokenizer) if args.mode == "draft-model" else None
    torch.set_num_threads(1)  # a tiny model decodes faster on one thread (see speedup.py)
    stream = None if args.json else TextStream(args.prompt, ckpt.tokenizer.vocab)
    kept = args.trace or html_path is not None  # every round, with what the replay draws of each sampling decision
    with StopOnCtrlC() as stop:
        hooks = DecodeHooks(on_round=stream.write if stream else None, should_stop=stop.requested,
                            keep_rounds=kept, detail=kept)
        result = generate(ckpt.model, ckpt.tokenizer, args.prompt, settings, draft, hooks)
    code = STOPPED_EXIT_CODE if result.trace.stopped else 0
    if html_path is not None:
        write_text(html_path, replay_html(args.prompt, result.trace, ckpt.tokenizer,
                                          title=f"tinymtp replay: {args.mode} decoding, {ckpt.model.config.n_heads} heads"))
    trace = result.trace.to_dict()
    stats = text_statistics(result.text)  # the text the drafting figures were measured on
    trace["summary"].update(distinct_8=stats["distinct_8"], loop_start=stats["loop_start"])
    if args.json:
        out = {"mode": args.mode, "prompt": args.prompt, "text": result.text, "tokens": result.tokens,
               "summary": trace["summary"], "settings": trace["settings"]}
        if args.trace:
            out["rounds"] = trace["rounds"]
        print(json.dumps(out))
        return code
    stream.finish()
    if args.trace:
        for r in result.trace.rounds:
            print(format_round(r, ckpt.tokenizer.vocab))
    sys.stdout.flush()  # the text first, then the summary line on stderr
    print(summary_line(trace["summary"]), file=sys.stderr)
    return code


class TextStream:
    """Prints the prompt, then each round's committed text as it comes, flushed."""

    def __init__(self, prompt: str, vocab: str, out=None):
        self.prompt, self.vocab, self.out = prompt, vocab, out or sys.stdout
        self.started = False

    def write(self, r) -> None:
        text = "".join(self.vocab[t] for t in r.committed)
        if not self.started:  # the prompt only once decoding has begun, so a bad prompt prints nothing
            text, self.started = self.prompt + text, True
        self.out.write(text)
        self.out.flush()

    def finish(self) -> None:
        self.out.write("\n")
        self.out.flush()


class StopOnCtrlC:
    """While active, the first Ctrl-C asks the decoder to stop after its current round
    (`requested()` turns True); a second one raises KeyboardInterrupt as usual."""

    def __init__(self):
        self.event = threading.Event()
        self.previous = None

    def requested(self) -> bool:
        return self.event.is_set()

    def _handle(self, signum, frame) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # signals can be caught there only
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def summary_line(s: dict) -> str:
    """The stderr line: what was made and at what cost, and for drafting modes how much was accepted:
    the acceptance length (tokens per verifying round, the corrected or bonus token included) and per
    head two rates, the share of rounds that kept its draft / the conditional rate given every earlier
    draft of the round was kept (see trace.py)."""
    stopped = "stopped by Ctrl-C, " if s["stop_reason"] == "stopped" else ""
    line = (f"[{stopped}{s['mode']}: {s['tokens']} tokens in {s['forwards']} forwards = "
            f"{s['tokens_per_forward']:.2f} tokens/forward, {s['seconds']:.3f} s")
    if s["acceptance_length"] is not None and s["acceptance_per_head"]:
        names = [a.get("label", drafter_name(a["head"], s["mode"])) for a in s["acceptance_per_head"]]
        rates = ", ".join(f"{name} {a['rate']:.0%}/{a['conditional']:.0%}"
                          for name, a in zip(names, s["acceptance_per_head"]) if a["conditional"] is not None)
        line += (f"; acceptance length {s['acceptance_length']:.2f} tokens per verifying round "
                 f"({s['drafts_accepted_per_round']:.2f} drafts + the corrected or bonus token)")
        if rates:
            line += f"; kept, share of rounds/conditional: {rates}"
    if s.get("distinct_8") is not None:
        loop = "no loop" if s["loop_start"] is None else f"a loop from new token {s['loop_start']} on"
        line += f"; the text: {s['distinct_8']:.0%} of its 8-character pieces distinct, {loop}"
    return line + "]"


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
