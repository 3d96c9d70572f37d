"""Training, checkpoints and the train/eval CLI, including every bad input named in the issue."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import ROOT, assert_one_line_error, run_cli

from tinymtp.core.errors import TinyMTPError
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.data.corpora import load_corpus
from tinymtp.files.checkpoint import load_checkpoint, save_checkpoint
from tinymtp.training.progress import TrainProgressBar
from tinymtp.training.train import TrainConfig, build_optimizer, check_training, train


def micro_run(corpus, steps=12, stop_at=None, resume=None, seed=5):
    model_config = ModelConfig.from_preset("micro", vocab_size=corpus.tokenizer.vocab_size, n_heads=3)
    cfg = TrainConfig(steps=steps, batch_size=8, eval_every=6, eval_batches=2, seed=seed)
    on_step = (lambda info: info.step >= stop_at) if stop_at else None
    return train(model_config, cfg, corpus, on_step=on_step, resume=resume), cfg


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_same_seed_gives_identical_weights_and_another_seed_does_not(small_text_file):
    corpus = load_corpus(str(small_text_file))
    first, _ = micro_run(corpus)
    second, _ = micro_run(corpus)
    other, _ = micro_run(corpus, seed=6)
    assert same_weights(first.model, second.model)
    assert not same_weights(first.model, other.model)


def test_training_lowers_every_heads_loss_and_reports_each(small_text_file):
    corpus = load_corpus(str(small_text_file))
    result, _ = micro_run(corpus, steps=40)
    first, last = result.history["train"][0], result.history["train"][-1]
    assert len(first) == 1 + 3  # step, then one loss per head
    assert all(b < a for a, b in zip(first[1:], last[1:]))
    heads = result.final_eval["heads"]
    assert [h["head"] for h in heads] == [1, 2, 3]
    assert all(0 <= h["val_accuracy"] <= 1 for h in heads)
    assert [e["step"] for e in result.history["eval"]] == [6, 12, 18, 24, 30, 36, 40]


def test_stop_then_resume_gives_the_same_weights_as_one_run(small_text_file, tmp_path):
    corpus = load_corpus(str(small_text_file))
    straight, _ = micro_run(corpus, steps=12)
    stopped, cfg = micro_run(corpus, steps=12, stop_at=5)
    assert stopped.interrupted and stopped.steps == 5
    from tinymtp.training.train import training_metadata

    save_checkpoint(str(tmp_path / "half"), stopped.model, corpus.tokenizer,
                    training_metadata(stopped, corpus, cfg), stopped.optimizer_tensors)
    half = load_checkpoint(str(tmp_path / "half"), with_optimizer=True)
    resumed, _ = micro_run(corpus, steps=12, resume=half)
    assert resumed.steps == 12
    assert same_weights(resumed.model, straight.model)


def test_save_load_round_trip_gives_identical_logits(trained_checkpoint):
    ckpt = load_checkpoint(str(trained_checkpoint))
    again_dir = trained_checkpoint.parent / "again"
    save_checkpoint(str(again_dir), ckpt.model, ckpt.tokenizer, ckpt.metadata)
    again = load_checkpoint(str(again_dir))
    x = torch.randint(0, ckpt.tokenizer.vocab_size, (2, 20))
    assert torch.equal(ckpt.model(x).logits, again.model(x).logits)
    assert again.tokenizer == ckpt.tokenizer
    assert sorted(os.listdir(again_dir)) == ["config.json", "model.safetensors"]
    assert not [n for n in os.listdir(again_dir.parent) if n.endswith(".tmp")]


def test_no_pickle_in_a_checkpoint(trained_checkpoint):
    for name in os.listdir(trained_checkpoint):
        data = (trained_checkpoint / name).read_bytes()
        assert not data.startswith(b"\x80") and b"PK\x03\x04" not in data[:4], name


def broken_copy(src, dst, edit):
    import shutil

    shutil.copytree(src, dst)
    edit(dst)
    return dst


@pytest.mark.parametrize("damage, words", [
    (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:300]), "truncated"),
    (lambda d: (d / "model.safetensors").write_bytes(b"\x00" * 64), "corrupt"),
    (lambda d: (d / "config.json").write_text("{not json"), "corrupt"),
    (lambda d: (d / "model.safetensors").unlink(), "missing"),
    (lambda d: (d / "config.json").write_text(
        (d / "config.json").read_text().replace('"vocab": "', '"vocab": "\\u00a7')), "vocabulary"),
])
def test_damaged_checkpoints_get_one_line_errors(trained_checkpoint, tmp_path, cli, damage, words):
    bad = broken_copy(trained_checkpoint, tmp_path / "bad", damage)
    with pytest.raises(TinyMTPError, match=words):
        load_checkpoint(str(bad))
    assert_one_line_error(cli("eval", "--checkpoint", bad, "--corpus", "stories"))


def test_checkpoint_from_another_model_size_is_refused(trained_checkpoint, tmp_path):
    def other_size(d):
        config = json.loads((d / "config.json").read_text())
        config["model"]["d_model"] = 64
        (d / "config.json").write_text(json.dumps(config))

    bad = broken_copy(trained_checkpoint, tmp_path / "bigger", other_size)
    with pytest.raises(TinyMTPError, match="does not match"):
        load_checkpoint(str(bad))


def test_missing_checkpoint_directory(tmp_path, cli):
    assert_one_line_error(cli("eval", "--checkpoint", tmp_path / "nowhere"), "not found")


@pytest.mark.slow  # real `python -m tinymtp train` and `eval` processes
def test_cli_train_then_eval_json(small_text_file, tmp_path):
    """Real `python -m tinymtp train` and `eval` processes (the other CLI tests run main() in this one)."""
    out = tmp_path / "cli-model"
    proc = run_cli("train", "--corpus", small_text_file, "--preset", "micro", "--heads", "2", "--steps", "6",
                   "--batch-size", "4", "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["steps"] == 6 and len(summary["heads"]) == 2
    proc = run_cli("eval", "--checkpoint", out, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["next_token_val_loss"] == result["heads"][0]["val_loss"]
    assert [h["head"] for h in result["heads"]] == [1, 2]
    assert {"head", "val_loss", "val_accuracy"} <= set(result["heads"][0])


@pytest.mark.parametrize("args, words", [
    (["--minutes", "0"], "minutes"), (["--minutes", "-1"], "minutes"), (["--steps", "0"], "steps"),
    (["--steps", "-5"], "steps"), (["--heads", "0"], "heads"), (["--heads", "-2"], "heads"),
])
def test_cli_refuses_out_of_range_numbers(tmp_path, cli, args, words):
    proc = cli("train", "--corpus", "stories", "--out", tmp_path / "m", *args)
    assert_one_line_error(proc, words)
    assert not (tmp_path / "m").exists()


def write(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make, words", [
    (lambda d: d / "missing.txt", "not found"),
    (lambda d: write(d / "empty.txt", b""), "empty"),
    (lambda d: write(d / "binary.bin", bytes(range(256)) * 10), "binary"),
    (lambda d: write(d / "latin1.txt", "café ".encode("latin-1") * 200), "UTF-8"),
    (lambda d: write(d / "short.txt", b"too short to train on\n" * 3), "too short"),
])
def test_cli_train_refuses_bad_corpora_and_leaves_nothing_behind(tmp_path, cli, make, words):
    corpus = make(tmp_path)
    out = tmp_path / "never"
    proc = cli("train", "--corpus", corpus, "--out", out, "--steps", "5")
    assert_one_line_error(proc, words)
    assert not out.exists()
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


@pytest.mark.slow  # a real process, interrupted
def test_ctrl_c_saves_a_usable_checkpoint(small_text_file, tmp_path):
    out = tmp_path / "interrupted"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tinymtp", "train", "--corpus", str(small_text_file), "--preset", "micro",
         "--steps", "100000", "--batch-size", "4", "--eval-every", "50", "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    seen = ""
    while time.time() < deadline and not re.search(r"\b[1-9]\d*/100000", seen):  # a step is done
        seen += os.read(proc.stderr.fileno(), 4096).decode(errors="replace")
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, stdout
    assert "stopped early" in stdout
    ckpt = load_checkpoint(str(out), with_optimizer=True)
    assert ckpt.metadata["interrupted"] is True and ckpt.metadata["steps"] > 0
    assert ckpt.optimizer_tensors is not None


def test_a_saved_checkpoint_gets_the_usual_permissions_not_the_temporary_folders(tmp_path):
    import os
    import stat

    from tinymtp.core.model import ModelConfig, MTPModel
    from tinymtp.data.tokenizer import CharTokenizer
    from tinymtp.files.checkpoint import save_checkpoint

    tokenizer = CharTokenizer.from_text("abc")
    model = MTPModel(ModelConfig.from_preset("micro", vocab_size=tokenizer.vocab_size, n_heads=2))
    umask = os.umask(0o022)
    try:
        path = save_checkpoint(str(tmp_path / "ckpt"), model, tokenizer)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o755
    assert {stat.S_IMODE(os.stat(os.path.join(path, f)).st_mode) for f in os.listdir(path)} == {0o644}


def test_check_training_fails_before_any_work_and_the_bar_waits_for_the_first_step(capsys):
    corpus = load_corpus("stories")
    too_long = ModelConfig.from_preset("micro", vocab_size=corpus.tokenizer.vocab_size, n_heads=3,
                                       context_length=len(corpus.val_text))
    with pytest.raises(TinyMTPError, match="too short"):
        check_training(too_long, TrainConfig(steps=1), corpus)
    with pytest.raises(TinyMTPError, match="unknown device"):
        check_training(ModelConfig.from_preset("micro", vocab_size=corpus.tokenizer.vocab_size),
                       TrainConfig(steps=1, device="tpu"), corpus)
    bar = TrainProgressBar(TrainConfig(steps=5))
    bar.close()
    assert bar.bar is None and capsys.readouterr().err == ""  # no step ran: nothing was drawn


def test_clipping_and_adamw_settings_are_train_config_fields():
    model = MTPModel(ModelConfig.from_preset("micro", vocab_size=11))
    cfg = TrainConfig(steps=1, betas=(0.8, 0.95), weight_decay=0.2)
    groups = build_optimizer(model, cfg).param_groups
    assert all(g["betas"] == (0.8, 0.95) for g in groups) and groups[0]["weight_decay"] == 0.2
    assert TrainConfig().betas == (0.9, 0.99) and TrainConfig().grad_clip == 1.0
    with pytest.raises(TinyMTPError, match="grad_clip"):
        TrainConfig(grad_clip=0)
