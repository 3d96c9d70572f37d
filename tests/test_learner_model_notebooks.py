"""The learner's own model through notebooks 04-07. With a model saved where notebook 04 saves it
(runs/my-model, here in a temporary TINYMTP_RUNS), notebooks 05-07 study that model, say so, and
still run top to bottom with their comparison against the shipped mtp-4head (the plain notebook
test runs them on the shipped model only: its TINYMTP_RUNS is empty); and notebook 04 in fast mode,
as the tests run it, leaves that model untouched."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tinymtp.core.model import ModelConfig
from tinymtp.data.corpora import load_corpus
from tinymtp.files.checkpoint import save_checkpoint
from tinymtp.files.paths import LEARNER_MODEL_NAME
from tinymtp.training.train import TrainConfig, train, training_metadata

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
STUDYING = ["05_what_the_heads_know", "06_self_speculative_decoding", "07_speculative_sampling"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A runs/ folder holding a small 4-head model, saved as notebook 04 saves it."""
    folder = tmp_path_factory.mktemp("runs")
    corpus = load_corpus("python-stdlib")
    model_config = ModelConfig(vocab_size=corpus.tokenizer.vocab_size, context_length=64, d_model=32, n_layers=1,
                               attn_heads=2, n_heads=4)
    train_config = TrainConfig(steps=20, batch_size=8, warmup_steps=5, eval_every=20, eval_batches=1, seed=0,
                               threads=1)
    result = train(model_config, train_config, corpus)
    save_checkpoint(str(folder / LEARNER_MODEL_NAME), result.model, corpus.tokenizer,
                    training_metadata(result, corpus, train_config))
    return folder


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", STUDYING)
def test_notebook_studies_the_learners_own_model(name, runs, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("TINYMTP_FAST", "1")
    monkeypatch.setenv("TINYMTP_RUNS", str(runs))
    nb = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}).execute()
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                      if o.output_type == "stream")
    assert f"your own model from notebook 04_training ({runs / LEARNER_MODEL_NAME})" in printed
    assert "shipped mtp-4head" in printed  # the live comparison row
    assert "both rows are the shipped model" not in printed and "are the shipped model too" not in printed


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_fast_mode_training_never_replaces_the_learners_model(runs, monkeypatch):
    """The tests run notebook 04 in fast mode: its 40-step model must not replace a real runs/my-model."""
    from nbclient import NotebookClient

    saved = {p.name: p.read_bytes() for p in (runs / LEARNER_MODEL_NAME).iterdir()}
    monkeypatch.setenv("TINYMTP_FAST", "1")
    monkeypatch.setenv("TINYMTP_RUNS", str(runs))
    nb = nbformat.read(NOTEBOOKS_DIR / "04_training.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}).execute()
    assert {p.name: p.read_bytes() for p in (runs / LEARNER_MODEL_NAME).iterdir()} == saved
    assert sorted(p.name for p in runs.iterdir()) == [LEARNER_MODEL_NAME]  # nothing else written there
