"""Where things live: the repository's folders by default, the environment's when set, and the
learner's own model from notebook 04 chosen only once it holds a saved checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.data.tokenizer import CharTokenizer
from tinymtp.files.checkpoint import load_checkpoint, save_checkpoint
from tinymtp.files.paths import checkpoints_dir, learner_model, results_dir, runs_dir

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = [(checkpoints_dir, "TINYMTP_CHECKPOINTS", "checkpoints"), (runs_dir, "TINYMTP_RUNS", "runs"),
           (results_dir, "TINYMTP_RESULTS", "results")]


@pytest.mark.parametrize(("folder", "variable", "name"), FOLDERS)
def test_folders_are_the_repositorys_unless_the_environment_says_otherwise(folder, variable, name, monkeypatch,
                                                                            tmp_path):
    monkeypatch.delenv(variable, raising=False)
    assert folder() == ROOT / name
    monkeypatch.setenv(variable, str(tmp_path))
    assert folder() == tmp_path
    monkeypatch.setenv(variable, "")  # an empty variable counts as unset
    assert folder() == ROOT / name


def test_the_shipped_model_is_the_default(monkeypatch):
    monkeypatch.delenv("TINYMTP_CHECKPOINTS", raising=False)
    monkeypatch.delenv("TINYMTP_RUNS", raising=False)
    model = learner_model()
    if not model.is_own:  # a developer's own runs/my-model would be picked, rightly
        assert model.path == ROOT / "checkpoints" / "mtp-4head"
        assert (model.path / "config.json").is_file()  # the fallback really exists in the repository
        assert "shipped" in model.describe() and "04_training" in model.describe()


def _save_tiny_model(path: Path) -> None:
    tokenizer = CharTokenizer("ab ")
    config = ModelConfig(vocab_size=tokenizer.vocab_size, n_heads=2, d_model=16, n_layers=1, attn_heads=2,
                       context_length=8)
    save_checkpoint(str(path), MTPModel(config), tokenizer)


def test_the_learners_own_model_is_picked_once_it_holds_a_checkpoint(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYMTP_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("TINYMTP_CHECKPOINTS", str(tmp_path / "checkpoints"))
    shipped = tmp_path / "checkpoints" / "mtp-4head"
    assert learner_model().path == shipped and not learner_model().is_own  # no runs/ at all
    own = tmp_path / "runs" / "my-model"
    own.mkdir(parents=True)
    assert learner_model().path == shipped  # an empty folder is no model
    (own / "config.json").write_text("{}", encoding="utf-8")
    assert learner_model().path == shipped  # a config without weights is no model either
    (own / "config.json").unlink()
    own.rmdir()  # save_checkpoint writes a new folder
    _save_tiny_model(own)
    model = learner_model()
    assert model.path == own and model.is_own
    assert "your own model" in model.describe()
    assert load_checkpoint(str(model.path)).model.config.n_heads == 2
