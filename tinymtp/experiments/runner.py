"""What every experiment shares: settings, one training run, seeds' spread, findings, saving.

An experiment is a function `run(settings, on_progress) -> dict` that trains small models with
`tinymtp.training.train.train` (there is no second training loop here) and returns a JSON-safe result:
its name, the command that regenerates it, the settings, the machine, the date, every run's raw
numbers, a summary (mean and spread across seeds) and `findings`, sentences built from those
numbers by `compare` (the direction of each claim is decided by the data, never written in).

`train_run` can score a model during training: it stops `train()` through its callback at each
scoring step and resumes it from the model and optimizer state it returned, with the schedule
still set for the full run; tinymtp's training tests check that stop-and-resume gives exactly
the weights of one uninterrupted run, so the curve is the curve of one run.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import statistics
import sys
from dataclasses import asdict, dataclass

import torch

from ..analysis.speedup import BenchPlan, heldout_prompts
from ..core.errors import TinyMTPError
from ..files.checkpoint import Checkpoint
from ..files.safe_write import check_target, write_text
from ..training.train import TrainConfig, train
from ..viz.results import experiment_figure


@dataclass
class ExperimentSettings:
    seeds: int = 3  # runs per configuration; seeds are 1..seeds
    minutes: float | None = None  # equal-time experiments: the budget per run (None: their default)
    steps: int | None = None  # learning-curve experiments: the steps of every run (None: their default)
    threads: int = 1  # PyTorch CPU threads for every run (1 keeps timings steady on 2 cores)
    smoke: bool = False  # seconds-long settings for the tests: tiny models, tiny budgets
    first_seed: int = 1
    corpus: str | None = None  # experiments that take one (CORPUS_EXPERIMENTS): a corpus name or text file

    def __post_init__(self):
        if self.seeds < 1:
            raise TinyMTPError(f"--seeds must be at least 1, got {self.seeds}")
        if self.minutes is not None and not 0 < self.minutes <= 60:
            raise TinyMTPError(f"--minutes must be between 0 and 60 per run, got {self.minutes}")
        if self.steps is not None and not 1 <= self.steps <= 1_000_000:
            raise TinyMTPError(f"--steps must be between 1 and 1000000, got {self.steps}")
        if self.threads < 1:
            raise TinyMTPError(f"--threads must be at least 1, got {self.threads}")

    @property
    def seed_list(self) -> list:
        return list(range(self.first_seed, self.first_seed + self.seeds))

    def budget_seconds(self, default_minutes: float, smoke_seconds: float = 0.3) -> float:
        if self.minutes is not None:
            return self.minutes * 60
        return smoke_seconds if self.smoke else default_minutes * 60


class Progress:
    """Counts training steps over all runs and reports `on_progress(done, total, what)`."""

    def __init__(self, on_progress=None, total: int = 0):
        self.on_progress, self.total, self.done, self.what = on_progress, total, 0, ""

    def set(self, what: str | None = None, total: int | None = None, advance: int = 0) -> None:
        self.what = what if what is not None else self.what
        self.total = total if total is not None else self.total
        self.done += advance
        if self.on_progress is not None:
            self.on_progress(self.done, self.total, self.what)


def train_run(model_config, train_config: TrainConfig, corpus, score=None, score_every: int | None = None,
              progress: Progress | None = None):
    """Train by steps; with `score(model) -> dict`, also score every `score_every` steps and at the end.

    Returns (TrainResult, curve): curve is [{"step", "seconds", **score(model)}, ...].
    """
    steps = train_config.steps
    if steps is None:
        raise TinyMTPError("experiment runs train by steps (equal compute is planned in steps)")
    stops = list(range(score_every, steps, score_every)) if score and score_every else []
    stops.append(steps)
    curve, resume, result = [], None, None
    for stop in stops:
        def on_step(info, stop=stop):
            if progress is not None:
                progress.set(advance=1)
            return info.step >= stop and stop < steps

        result = train(model_config, train_config, corpus, on_step=on_step, resume=resume)
        if result.steps < stop:  # Ctrl-C inside train() stops it and returns: stop the experiment too
            raise KeyboardInterrupt
        if score is not None:
            curve.append({"step": result.steps, "seconds": round(result.seconds, 2), **score(result.model)})
        resume = Checkpoint(result.model, corpus.tokenizer,
                            {"steps": result.steps, "seconds": result.seconds, "history": result.history},
                            result.optimizer_tensors)
    return result, curve


def run_record(result, train_config: TrainConfig, step_time: float | None = None, **labels) -> dict:
    """One run's raw numbers: its labels, compute used, and final per-head validation results."""
    cfg = result.model.config
    final = result.final_eval
    record = {**labels, "seed": train_config.seed, "steps": result.steps,
              "seconds": round(result.seconds, 2),
              "tokens": result.steps * train_config.batch_size * cfg.context_length,
              "parameters": result.model.num_parameters(),
              "next_token_val_loss": final["next_token_val_loss"], "heads": final["heads"]}
    if step_time is not None:
        record["step_time_s"] = round(step_time, 6)
        record["planned_compute_s"] = round(result.steps * step_time, 3)
    return record


def spread(values: list) -> dict:
    """Mean and spread across seeds: sample standard deviation (0 for one seed), min and max."""
    values = [float(v) for v in values]
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": round(statistics.fmean(values), 4), "std": round(std, 4), "min": round(min(values), 4),
            "max": round(max(values), 4), "n": len(values), "values": [round(v, 4) for v in values]}


FINDINGS_RULE = ("a difference is called real only when the two means differ by more than the sum of their "
                 "standard deviations across seeds; otherwise it is reported as within the seed spread")


def compare(metric: str, label_a: str, a: dict, label_b: str, b: dict, lower_is_better: bool,
            digits: int = 3) -> str:
    """One sentence comparing a and b (spread dicts) by FINDINGS_RULE, e.g. for 'n=4' against 'n=1'."""
    def show(s):
        return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"

    gap = a["mean"] - b["mean"]
    head = f"{metric}: {label_a} {show(a)} vs {label_b} {show(b)}"
    if abs(gap) <= a["std"] + b["std"] or (a["n"] < 2 and b["n"] < 2 and gap == 0):
        return f"{head}: no difference beyond the seed spread"
    better = (gap < 0) == lower_is_better
    return f"{head}: {label_a} is {'better' if better else 'worse'} than {label_b}"


def machine_info(threads: int) -> dict:
    return {"python": sys.version.split()[0], "torch": torch.__version__, "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "threads": threads}


def result_header(name: str, title: str, question: str, settings: ExperimentSettings, details: dict) -> dict:
    """The part of every result that says what was run, where, when and how to run it again."""
    command = f"python -m tinymtp experiment {name} --seeds {settings.seeds} --threads {settings.threads}"
    if settings.minutes is not None:
        command += f" --minutes {settings.minutes:g}"
    if settings.steps is not None:
        command += f" --steps {settings.steps}"
    if settings.smoke:
        command += " --smoke"
    if settings.corpus is not None:
        command += f" --corpus {settings.corpus}"
    return {"experiment": name, "result_name": result_name(name, settings.corpus), "title": title,
            "question": question, "command": command,
            "settings": {**asdict(settings), **details}, "machine": machine_info(settings.threads),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "findings_rule": FINDINGS_RULE}


def _is_result(name: str, key: str):
    """Is an existing file tinymtp's own result (or figure) for experiment `name`?"""

    def check(path: str) -> bool:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return False
        if key == "figure":
            return isinstance(data, dict) and "data" in data and "layout" in data
        return isinstance(data, dict) and data.get("experiment") == name and "findings" in data

    return check


def result_name(name: str, corpus: str | None = None) -> str:
    """NAME, or NAME-CORPUS for a run on a corpus the user named (`--corpus ../data/tiny.txt`:
    NAME-tiny), so results on different corpora sit side by side."""
    if corpus is None:
        return name
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", os.path.splitext(os.path.basename(corpus.rstrip("/\\")))[0]).strip("-")
    return f"{name}-{stem or 'corpus'}"


def result_files(name: str, out_dir: str) -> dict:
    """`name` is a result's name (result_name): the experiment's, or with its corpus."""
    return {"json": os.path.join(out_dir, name + ".json"), "figure": os.path.join(out_dir, name + ".figure.json")}


def check_result_targets(name: str, out_dir: str, overwrite: bool = False, corpus: str | None = None) -> None:
    """Refuse (one line) before an experiment runs if its result files could not be written:
    a file that is not an earlier result of the same experiment, or one without overwrite."""
    check_files(name, result_files(result_name(name, corpus), out_dir), overwrite)


def check_files(name: str, files: dict, overwrite: bool) -> None:
    for key, path in files.items():
        what = f"the {name} result" if key == "json" else f"the {name} figure"
        check_target(path, what, _is_result(name, key), overwrite, folder=False)


def save_result(result: dict, out_dir: str, overwrite: bool = False) -> dict:
    """results/NAME.json (the numbers) and results/NAME.figure.json (its plotly figure, drawn by
    tinymtp.viz.experiment_figure; open it with plotly.io.read_json(path).show()). No HTML page is
    written: one would either fetch plotly.js from the web or carry megabytes of it."""
    files = result_files(result.get("result_name", result["experiment"]), out_dir)
    check_files(result["experiment"], files, overwrite)
    write_text(files["json"], json.dumps(result, indent=1) + "\n")
    write_text(files["figure"], experiment_figure(result).to_json() + "\n")
    return files


def drafting_setup(tokenizer, corpus: str, decoding: dict, threads, draft_len: int, **plan) -> tuple[list, BenchPlan]:
    """The held-out prompts and the BenchPlan of an experiment that measures drafting: exact sampling at
    T=1 over `decoding["seeds"]` seeds and greedy once, `draft_len` drafts per round (`decoding`: prompts,
    prompt_length, max_new_tokens, seeds; `plan`: more BenchPlan fields)."""
    prompts = heldout_prompts(tokenizer, count=decoding["prompts"], length=decoding["prompt_length"], corpus=corpus)
    return prompts, BenchPlan(max_new_tokens=decoding["max_new_tokens"], repeats=1, draft_lens=(draft_len,),
                              temperatures=(1.0,), seeds=decoding["seeds"], threads=threads, **plan)
