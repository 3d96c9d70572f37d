"""Experiments: where multi-token prediction helps a tiny model, and where it does not.

    python -m tinymtp experiment NAME [--seeds K] [--minutes M | --steps S] [--json] [--out DIR]

| NAME             | question                                                         | file          |
|------------------|------------------------------------------------------------------|---------------|
| `ntp-vs-mtp`     | n = 1 vs 2 vs 4 heads at equal compute: is head 1 better?         | ntp_vs_mtp.py |
| `induction`      | does MTP help small models learn in-context copying?              | induction.py  |
| `addition`       | does MTP help with 123+989=1112, where digit 1 depends on later ones? | addition.py |
| `how-many-heads` | speed-up and tokens per forward against the drafting heads K      | head_types.py |
| `head-types`     | linear vs mlp vs block (vs causal) at equal compute               | head_types.py |
| `loss-weights`   | protecting head 1: loss weights, a frozen trunk, then distillation | loss_weights.py |
| `drafters`       | parallel, causal, sequential heads, a draft model, lookup: who drafts best on sampled text | drafters.py |
| `curriculum`     | forward and reverse curricula vs loss weights: head 1 as good as n = 1, drafting kept? | curriculum.py |

Each one returns a JSON-safe result (runner.py says what is in it) that `save_result` writes to
`results/NAME.json` (`results/NAME-CORPUS.json` when run with `--corpus`, which only the
experiments in CORPUS_EXPERIMENTS take), whose figure tinymtp/viz/results.py draws. Equal compute
is defined in budget.py (equal-time experiments) and curves.py (learning curves). The results
are whatever was measured: every finding is a sentence computed from the numbers.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..core.errors import TinyMTPError
from ..files.paths import results_dir
from . import addition, curriculum, drafters, head_types, induction, loss_weights, ntp_vs_mtp
from .runner import ExperimentSettings, Progress, save_result

EXPERIMENTS = {
    "ntp-vs-mtp": ntp_vs_mtp.run,
    "induction": induction.run,
    "addition": addition.run,
    "head-types": head_types.run_head_types,  # before how-many-heads: `all` trains their models once
    "how-many-heads": head_types.run_how_many_heads,
    "loss-weights": loss_weights.run,
    "drafters": drafters.run,
    "curriculum": curriculum.run,
}
EQUAL_TIME = ("ntp-vs-mtp", "head-types", "how-many-heads", "loss-weights", "drafters",
              "curriculum")  # --minutes; the others take --steps
CORPUS_EXPERIMENTS = ("curriculum",)  # --corpus NAME|PATH; the others name their corpora themselves


def run_experiment(name: str, settings: ExperimentSettings | None = None, on_progress=None,
                   shared: dict | None = None) -> dict:
    """Run one experiment; on_progress(done_steps, total_steps, what) as it goes."""
    if name not in EXPERIMENTS:
        raise TinyMTPError(f"unknown experiment '{name}' (choose from {', '.join(EXPERIMENTS)}, or all)")
    settings = settings or ExperimentSettings()
    if name in EQUAL_TIME and settings.steps is not None:
        raise TinyMTPError(f"{name} gives every run the same wall-clock budget: use --minutes, not --steps")
    if settings.corpus is not None and name not in CORPUS_EXPERIMENTS:
        raise TinyMTPError(f"{name} runs on its own corpora; --corpus is for {', '.join(CORPUS_EXPERIMENTS)}")
    progress = Progress(on_progress)
    started = time.perf_counter()
    if name in ("head-types", "how-many-heads"):
        result = EXPERIMENTS[name](settings, progress, shared)
    else:
        result = EXPERIMENTS[name](settings, progress)
    result["wall_seconds"] = round(time.perf_counter() - started, 1)  # the whole experiment, end to end
    return result


def results_folder() -> Path:
    """Where results live: $TINYMTP_RESULTS, else the repository's results/ folder."""
    return results_dir()


def describe(result: dict) -> str:
    """A saved result in a few lines, as the notebooks print it: its title and command, then each finding."""
    return "\n".join([f"{result['title']}  ({result['command']})"] + [f"  - {f}" for f in result["findings"]])


def load_results(folder=None) -> tuple[dict, list]:
    """The saved results, in EXPERIMENTS order: ({result name: result}, [one line per unreadable file]);
    an experiment run with --corpus adds NAME-CORPUS.json after NAME.json."""
    folder = Path(folder) if folder is not None else results_folder()
    found, problems = {}, []
    for name in EXPERIMENTS:
        variants = sorted(p for p in folder.glob(f"{name}-*.json") if not p.name.endswith(".figure.json"))
        for path in [folder / f"{name}.json"] + (variants if name in CORPUS_EXPERIMENTS else []):
            if not path.exists():
                continue
            try:
                result = json.loads(path.read_text(encoding="utf-8"))
                if result.get("experiment") != name or "findings" not in result:
                    raise ValueError("not a result of this experiment")
                found[path.stem] = result
            except (OSError, ValueError) as exc:
                problems.append(f"{path.name}: {exc}")
    return found, problems


__all__ = ["CORPUS_EXPERIMENTS", "EXPERIMENTS", "ExperimentSettings", "describe", "load_results", "results_folder", "run_experiment",
           "save_result"]
