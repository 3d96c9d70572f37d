"""The command line: python -m tinymtp train | eval | generate | bench | experiment | export-hf.

Thin glue: parse flags, call the library, print. Every user error arrives as a TinyMTPError and
leaves as one line on stderr with exit status 2 (never a traceback); `--json` prints exactly
one JSON object on stdout and nothing else there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..core.config import HEAD_TYPES, PRESETS, ModelConfig
from ..core.errors import TinyMTPError
from ..training.curriculum import CURRICULA
from .flags import (
    OneLineParser,
    no_curriculum,
    non_negative_float,
    number_parser,
    positive_float,
    positive_int,
    retired_heads_flag,
)


def add_train_parser(sub):
    p = sub.add_parser("train", help="train an MTP model and save a checkpoint")
    p.add_argument("--corpus", default="python-stdlib", help="python-stdlib (default; the text shipped in the package), "
                   "python-stdlib-local (this interpreter's library), stories, or a text file")
    p.add_argument("--out", default="runs/model", help="checkpoint directory to write (default runs/model); "
                   "an existing checkpoint is replaced only with --overwrite, any other existing path is refused")
    p.add_argument("--overwrite", action="store_true", help="replace the checkpoint already at --out")
    p.add_argument("--heads", type=positive_int, default=4, help="prediction heads n (1 = next-token baseline)")
    p.add_argument("--head-type", choices=HEAD_TYPES, default=ModelConfig().head_type)
    p.add_argument("--preset", choices=list(PRESETS), default="tiny", help="model size (default tiny)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=positive_float, help="train for this much wall-clock time")
    budget.add_argument("--steps", type=positive_int, help="train for this many steps (default 800)")
    p.add_argument("--loss-weights", default="equal", help="equal (default), decay, or comma-separated weights")
    p.add_argument("--curriculum", default=None, metavar="|".join(CURRICULA), help="which heads are in the loss as "
                   "training goes: none (default), forward (head 1 first, one more per stage) or reverse")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--lr", type=positive_float, default=3e-3, help="peak learning rate")
    p.add_argument("--eval-every", type=positive_int, default=100)
    p.add_argument("--memory-saving", action="store_true", help="Meta's head-by-head backward pass")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads (default: PyTorch's choice)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    p.add_argument("--resume", metavar="DIR", help="continue training from this checkpoint")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a progress bar")


def parse_loss_weights(text: str):
    if text in ("equal", "decay"):
        return text
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise TinyMTPError(f"--loss-weights must be equal, decay or numbers like 1,0.5,0.5,0.5: '{text}'") from None


def cmd_train(args) -> int:
    # imported here, not at the top: they import torch, which `python -m tinymtp --help` must not wait for
    from ..training.distributed import one_of_the_processes, processes_from_environment

    processes = processes_from_environment()  # torchrun's RANK and WORLD_SIZE; one process without them
    with one_of_the_processes(processes):  # one error line for all of them, the process group left at the end
        return train_command(args, processes)


def train_command(args, processes) -> int:
    from ..data.corpora import load_corpus
    from ..files.checkpoint import (
        check_checkpoint_target,
        check_same_corpus,
        load_checkpoint,
        save_checkpoint,
    )
    from ..training.curriculum import continued_curriculum
    from ..training.progress import TrainProgressBar
    from ..training.train import TrainConfig, train, training_metadata

    check_checkpoint_target(args.out, args.overwrite)  # before training: a refusal costs no run
    resume = load_checkpoint(args.resume, with_optimizer=True) if args.resume else None
    corpus = load_corpus(args.corpus)
    if resume is not None:
        model_config = resume.model.config
        check_same_corpus(resume.metadata, corpus, args.resume)
        if resume.tokenizer != corpus.tokenizer:
            raise TinyMTPError(f"checkpoint {args.resume} was trained on another vocabulary than corpus '{args.corpus}'")
    else:
        model_config = ModelConfig.from_preset(args.preset, vocab_size=corpus.tokenizer.vocab_size,
                                               n_heads=args.heads, head_type=args.head_type,
                                               loss_weights=parse_loss_weights(args.loss_weights))
    train_config = TrainConfig(steps=args.steps, minutes=args.minutes, batch_size=args.batch_size,
                               learning_rate=args.lr, eval_every=args.eval_every, seed=args.seed,
                               device=args.device, memory_saving=args.memory_saving, threads=args.threads,
                               curriculum=continued_curriculum(args.curriculum, resume.metadata) if resume
                               else args.curriculum or "none")
    bar = None if args.json or not processes.main else TrainProgressBar(train_config)  # drawn on the first step
    try:
        result = train(model_config, train_config, corpus, on_step=bar, resume=resume, processes=processes)
    finally:
        if bar is not None:
            bar.close()
    if not processes.main:
        return 0  # process 0 holds the same weights and writes them
    path = save_checkpoint(args.out, result.model, corpus.tokenizer,
                           training_metadata(result, corpus, train_config),
                           result.optimizer_tensors,
                           overwrite=args.overwrite)
    final = result.final_eval
    if args.json:
        print(json.dumps({"checkpoint": path, "steps": result.steps, "seconds": round(result.seconds, 2),
                          "interrupted": result.interrupted, "parameters": result.model.num_parameters(),
                          "next_token_val_loss": final["next_token_val_loss"], "heads": final["heads"]}))
    else:
        stopped = " (stopped early; the checkpoint is usable, continue with --resume)" if result.interrupted else ""
        print(f"saved {path} after {result.steps} steps in {result.seconds:.0f} s{stopped}")
        for h in final["heads"]:
            print(f"  head {h['head']}: val loss {h['val_loss']:.4f}, top-1 accuracy {h['val_accuracy']:.3f}")
    return 0


def add_eval_parser(sub):
    p = sub.add_parser("eval", help="per-head validation loss and accuracy of a checkpoint")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--corpus", help="corpus to evaluate on (default: the one it was trained on)")
    p.add_argument("--windows", type=positive_int, default=256, help="validation windows to score")
    p.add_argument("--json", action="store_true")


def cmd_eval(args) -> int:
    # here, not at the top: torch loads only once a command runs (see cmd_train)
    from ..data.corpora import load_corpus
    from ..files.checkpoint import check_same_corpus, load_checkpoint
    from ..training.evaluate import evaluate_on_corpus

    ckpt = load_checkpoint(args.checkpoint)
    corpus_name = args.corpus or ckpt.metadata.get("corpus", "python-stdlib")
    named = ("python-stdlib", "python-stdlib-local", "stories")
    if not args.corpus and corpus_name not in named and not os.path.exists(corpus_name):
        raise TinyMTPError(f"checkpoint was trained on '{corpus_name}', which is not here: pass --corpus")
    corpus = load_corpus(corpus_name)
    check_same_corpus(ckpt.metadata, corpus, args.checkpoint)
    result = evaluate_on_corpus(ckpt.model, ckpt.tokenizer, corpus, args.windows)
    if args.json:
        print(json.dumps({"checkpoint": args.checkpoint, "corpus": corpus_name, **result}))
    else:
        print(f"{args.checkpoint} on {corpus_name}: next-token val loss {result['next_token_val_loss']:.4f}")
        for h in result["heads"]:
            print(f"  head {h['head']}: val loss {h['val_loss']:.4f}, top-1 accuracy {h['val_accuracy']:.3f}")
    return 0


MODES = ("greedy", "sample", "speculative", "speculative-sample", "draft-model", "lookup", "lookup-sample", "tree")
TREE_HELP = "tree shape for --mode tree: default, chain, widths per depth like 3,2,1, or paths like [[0],[1],[0,0]]"


def add_generate_parser(sub):
    p = sub.add_parser("generate", help="continue a prompt with one of the decoding modes",
                       description="Continue a prompt. The text is printed as it is generated and a summary "
                                   "follows on stderr. Ctrl-C stops after the current round, prints the summary "
                                   "of what was generated and exits with code 130.")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--prompt", required=True)
    p.add_argument("--mode", choices=MODES, default="greedy")
    p.add_argument("--max-new-tokens", type=positive_int, default=200)
    p.add_argument("--temperature", type=non_negative_float, default=1.0, help="0 means greedy")
    p.add_argument("--top-k", type=positive_int, default=None)
    p.add_argument("--draft-len", type=positive_int, default=None, metavar="N",
                   help="tokens drafted per round: speculative modes heads 2..N+1 (default every head, n - 1), "
                   "tree: its depth, draft-model and lookup: tokens proposed (default 3)")
    p.add_argument("--heads", type=retired_heads_flag, default=None, help=argparse.SUPPRESS)
    p.add_argument("--draft-checkpoint", default=None, help="draft model for --mode draft-model")
    p.add_argument("--tree", default=None, metavar="SHAPE", help=TREE_HELP)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object at the end instead of streaming text")
    p.add_argument("--trace", action="store_true",
                   help="keep every round (at most 20000 new tokens): one line per round after the text, or "
                        "`rounds` in the --json object")
    p.add_argument("--html", default=None, metavar="FILE",
                   help="also write the run as one self-contained HTML replay (plays offline in any browser; "
                        "at most 20000 new tokens)")
    p.add_argument("--overwrite", action="store_true", help="with --html: replace a replay tinymtp wrote before")


def cmd_generate(args) -> int:
    from .generate import cmd_generate as run  # lazy: it imports torch (see cmd_train)

    return run(args)


def add_bench_parser(sub):
    p = sub.add_parser("bench", help="benchmarks: training throughput or decoding speed-up")
    p.add_argument("what", choices=["train", "decode", "tree"], help="tree: choose a tree shape by measurement")
    p.add_argument("--checkpoint", default=None, help="bench decode: the MTP checkpoint (default: shipped 4-head)")
    p.add_argument("--tree", default=None, metavar="SHAPE", help="bench decode: the tree shape to time")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke test")
    p.add_argument("--repeats", type=positive_int, default=None, metavar="N",
                   help="bench decode: interleaved repeats of the greedy rows, median taken (default 3, 1 with "
                        "--quick); more steadies the wall-clock figures on a busy machine")
    p.add_argument("--seeds", type=positive_int, default=None, metavar="N",
                   help="bench decode: sampling seeds per prompt for the sampled rows (default 3, 2 with --quick)")
    p.add_argument("--temperatures", default=None, metavar="T,T",
                   help="bench decode: temperatures of the sampled rows (default 1,0.7)")
    p.add_argument("--draft-len", type=positive_int, default=None, metavar="N",
                   help="bench decode: draft at most N tokens a round (default: every head drafts)")


def cmd_bench(args) -> int:
    if args.what == "tree":  # lazy imports: they import torch (see cmd_train)
        from ..analysis.tree_calibrate import bench_tree

        return bench_tree(args)
    from ..analysis.bench import cmd_bench as bench_decode_or_train

    return bench_decode_or_train(args)


def add_experiment_parser(sub):
    p = sub.add_parser("experiment", help="experiments: where multi-token prediction helps and where it does not")
    p.add_argument("name", metavar="NAME", help="ntp-vs-mtp, induction, addition, head-types, how-many-heads, loss-weights, "
                   "drafters, curriculum, or all")
    p.add_argument("--corpus", help="curriculum: a text file or built-in corpus to run on (default python-stdlib)")
    p.add_argument("--seeds", type=number_parser(int, lambda v: 1 <= v <= 20, "must be between 1 and 20"),
                   default=3, help="runs per configuration (default 3)")
    p.add_argument("--minutes", type=number_parser(float, lambda v: 0 < v <= 60, "must be above 0 and at most 60"),
                   help="ntp-vs-mtp, head-types, how-many-heads, loss-weights, drafters, curriculum: budget per run")
    p.add_argument("--steps", type=number_parser(int, lambda v: 1 <= v <= 1_000_000, "must be 1 to 1000000"),
                   help="induction, addition: training steps of every run")
    p.add_argument("--threads", type=number_parser(int, lambda v: 1 <= v <= 256, "must be 1 to 256"), default=1,
                   help="CPU threads per run (default 1)")
    p.add_argument("--out", default="results", help="folder for NAME.json (default results)")
    p.add_argument("--overwrite", action="store_true", help="replace earlier results of the same experiment")
    p.add_argument("--smoke", action="store_true", help="seconds-long settings (tiny models), for tests")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")


def cmd_experiment(args) -> int:
    from ..experiments.command import cmd_experiment as run  # lazy: it imports torch (see cmd_train)

    return run(args)


def add_export_hf_parser(sub):
    p = sub.add_parser("export-hf", help="write a checkpoint, every head, as a Hugging Face transformers folder",
                       description="Write the model, every head kept, as a folder that "
                                   "AutoModelForCausalLM.from_pretrained reads after `import tinymtp.files.hf` "
                                   "(its loss with labels is the MTP loss; self-speculative generate: "
                                   "docs/transformers.md). Needs transformers 5.x: pip install -e .[hf]")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, help="folder to write; an existing export is replaced only with "
                   "--overwrite, any other existing path is refused")
    p.add_argument("--overwrite", action="store_true", help="replace the export already at --out")


def cmd_export_hf(args) -> int:
    from ..files.hf import export_hf  # a one-line TinyMTPError when transformers is missing

    print(f"wrote {export_hf(args.checkpoint, args.out, overwrite=args.overwrite)}")
    return 0


def add_distill_parser(sub):
    p = sub.add_parser("distill", help="teach heads 2..n what the model itself would write (self-distillation)")
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="the checkpoint whose heads 2..n to distill")
    p.add_argument("--out", required=True, metavar="DIR", help="checkpoint directory to write; an existing "
                   "checkpoint is replaced only with --overwrite, any other existing path is refused")
    p.add_argument("--overwrite", action="store_true", help="replace the checkpoint already at --out")
    p.add_argument("--corpus", help="the training corpus (default: the one the checkpoint was trained on)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=positive_float, help="distill for this much wall-clock time")
    budget.add_argument("--steps", type=positive_int, help="distill for this many steps (default 1000)")
    p.add_argument("--text", choices=["corpus", "generated", "sampled"], default="corpus", help="windows of the "
                   "corpus (default), or a short prompt from it followed by the model's own greedy tokens "
                   "(generated) or its own samples at temperature 1 (sampled)")
    p.add_argument("--target", choices=["hard", "soft"], default="soft", help="hard: the model's token k steps "
                   "on (for greedy speculative decoding); soft (default): head 1's distribution there, a KL loss "
                   "(for speculative sampling)")
    p.add_argument("--train-trunk", action=argparse.BooleanOptionalAction, default=None,
                   help="Medusa-2's joint recipe (the default, the shipped model's): every parameter trains, head 1 "
                   "on the text's next token, so greedy output changes; --no-train-trunk freezes the trunk and "
                   "head 1 (the default with --heads)")
    p.add_argument("--follow", choices=["greedy", "text"], default=None, help="whose continuation the targets "
                   "follow: greedy decoding's from each position (for greedy speculative decoding; the default "
                   "except with --text sampled) or the window's own, teacher-forced (for speculative sampling)")
    p.add_argument("--window", type=positive_int, default=32, help="tokens per training window (default 32; "
                   "up to the context with --follow text)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="windows per step (default 8)")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="peak learning rate (default 1e-3)")
    p.add_argument("--drafting-weight", type=non_negative_float, default=1.0,
                   help="with --train-trunk: weight of heads 2..n's loss beside head 1's (default 1)")
    p.add_argument("--trunk-lr-ratio", type=positive_float, default=0.1, help="with --train-trunk: the trunk, "
                   "head 1, norm and unembedding learn at this share of the learning rate (default 0.1)")
    p.add_argument("--heads", type=positive_int, metavar="N", help="first grow the model to N heads: the new "
                   "heads start as the identity on the checkpoint's trunk, which stays frozen unless --train-trunk "
                   "(Medusa-1's recipe, e.g. from checkpoints/ntp-1head)")
    p.add_argument("--head-type", choices=HEAD_TYPES, default=None, help="grow new heads of this type (heads 2..n "
                   "start fresh on the checkpoint's trunk, frozen unless --train-trunk), e.g. sequential heads on a "
                   "next-token or linear-head model")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads (default: PyTorch's choice)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a progress bar")
    p.add_argument("--curriculum", type=no_curriculum, help=argparse.SUPPRESS)  # a one-line refusal, not 'unrecognized'


def cmd_distill(args) -> int:
    # imported here, not at the top: they import torch, which `python -m tinymtp --help` must not wait for
    from ..data.corpora import load_corpus
    from ..files.checkpoint import (
        check_checkpoint_target,
        check_same_corpus,
        load_checkpoint,
        save_checkpoint,
    )
    from ..training.distill import DistillConfig, distill, distill_metadata
    from ..training.progress import DistillProgressBar

    check_checkpoint_target(args.out, args.overwrite)  # before distilling: a refusal costs no run
    source = load_checkpoint(args.checkpoint)
    corpus = load_corpus(args.corpus or source.metadata.get("corpus", "python-stdlib"))
    check_same_corpus(source.metadata, corpus, args.checkpoint)
    if corpus.tokenizer != source.tokenizer:
        raise TinyMTPError(f"checkpoint {args.checkpoint} was trained on another vocabulary than corpus '{corpus.name}'")
    model = source.model
    growing = args.heads is not None or args.head_type is not None
    if growing:
        if (args.heads or model.n_heads) < model.n_heads:
            raise TinyMTPError(f"--heads {args.heads} is fewer than the checkpoint's {model.n_heads} heads: "
                               "distill only adds heads")
        model = model.with_heads(args.heads or model.n_heads, args.head_type)
    config = DistillConfig(steps=args.steps, minutes=args.minutes, text=args.text, seed=args.seed, threads=args.threads,
                           follow=args.follow, window=args.window, batch_size=args.batch_size, learning_rate=args.lr,
                           target=args.target, drafting_weight=args.drafting_weight,
                           train_trunk=not growing if args.train_trunk is None else args.train_trunk,
                           trunk_lr_ratio=args.trunk_lr_ratio)
    bar = None if args.json else DistillProgressBar(config)
    try:
        result = distill(model, corpus, config, on_step=bar)
    finally:
        if bar is not None:
            bar.close()
    path = save_checkpoint(args.out, result.model, source.tokenizer,
                           distill_metadata(result, args.checkpoint, source.metadata, config), overwrite=args.overwrite)
    before = result.history["eval"][0]["heads"]
    if args.json:
        print(json.dumps({"checkpoint": path, "steps": result.steps, "seconds": round(result.seconds, 2),
                          "interrupted": result.interrupted, "greedy_agreement_before": before,
                          "greedy_agreement": result.final_agreement,
                          "head1_val_loss_before": result.head1_val_loss_before,
                          "head1_val_loss": result.head1_val_loss}))
    else:
        print(f"saved {path} after {result.steps} steps in {result.seconds:.0f} s")
        print(f"  head 1: validation loss {result.head1_val_loss_before:.4f} -> {result.head1_val_loss:.4f}")
        for old, new in zip(before, result.final_agreement):
            print(f"  head {new['head']}: agrees with greedy decoding {old['greedy_agreement']:.3f} -> "
                  f"{new['greedy_agreement']:.3f}, KL from head 1 {old['kl']:.3f} -> {new['kl']:.3f} "
                  "(held-out windows)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m tinymtp", description="tinymtp: train and decode a tiny MTP model")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    add_train_parser(sub)
    add_distill_parser(sub)
    add_eval_parser(sub)
    add_generate_parser(sub)
    add_bench_parser(sub)
    add_experiment_parser(sub)
    add_export_hf_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except TinyMTPError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


COMMANDS = {"train": cmd_train, "distill": cmd_distill, "eval": cmd_eval, "generate": cmd_generate, "bench": cmd_bench,
            "experiment": cmd_experiment, "export-hf": cmd_export_hf}
