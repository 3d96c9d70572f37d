"""`python -m tinymtp bench decode`: the speed-up of speculative decoding, measured on held-out prompts.

The measurement is speedup.measure_decoding; this is the command around it: which checkpoint,
which prompts (12 of the validation text, 48 characters each, 256 new characters), the table it
prints and the JSON it gives. The table starts with what means something: exact speculative
sampling against plain sampling at temperature 1 (and 0.7), whose text has the corpus's own
statistics, then the greedy rows, whose text falls into loops, each row with its repetition, and
as a reference the statistics of the corpus's own text after the same prompts.
Explained in notebooks/06_self_speculative_decoding.ipynb.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..core.errors import TinyMTPError
from ..data.corpora import BUILT_IN
from ..decoding.settings import DEFAULT_DRAFT_LEN
from ..files.checkpoint import load_checkpoint
from ..files.paths import checkpoints_dir
from .speedup import BenchPlan, corpus_reference, heldout_prompts, measure_decoding

TEXT_KIND = {"python-stdlib": "Python source code", "stories": "synthetic children's stories"}
DEFAULT_TEMPERATURES = (1.0, 0.7)


def parse_temperatures(text: str) -> tuple:
    """'1,0.7' -> (1.0, 0.7); every temperature a number above 0 (greedy rows are measured anyway)."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise TinyMTPError(f"--temperatures must be numbers above 0 separated by commas, like 1,0.7: '{text}'") from None
    bad = [v for v in values if not v > 0 or math.isinf(v)]
    if bad:
        raise TinyMTPError(f"--temperatures must be above 0 (0 is greedy, measured by the greedy rows), got {bad[0]:g}")
    return values


def draft_model_for(ckpt) -> tuple:
    """The shipped draft model, if it is here and shares the checkpoint's vocabulary: (model or None, note)."""
    draft_path = checkpoints_dir() / "draft"
    if not (draft_path / "config.json").is_file():
        return None, f"no draft model at {draft_path}: draft-model mode skipped"
    draft = load_checkpoint(str(draft_path))
    if draft.tokenizer != ckpt.tokenizer:
        return None, f"skipped the draft model at {draft_path}: its vocabulary differs from the checkpoint's"
    return draft.model, None


def bench_decode(args) -> int:
    """`bench decode [--checkpoint DIR] [--json] [--quick] [--repeats N] [--seeds N] [--temperatures T,T]
    [--draft-len N]` (N: draft at most N tokens a round, N in the sampled rows, 1..N in the greedy sweep:
    models with different numbers of heads compared like for like)."""
    path = args.checkpoint or str(checkpoints_dir() / "mtp-4head")
    if not args.checkpoint and not Path(path).is_dir():
        raise TinyMTPError(f"no shipped checkpoint at {path}: pass --checkpoint DIR (a model with 2+ heads)")
    temperatures = parse_temperatures(args.temperatures) if args.temperatures else DEFAULT_TEMPERATURES
    ckpt = load_checkpoint(path)
    most = ckpt.model.config.n_heads - 1
    if args.draft_len and args.draft_len > most:
        raise TinyMTPError(f"--draft-len {args.draft_len}: this {most + 1}-head model drafts at most {most} tokens a round "
                           f"(heads 2..{most + 1})" if most else "--draft-len: a 1-head model drafts nothing")
    draft, note = draft_model_for(ckpt)
    corpus = ckpt.metadata.get("corpus")
    corpus = corpus if corpus in BUILT_IN else "python-stdlib"
    count, new_tokens, repeats, seeds = (4, 64, 1, 2) if args.quick else (12, 256, 3, 3)
    plan = BenchPlan(max_new_tokens=new_tokens, repeats=args.repeats or repeats, seeds=args.seeds or seeds,
                     temperatures=temperatures, lookup_tokens=DEFAULT_DRAFT_LEN, trees=(args.tree,),
                     sample_draft_len=args.draft_len, draft_lens=tuple(range(1, args.draft_len + 1)) if args.draft_len else None)
    prompts = heldout_prompts(ckpt.tokenizer, count=count, length=48, corpus=corpus)
    result = measure_decoding(ckpt.model, ckpt.tokenizer, prompts, plan, draft)
    result.update(checkpoint=path, corpus=corpus, draft_checkpoint=str(checkpoints_dir() / "draft") if draft else None,
                  note=note, reference=corpus_reference(ckpt.tokenizer, prompts, new_tokens, corpus))
    print(json.dumps(result) if args.json else format_table(result))
    return 0


def _percent(value) -> str:
    return "-" if value is None else f"{value:.0%}"


def _line(e: dict) -> str:
    acc = " ".join(f"{'d' + str(a['depth']) if 'depth' in a else a['head']}:{a['rate']:.2f}/{a['conditional']:.2f}"
                   for a in e["acceptance_per_head"] if a["conditional"] is not None)
    tpf = f"{e['tokens_per_forward']:.2f}"
    tpf += f"+-{e['standard_error']:.2f}" if e.get("standard_error") is not None else ""
    predicted = f"{e['predicted_speedup']:.2f}x" if e.get("predicted_speedup") is not None else "-"
    cost = f"{e['round_cost_ratio']:.2f}" if e.get("round_cost_ratio") is not None else "-"
    before = e.get("tokens_per_forward_before_loop")
    return (f"{e['name']:<28} {tpf:>10} {e['speedup']:>7.2f}x {predicted:>9} {cost:>10} {e['tokens_per_second']:>8.1f}  "
            f"{_percent(e['distinct_8']):>5} {_percent(e['whitespace']):>5} {_percent(e['looping']):>5} "
            f"{'-' if before is None else f'{before:.2f}':>6}  {acc}")


def format_table(result: dict) -> str:
    """The benchmark as a plain-text table (what `bench decode` prints without --json)."""
    corpus = result.get("corpus")
    text = f" of the {corpus} validation text ({TEXT_KIND[corpus]})" if corpus in TEXT_KIND else ""
    header = (f"{'row':<28} {'tok/fwd':>10} {'speed-up':>8} {'predicted':>9} {'round cost':>10} {'tok/s':>8}  "
              f"{'dist8':>5} {'space':>5} {'loops':>5} {'before':>6}  kept per head: share of rounds/conditional")
    lines = [f"decoding {result['prompts']} held-out prompts{text} x {result['max_new_tokens']} new tokens, "
             f"{result['threads']} thread(s)"]
    if result.get("sampled_sweep"):
        lines += [f"ON CORPUS-LIKE TEXT: exact speculative sampling against plain sampling, {result['seeds']} seed(s) "
                  "per prompt (tokens per forward +- standard error over the runs; speed-up: median over seeds)", header]
        lines += [_line(e) for e in result["sampled_sweep"]]
    lines += [f"GREEDY: its text falls into loops, where every draft is easy (median of {result['repeats']} "
              "interleaved repeats; 'before': tokens per forward before the loop starts)", header]
    lines += [_line(e) for e in result["rows"] if e["temperature"] is None]
    ref = result.get("reference")
    if ref:
        lines.append(f"{'the corpus itself after the prompts':<28} {'':>10} {'':>8} {'':>9} {'':>5} {'':>8}  "
                     f"{_percent(ref['distinct_8']):>5} {_percent(ref['whitespace']):>5} {_percent(ref['looping']):>5}")
    lines += _explanations(result)
    return "\n".join(lines)


def _explanations(result: dict) -> list:
    out = []
    s = result.get("sampled")
    if s:
        out.append(f"headline, on text like the corpus's: speculative sampling at temperature {s['temperature']:g} drafts "
                   f"{s['tokens_per_forward']:.2f} tokens per forward and runs {s['speedup']:.2f}x plain sampling")
    g, c = result["modes"].get("speculative"), result["forward_costs"]
    if g is not None:
        out += _greedy_explanations(result, g, c)
    for e, cost in zip(result.get("tree_sweep", []), c.get("trees", [])):
        out.append(f"tree, {e['nodes']} nodes: round cost ratio {e['forward_cost_ratio']:.2f} (a round over a greedy "
                   f"step, in the loop), forward cost ratio {cost['model_cost_ratio']:.2f} (the model alone)")
    out += ["columns: speed-up over the matching plain decoder (greedy, or sampling at the same temperature); "
            "predicted = acceptance length / round cost, round cost (the round cost ratio) = median verifying round "
            "(drafting included) / median plain step, from this run's own round times (it leaves out the prefill and the context re-reads); dist8 = "
            "distinct 8-character pieces, space = whitespace share, loops = share of continuations that end in a loop "
            "(tinymtp/analysis/repetition.py); share of rounds = rounds that kept the head's draft / rounds that "
            "drafted, conditional = the same given every earlier draft of the round was kept"]
    if result.get("note"):
        out.append(result["note"])
    return out


def _greedy_explanations(result: dict, g: dict, c: dict) -> list:
    """The greedy speculative row in words, and why its speed-up is less than its tokens per forward."""
    rest = {"causal": "the causal heads' own drafting forwards, one per drafting head per round, Python per round and "
                      "the context re-reads",
            "sequential": "the sequential heads' small MLPs, one per draft, Python per round and the context re-reads"
            }.get(result["model"]["head_type"], "Python per round and the context re-reads")
    return [f"greedy speculative (draft_len {g['draft_len']}): {g['speedup']:.2f}x greedy, {g['tokens_per_forward']:.2f} "
            f"tokens per forward ({g['tokens_per_forward_before_loop']:.2f} before the loop), on text with "
            f"{_percent(g['distinct_8'])} distinct 8-character pieces, {_percent(g['looping'])} of continuations "
            f"looping; identical output: {str(result['identical']).lower()}",
            f"why not {g['tokens_per_forward']:.2f}x: round cost ratio {c['loop_cost_ratio']:.2f} (a verifying round over "
            f"a greedy step, in the loop); forward cost ratio {c['model_cost_ratio']:.2f} (the model's forwards alone: "
            f"{c['verify_forward_ms']:.3f} vs {c['greedy_forward_ms']:.3f} ms; the rest is {rest}), and "
            f"{g['tokens_per_forward']:.2f} / {c['loop_cost_ratio']:.2f} = {c['explained_speedup']:.2f}. Heads 2..K "
            f"at every fed position take {c['later_heads_share']:.0%} of the verifying forward, the trunk the rest"]
