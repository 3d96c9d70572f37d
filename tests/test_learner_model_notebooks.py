"""The learner's own model through notebooks 05-07. With a model saved where notebook 04 saves it
(runs/my-model, in a temporary TINYMTP_RUNS: conftest's `learner_runs`, made once), notebooks
05-07 study that model, say so, and still run top to bottom with their comparison against the
shipped mtp-4head (the plain notebook test runs them on the shipped model only: its TINYMTP_RUNS
is empty). That notebook 04 in fast mode, as the tests run it, leaves that model untouched is
checked where notebook 04 runs: tests/test_notebooks.py. Each run is made once per session
(tests/notebook_runs.py)."""

from __future__ import annotations

import pytest
from notebook_runs import LEARNER

from tinymtp.files.paths import LEARNER_MODEL_NAME

STUDYING = ["05_what_the_heads_know", "06_self_speculative_decoding", "07_speculative_sampling"]


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", STUDYING)
def test_notebook_studies_the_learners_own_model(name, notebook_runs):
    run = notebook_runs[(name, LEARNER)]
    assert not run.error, run.error
    printed = run.printed()
    assert f"your own model from notebook 04_training ({run.runs / LEARNER_MODEL_NAME})" in printed
    assert "shipped mtp-4head" in printed  # the live comparison row
    assert "both rows are the shipped model" not in printed and "are the shipped model too" not in printed
