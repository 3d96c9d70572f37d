"""Learning curves on a synthetic task: a score against training steps, for n = 1, 2, 4 and sizes.

Shared by the induction and addition experiments. Every run of a model size trains for the same
number of steps (equal steps = equal tokens, the comparison Gloeckle et al. make), and its task
score is measured on held-out items at `points` evenly spaced steps (`runner.train_run`). Each step
count is also turned into compute seconds with the measured step time of its configuration, so
the findings can read the curves at equal wall-clock too: an n = 4 run's score at the last scored
step where it had used no more compute than the whole n = 1 run.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from ..core.errors import TinyMTPError
from ..core.model import ModelConfig
from ..training.train import TrainConfig
from .budget import measure_step_times
from .runner import compare, run_record, spread, train_run

SMOKE_STEPS, SMOKE_POINTS = 20, 2  # --smoke: seconds-long curves for the tests


def curve_length(name: str, settings, default_steps: int, points: int) -> tuple[int, int]:
    """(steps, scored points) of a learning-curve experiment: every run gets the same steps."""
    if settings.minutes is not None:
        raise TinyMTPError(f"{name} trains every run for the same number of steps: use --steps, not --minutes")
    if settings.smoke:
        return settings.steps or SMOKE_STEPS, SMOKE_POINTS
    return settings.steps or default_steps, points

CURVE_MEANING = ("equal steps (equal tokens) within a model size; every curve point also records compute_s = "
                 "step x the configuration's measured step time, and the equal-time findings read an n > 1 "
                 "curve at its last scored step whose compute_s is at most the n = 1 run's total")


@dataclass
class CurveSpec:
    corpus: object  # a tinymtp Corpus
    score: object  # score(model) -> dict of numbers, `metric` among them
    metric: str  # the score's headline key
    metric_label: str  # how findings name it
    sizes: dict  # {label: dict of ModelConfig fields (context_length, d_model, n_layers, attn_heads)}
    heads: tuple = (1, 2, 4)
    steps: int = 1200
    points: int = 10  # scored at `points` evenly spaced steps, the last one at the end
    learning_rate: float = 3e-3
    batch_size: int = 32
    threshold: float = 0.5  # "the skill formed": the score reached this
    extra: dict = field(default_factory=dict)


def run_curves(spec: CurveSpec, settings, progress) -> tuple:
    """Train every (size, n) for every seed, scoring along the way. Returns (plan, runs)."""
    vocab = spec.corpus.tokenizer.vocab_size
    configs = {(size, n): ModelConfig(vocab_size=vocab, n_heads=n, head_type="linear", **fields)
               for size, fields in spec.sizes.items() for n in spec.heads}
    progress.set(what=f"timing {len(configs)} configurations")
    times = measure_step_times({f"{s} n={n}": c for (s, n), c in configs.items()}, spec.corpus, spec.batch_size,
                               learning_rate=spec.learning_rate, threads=settings.threads,
                               rounds=2 if settings.smoke else 3)
    plan = {label: {"step_time_s": round(t, 6), "steps": spec.steps, "compute_s": round(spec.steps * t, 3)}
            for label, t in times.items()}
    progress.set(total=len(settings.seed_list) * len(configs) * spec.steps)
    runs = []
    for seed in settings.seed_list:
        for (size, n), model_config in configs.items():
            label = f"{size} n={n}"
            progress.set(what=f"{label}, seed {seed}")
            train_config = TrainConfig(steps=spec.steps, batch_size=spec.batch_size, eval_every=spec.steps + 1,
                                       learning_rate=spec.learning_rate, seed=seed, threads=settings.threads)
            result, curve = train_run(model_config, train_config, spec.corpus, score=spec.score,
                                      score_every=max(1, spec.steps // spec.points), progress=progress)
            for point in curve:
                point["compute_s"] = round(point["step"] * times[label], 3)
            record = run_record(result, train_config, times[label], label=label, size=size, n_heads=n)
            record.update(curve=curve, final=curve[-1])
            runs.append(record)
    return plan, runs


def first_reaching(curve: list, metric: str, threshold: float):
    """The first scored step where `metric` >= threshold, or None."""
    return next((p["step"] for p in curve if p[metric] >= threshold), None)


def summarize_curves(runs: list, metric: str, threshold: float) -> list:
    """One row per (size, n): the final score's spread, the mean curve, and when the skill formed."""
    rows = []
    for size in dict.fromkeys(r["size"] for r in runs):
        for n in dict.fromkeys(r["n_heads"] for r in runs):
            group = [r for r in runs if r["size"] == size and r["n_heads"] == n]
            steps = [p["step"] for p in group[0]["curve"]]
            mean_curve = [{"step": s, "compute_s": group[0]["curve"][i]["compute_s"],
                           **{k: v for k, v in spread([r["curve"][i][metric] for r in group]).items()
                              if k in ("mean", "min", "max")}} for i, s in enumerate(steps)]
            formed = [first_reaching(r["curve"], metric, threshold) for r in group]
            reached = [s for s in formed if s is not None]
            rows.append({"size": size, "n_heads": n, "final": spread([r["final"][metric] for r in group]),
                         "head1_val_loss": spread([r["next_token_val_loss"] for r in group]),
                         "curve": mean_curve, "formed_seeds": len(reached), "seeds": len(group),
                         "formed_median_step": statistics.median(reached) if reached else None,
                         "seconds": spread([r["seconds"] for r in group])})
    return rows


def at_compute(runs: list, metric: str, budget: float) -> list:
    """Each run's score at its last scored step with compute_s <= budget (None if there is none)."""
    values = []
    for r in runs:
        within = [p for p in r["curve"] if p["compute_s"] <= budget * 1.0001]
        values.append(within[-1][metric] if within else None)
    return values


def curve_findings(runs: list, summary: list, metric: str, label: str, threshold: float) -> list:
    out = []
    for size in dict.fromkeys(row["size"] for row in summary):
        rows = {row["n_heads"]: row for row in summary if row["size"] == size}
        for n, row in rows.items():
            when = (f", first at step {row['formed_median_step']:g} (median)" if row["formed_seeds"] else "")
            out.append(f"{size}, n={n}: {label} reached {threshold:g} in {row['formed_seeds']} of "
                       f"{row['seeds']} seeds{when}")
        if 1 not in rows:
            continue
        base = rows[1]
        budget = statistics.median(r["curve"][-1]["compute_s"] for r in runs
                                   if r["size"] == size and r["n_heads"] == 1)
        for n, row in rows.items():
            if n == 1:
                continue
            out.append(f"{size}, equal steps, final " + compare(label, f"n={n}", row["final"], "n=1", base["final"],
                                                                lower_is_better=False))
            values = at_compute([r for r in runs if r["size"] == size and r["n_heads"] == n], metric, budget)
            if None in values:
                out.append(f"{size}, equal time: n={n} has no scored step within n=1's compute ({budget:.1f} s)")
            else:
                out.append(f"{size}, equal time ({budget:.1f} s of compute), " + compare(
                    label, f"n={n}", spread(values), "n=1", base["final"], lower_is_better=False))
    return out
