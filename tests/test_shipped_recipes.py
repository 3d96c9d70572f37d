"""The README's recipe of every shipped checkpoint is the one its metadata records.

The README promises that each checkpoint under checkpoints/ was made by the commands it lists
(docs/measurements.md, "The shipped checkpoints"). Each command is parsed with the command line's
own parser and compared with what the checkpoint says about itself: corpus, heads, head type,
size, steps, seed and threads, and, for a distilled checkpoint, the distillation's settings and
the folder it started from (made by an earlier command of the same list)."""

from __future__ import annotations

import json
import re
import shlex

from conftest import CHECKPOINTS, ROOT

from tinymtp.cli.main import build_parser
from tinymtp.core.config import PRESETS


def readme_recipes() -> list:
    """The parsed `python -m tinymtp ...` commands of the README's block on the shipped checkpoints."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"The shipped checkpoints were made by these commands.*?```bash\n(.*?)```", text, re.S)
    assert block, "the README lists the shipped checkpoints' commands in a bash block"
    parser = build_parser()
    return [parser.parse_args(shlex.split(line)[3:]) for line in block.group(1).splitlines() if line.strip()]


def metadata(name: str) -> dict:
    return json.loads((CHECKPOINTS / name / "config.json").read_text())


def test_every_shipped_checkpoint_has_a_recipe_and_every_recipe_a_checkpoint_or_a_base():
    outs = [args.out for args in readme_recipes()]
    shipped = sorted(p.name for p in CHECKPOINTS.iterdir() if (p / "config.json").exists())
    assert sorted(o.split("/", 1)[1] for o in outs if o.startswith("checkpoints/")) == shipped
    starts = {args.checkpoint for args in readme_recipes() if args.command == "distill"}
    assert all(o.startswith("checkpoints/") or o in starts for o in outs)  # runs/ only as a distillation's start


def test_each_trained_checkpoint_records_its_commands_settings():
    recipes = readme_recipes()
    for args in recipes:
        if args.command != "train":
            continue
        name = args.out.split("/", 1)[1]
        target = args.out if args.out.startswith("checkpoints/") else next(  # a base: its distilled copy
            d.out for d in recipes if d.command == "distill" and d.checkpoint == args.out)
        config = metadata(target.split("/", 1)[1])
        model, meta = config["model"], config["metadata"]
        assert meta["corpus"] == args.corpus, name
        assert model["n_heads"] == args.heads and model["head_type"] == args.head_type, name
        size = PRESETS[args.preset]
        assert {k: model[k] for k in size} == size, name
        assert (meta["steps"], meta["seed"], meta["train_config"]["threads"]) == (args.steps, args.seed, args.threads), name


def test_the_distilled_checkpoint_records_its_distillation_and_keeps_head_1_near_the_next_token_model():
    distills = [args for args in readme_recipes() if args.command == "distill"]
    assert distills, "the shipped 4-head model is distilled (issue: heads that agree with head 1)"
    for args in distills:
        record = metadata(args.out.split("/", 1)[1])["metadata"]["distilled"]
        assert record["from"] == args.checkpoint
        config = record["config"]
        assert (config["steps"], config["train_trunk"], config["trunk_lr_ratio"], config["target"], config["threads"]) == (
            args.steps, args.train_trunk, args.trunk_lr_ratio, args.target, args.threads)
        assert (config["seed"], config["text"], config["learning_rate"], config["batch_size"]) == (
            args.seed, args.text, args.lr, args.batch_size)
        if args.window is not None:
            assert config["window"] == args.window
        if args.follow is not None:
            assert config["follow"] == args.follow
        if args.heads is not None:  # grown heads: their count and type are the checkpoint's
            model = metadata(args.out.split("/", 1)[1])["model"]
            assert (model["n_heads"], model["head_type"]) == (args.heads, args.head_type)
        baseline = metadata("ntp-1head")["metadata"]["next_token_val_loss"]
        assert abs(record["head1_val_loss"] - baseline) <= 0.02  # the project's bound on what the heads cost head 1
