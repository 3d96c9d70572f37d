"""Writes never destroy what tinymtp did not create: every write path refuses a folder of someone's
files and an existing output without --overwrite (every byte left in place), replaces its own
output when asked, survives a process killed in the middle of saving, and reports a failed write
in one line."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import assert_one_line_error

from tinymtp.core.errors import TinyMTPError
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.data.tokenizer import CharTokenizer
from tinymtp.files import safe_write
from tinymtp.files.checkpoint import load_checkpoint, save_checkpoint


def snapshot(folder: Path) -> dict:
    """Every file under `folder` with a digest of its bytes, and every folder, to compare before and after
    (digests, not bytes: a failing comparison of weights would print megabytes)."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def someones_folder(root: Path) -> Path:
    """A real folder of someone's work: notes, a sub-folder, a file named like ours."""
    work = root / "mywork"
    (work / "chapters").mkdir(parents=True)
    (work / "thesis.txt").write_text("three years of notes\n")
    (work / "chapters" / "one.md").write_text("# One\n")
    (work / "config.json").write_text('{"theme": "dark"}\n')
    return work


def micro_model(seed: int) -> tuple:
    tokenizer = CharTokenizer.from_text("abcdef ")
    torch.manual_seed(seed)
    return MTPModel(ModelConfig.from_preset("micro", vocab_size=tokenizer.vocab_size, n_heads=2)), tokenizer


TRAIN = ("train", "--corpus", "stories", "--steps", "2", "--eval-every", "1", "--preset", "micro", "--batch-size", "2")


def test_train_refuses_a_folder_of_someones_files_and_leaves_every_byte(tmp_path, cli):
    work = someones_folder(tmp_path)
    before = snapshot(work)
    assert_one_line_error(cli(*TRAIN, "--out", work), "refusing", str(work))
    assert_one_line_error(cli(*TRAIN, "--out", work, "--overwrite"), "refusing", "not a checkpoint")
    assert snapshot(work) == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_train_refuses_a_file_and_a_repository_like_folder(tmp_path, cli):
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    assert_one_line_error(cli(*TRAIN, "--out", notes, "--overwrite"), "refusing", "file")
    assert notes.read_text() == "keep me"
    repo = tmp_path / "repo"  # `--out .` from a repository's root
    (repo / "src").mkdir(parents=True)
    (repo / "README.md").write_text("readme")
    before = snapshot(repo)
    assert_one_line_error(cli(*TRAIN, "--out", ".", "--overwrite", cwd=repo), "refusing")
    assert snapshot(repo) == before


def test_train_replaces_its_own_checkpoint_only_with_overwrite(tmp_path, cli):
    out = tmp_path / "model"
    first = cli(*TRAIN, "--out", out, "--seed", "1", "--json")
    assert first.returncode == 0, first.stderr
    before = snapshot(out)
    assert_one_line_error(cli(*TRAIN, "--out", out, "--seed", "2"), "already holds a checkpoint", "--overwrite")
    assert snapshot(out) == before
    again = cli(*TRAIN, "--out", out, "--seed", "2", "--overwrite", "--json")
    assert again.returncode == 0, again.stderr
    assert snapshot(out) != before and load_checkpoint(str(out)).metadata["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary litter


def test_a_checkpoint_folder_holding_other_files_is_not_replaced(tmp_path):
    model, tokenizer = micro_model(0)
    path = save_checkpoint(str(tmp_path / "ckpt"), model, tokenizer)
    Path(path, "my-notes.txt").write_text("results of the week")
    before = snapshot(tmp_path)
    with pytest.raises(TinyMTPError, match="my-notes.txt"):
        save_checkpoint(path, model, tokenizer, overwrite=True)
    assert snapshot(tmp_path) == before


def test_an_empty_folder_is_free_to_use(tmp_path):
    (tmp_path / "empty").mkdir()
    model, tokenizer = micro_model(0)
    save_checkpoint(str(tmp_path / "empty"), model, tokenizer)
    assert load_checkpoint(str(tmp_path / "empty")).model.config == model.config


def test_experiment_results_are_refused_before_any_training(tmp_path, cli, monkeypatch):
    def refused_before_any_run(*args, **kwargs):
        raise AssertionError("an experiment ran before the refusal")

    theirs = tmp_path / "induction.json"
    theirs.write_text('{"my": "data"}')
    with monkeypatch.context() as patch:  # refused up front, not after the runs
        patch.setattr("tinymtp.experiments.command.run_experiment", refused_before_any_run)
        assert_one_line_error(cli("experiment", "induction", "--smoke", "--out", tmp_path, "--overwrite"),
                              "refusing", "induction")
    assert theirs.read_text() == '{"my": "data"}'
    theirs.unlink()
    done = cli("experiment", "induction", "--smoke", "--seeds", "1", "--out", tmp_path, "--json")
    assert done.returncode == 0, done.stderr
    before = snapshot(tmp_path)
    with monkeypatch.context() as patch:
        patch.setattr("tinymtp.experiments.command.run_experiment", refused_before_any_run)
        assert_one_line_error(cli("experiment", "induction", "--smoke", "--out", tmp_path), "--overwrite")
    assert snapshot(tmp_path) == before
    again = cli("experiment", "induction", "--smoke", "--seeds", "1", "--out", tmp_path, "--overwrite", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "induction.json").read_text())["date"] == json.loads(again.stdout)["date"]


# A process that imports torch once, then on each "save" forks a child that replaces the checkpoint
# again and again until the test kills it (SIGKILL, mid-save at some point), and on "reap" waits for
# that child: one torch import for all the kills instead of one per kill.
KILLER = """
import os, sys, torch
from tinymtp.files.checkpoint import save_checkpoint
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.data.tokenizer import CharTokenizer
tokenizer = CharTokenizer.from_text("abcdef ")
models = []
for seed in (1, 2):
    torch.manual_seed(seed)
    models.append(MTPModel(ModelConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size, n_heads=4)))
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "reap":
        os.waitpid(child, 0)
        print("reaped", flush=True)
        continue
    child = os.fork()
    if child == 0:
        i = 0
        while True:  # replace the checkpoint again and again until killed
            save_checkpoint(sys.argv[1], models[i % 2], tokenizer, {"seed": 1 + i % 2}, overwrite=True)
            i += 1
    print(child, flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("atomic_swap", [True, False], ids=["exchange", "rename-aside"])
def test_a_process_killed_while_saving_leaves_a_whole_checkpoint(tmp_path, atomic_swap):
    path = tmp_path / "ckpt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread: nothing but the main thread to fork
    script = KILLER if atomic_swap else KILLER.replace("import os, sys, torch", (
        "import os, sys, torch\nimport tinymtp.files.safe_write as sw\nsw._exchange = lambda a, b: False"))
    vocab_size = CharTokenizer.from_text("abcdef ").vocab_size
    expected = {}
    for seed in (1, 2):  # the two models the killed process saves in turn
        torch.manual_seed(seed)
        expected[seed] = MTPModel(ModelConfig.from_preset("tiny", vocab_size=vocab_size, n_heads=4)).state_dict()
    killer = subprocess.Popen([sys.executable, "-c", script, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, env=env, text=True)
    saver = None
    try:
        assert killer.stdout.readline().strip() == "ready"
        for delay in (0.3, 0.45, 0.6, 0.8, 1.1):
            killer.stdin.write("save\n")
            killer.stdin.flush()
            saver = int(killer.stdout.readline())
            time.sleep(delay)
            os.kill(saver, signal.SIGKILL)
            killer.stdin.write("reap\n")
            killer.stdin.flush()
            assert killer.stdout.readline().strip() == "reaped"  # the saver is gone
            ckpt = load_checkpoint(str(path))  # loadable: the old checkpoint or the new one, whole
            seed = ckpt.metadata["seed"]
            for name, tensor in ckpt.model.state_dict().items():
                assert torch.equal(tensor, expected[seed][name]), name
    finally:  # a failure half-way leaves no saver writing forever
        if saver is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(saver, signal.SIGKILL)
        killer.kill()
        killer.wait()
    model, tokenizer = micro_model(0)
    save_checkpoint(str(path), model, tokenizer, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # the next save cleaned the litter


def test_a_save_killed_between_the_two_renames_is_recovered(tmp_path):
    model, tokenizer = micro_model(0)
    path = save_checkpoint(str(tmp_path / "ckpt"), model, tokenizer, {"seed": 0})
    os.rename(path, safe_write.aside_name(path))  # what a kill after the first rename leaves
    assert load_checkpoint(path).metadata["seed"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_a_full_disk_leaves_the_old_checkpoint_and_no_litter(tmp_path, monkeypatch):
    model, tokenizer = micro_model(0)
    path = save_checkpoint(str(tmp_path / "ckpt"), model, tokenizer, {"seed": 0})
    before = snapshot(tmp_path)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("tinymtp.files.checkpoint.save_file", disk_full)
    other, _ = micro_model(1)
    with pytest.raises(TinyMTPError, match="No space left on device"):
        save_checkpoint(path, other, tokenizer, {"seed": 1}, overwrite=True)
    assert snapshot(tmp_path) == before


def test_a_failed_write_from_the_cli_is_one_line(tmp_path, cli):
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        target = locked / "model"
    else:  # root writes through read-only modes; /proc refuses new folders even to root
        target = Path("/proc/tinymtp-test/model")
    assert_one_line_error(cli(*TRAIN, "--out", target), "could not write", str(target))


def test_a_folder_created_by_someone_else_during_the_save_is_never_replaced(tmp_path):
    model, tokenizer = micro_model(0)
    target = tmp_path / "shared-name"

    def fill_while_another_server_saves(folder):  # another process takes the name mid-save
        (target).mkdir()
        (target / "their-model.txt").write_text("theirs")
        Path(folder, "config.json").write_text("{}")

    with pytest.raises(TinyMTPError, match="created by someone else"):
        safe_write.write_folder(str(target), fill_while_another_server_saves)
    assert snapshot(target) == {"their-model.txt": hashlib.sha256(b"theirs").hexdigest()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared-name"]
