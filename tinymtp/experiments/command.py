"""`python -m tinymtp experiment NAME|all ...`: run, save, and print (a tqdm bar while it runs)."""

from __future__ import annotations

import json
from dataclasses import replace

from tqdm.auto import tqdm

from ..core.errors import TinyMTPError
from . import CORPUS_EXPERIMENTS, EQUAL_TIME, EXPERIMENTS, ExperimentSettings, run_experiment, save_result
from .runner import check_result_targets


class ExperimentBar:
    """A tqdm bar over all training steps of one experiment, showing what runs now."""

    def __init__(self, name: str):
        self.bar = tqdm(total=0, unit="step", desc=name, dynamic_ncols=True)

    def __call__(self, done: int, total: int, what: str) -> None:
        if total != self.bar.total:
            self.bar.total = total
            self.bar.refresh()
        self.bar.set_postfix_str(what, refresh=False)
        self.bar.update(done - self.bar.n)

    def close(self):
        self.bar.close()


def settings_for(name: str, settings: ExperimentSettings, everything: bool) -> ExperimentSettings:
    """With `all`, --minutes goes to the equal-time experiments, --steps to the learning curves and
    --corpus to the experiments that take one."""
    if not everything:
        return settings
    if name not in CORPUS_EXPERIMENTS:
        settings = replace(settings, corpus=None)
    if name in EQUAL_TIME:
        return replace(settings, steps=None)
    return replace(settings, minutes=None)


def cmd_experiment(args) -> int:
    everything = args.name == "all"
    if not everything and args.name not in EXPERIMENTS:
        raise TinyMTPError(f"unknown experiment '{args.name}' (choose from {', '.join(EXPERIMENTS)}, or all)")
    names = list(EXPERIMENTS) if everything else [args.name]
    settings = ExperimentSettings(seeds=args.seeds, minutes=args.minutes, steps=args.steps, threads=args.threads,
                                  smoke=args.smoke, corpus=args.corpus)
    if not everything and args.name in EQUAL_TIME and args.steps is not None:
        raise TinyMTPError(f"{args.name} gives every run the same wall-clock budget: use --minutes, not --steps")
    if not everything and args.name not in EQUAL_TIME and args.minutes is not None:
        raise TinyMTPError(f"{args.name} trains every run for the same number of steps: use --steps, not --minutes")
    if not everything and args.name not in CORPUS_EXPERIMENTS and args.corpus is not None:
        raise TinyMTPError(f"{args.name} runs on its own corpora; --corpus is for {', '.join(CORPUS_EXPERIMENTS)}")
    for name in names:  # before any training: a refusal must not cost a run
        check_result_targets(name, args.out, args.overwrite, settings_for(name, settings, everything).corpus)
    shared, results = {}, {}
    for name in names:
        bar = None if args.json else ExperimentBar(name)
        try:
            result = run_experiment(name, settings_for(name, settings, everything), on_progress=bar, shared=shared)
        finally:
            if bar is not None:
                bar.close()
        result["files"] = save_result(result, args.out, overwrite=args.overwrite)
        results[name] = result
        if not args.json:
            print(f"{result['title']}: wrote {result['files']['json']} and its figure {result['files']['figure']} "
                  "(also drawn on the app's Compare page and in notebook 08)")
            for finding in result["findings"]:
                print(f"  - {finding}")
    if args.json:
        print(json.dumps(results[names[0]] if not everything else {"experiments": results}))
    return 0
