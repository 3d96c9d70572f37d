"""Where things live: the shipped checkpoints, the learner's own runs, the experiments' results.

Each folder is the repository's own (checkpoints/, runs/, results/) unless an environment variable
points elsewhere (TINYMTP_CHECKPOINTS, TINYMTP_RUNS, TINYMTP_RESULTS): the tests use them to work
in temporary folders, and a learner can keep big runs on another disk.

`learner_model()` answers the notebooks' question "which model do I study?": the one the learner
trained and saved in notebook 04_training (runs/my-model) once it exists, else the shipped
checkpoints/mtp-4head, so notebooks 05-09 run before (and without) notebook 04.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .checkpoint import CONFIG_FILE, WEIGHTS_FILE

REPO_ROOT = Path(__file__).resolve().parents[2]  # tinymtp/files/paths.py -> the repository
LEARNER_MODEL_NAME = "my-model"  # the folder under runs/ that notebook 04 saves to
SHIPPED_MODEL_NAME = "mtp-4head"


def _folder(variable: str, default: str) -> Path:
    return Path(os.environ.get(variable) or REPO_ROOT / default)


def checkpoints_dir() -> Path:
    """The shipped checkpoints: checkpoints/ at the repository root, or $TINYMTP_CHECKPOINTS."""
    return _folder("TINYMTP_CHECKPOINTS", "checkpoints")


def runs_dir() -> Path:
    """The learner's own trained models: runs/ at the repository root, or $TINYMTP_RUNS."""
    return _folder("TINYMTP_RUNS", "runs")


def results_dir() -> Path:
    """The experiments' saved results: results/ at the repository root, or $TINYMTP_RESULTS."""
    return _folder("TINYMTP_RESULTS", "results")


@dataclass(frozen=True)
class LearnerModel:
    path: Path
    is_own: bool  # True: trained by the learner in notebook 04; False: the shipped checkpoint

    def describe(self) -> str:
        if self.is_own:
            return f"your own model from notebook 04_training ({self.path})"
        return f"the shipped model {self.path.name} ({self.path}); train your own in notebook 04_training"


def learner_model() -> LearnerModel:
    """The learner's model from notebook 04 if it holds a saved checkpoint, else the shipped one."""
    own = runs_dir() / LEARNER_MODEL_NAME
    if (own / CONFIG_FILE).is_file() and (own / WEIGHTS_FILE).is_file():
        return LearnerModel(path=own, is_own=True)
    return LearnerModel(path=checkpoints_dir() / SHIPPED_MODEL_NAME, is_own=False)
