"""The python-stdlib corpus is one shipped file, the same bytes on every interpreter.

Pinned here: the text's SHA-256; that the shipped checkpoints record it and that `eval` on the
shipped file gives back, digit for digit, the validation losses in their metadata; that a corpus
of the checkpoint's name with other bytes is refused in one line by eval, distill and resume,
with nothing written; and that the code needs no newer Python than pyproject's requires-python
(vermin).
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import subprocess
import sys

import pytest
from conftest import CHECKPOINTS, ROOT, random_model

from tinymtp.cli.main import main
from tinymtp.core.errors import TinyMTPError
from tinymtp.data import corpora
from tinymtp.data.corpora import load_corpus, python_stdlib_text, stories_text
from tinymtp.data.tokenizer import CharTokenizer
from tinymtp.files.checkpoint import check_same_corpus, read_metadata, save_checkpoint

# sha256 of the python-stdlib text as UTF-8, as CPython 3.11.7 builds it (corpora.interpreter_stdlib_text)
PINNED_SHA256 = "c45f0f11788cdc1e0f7270d708230b6a6c7a0f0c4a6a5c2c0ce59da2427f5771"
SHIPPED = sorted(path.name for path in CHECKPOINTS.iterdir() if (path / "config.json").is_file())


def test_the_shipped_text_has_the_pinned_hash_and_size():
    text = python_stdlib_text()
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == PINNED_SHA256 == corpora.STDLIB_SHA256
    assert len(text) == 1_704_068 and text.startswith("# ---- argparse ----\n")
    assert load_corpus("python-stdlib").sha256 == PINNED_SHA256
    packed = ROOT / "tinymtp" / "data" / corpora.STDLIB_FILE
    assert 200_000 < packed.stat().st_size < 500_000  # a few hundred kB in the repository
    notice = (ROOT / "tinymtp" / "data" / "PYTHON_STDLIB_LICENSE.txt").read_text(encoding="utf-8")
    assert "PYTHON SOFTWARE FOUNDATION LICENSE VERSION 2" in notice and corpora.STDLIB_FILE in notice


def test_the_file_and_its_notice_are_package_data():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    entry = re.search(r'^"tinymtp\.data" = \[(.*)\]$', pyproject, re.M)
    assert entry and corpora.STDLIB_FILE in entry.group(1) and "PYTHON_STDLIB_LICENSE.txt" in entry.group(1)


@pytest.mark.skipif(platform.python_implementation() != "CPython" or sys.version_info[:3] != (3, 11, 7),
                    reason="the shipped text is this interpreter's library on CPython 3.11.7 only")
def test_on_cpython_3_11_7_the_interpreters_library_is_the_shipped_text():
    local = load_corpus(corpora.LOCAL_STDLIB)
    assert local.text == python_stdlib_text() and local.sha256 == PINNED_SHA256


def test_a_damaged_or_missing_shipped_file_is_a_one_line_error(monkeypatch):
    python_stdlib_text.cache_clear()
    monkeypatch.setattr(corpora, "STDLIB_SHA256", "0" * 64)
    with pytest.raises(TinyMTPError, match="damaged"):
        python_stdlib_text()
    python_stdlib_text.cache_clear()
    monkeypatch.setattr(corpora, "STDLIB_FILE", "no_such_corpus.txt.xz")
    with pytest.raises(TinyMTPError, match="cannot read the shipped corpus"):
        python_stdlib_text()
    python_stdlib_text.cache_clear()  # the patched values go: the next reader sees the real file


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoints_record_the_hash_and_eval_reproduces_their_losses(name, capsys):
    metadata = read_metadata(str(CHECKPOINTS / name))
    assert metadata["corpus"] == "python-stdlib" and metadata["corpus_sha256"] == PINNED_SHA256
    assert main(["eval", "--checkpoint", str(CHECKPOINTS / name), "--json"]) == 0
    measured = json.loads(capsys.readouterr().out)
    assert measured["next_token_val_loss"] == metadata["next_token_val_loss"]
    assert measured["heads"] == metadata["heads"]  # every head's loss and accuracy, to the digit stored


# --- a corpus that changed since the checkpoint was made --------------------------------------

@pytest.fixture
def changed_corpus(tmp_path):
    """A checkpoint trained (as far as its metadata says) on text.txt, which has since changed."""
    text_file = tmp_path / "text.txt"
    text_file.write_text(stories_text(seed=2, size=20_000), encoding="utf-8")
    corpus = load_corpus(str(text_file))
    model = random_model(vocab_size=corpus.tokenizer.vocab_size, n_heads=2, context_length=32).float()
    checkpoint = tmp_path / "ckpt"
    save_checkpoint(str(checkpoint), model, corpus.tokenizer, {"corpus": str(text_file), "corpus_sha256": corpus.sha256})
    text_file.write_text(corpus.text.replace("happy", "merry"), encoding="utf-8")  # same characters, other text
    return checkpoint, text_file


def run_main(argv, capsys):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr()


@pytest.mark.parametrize("command", [
    ["eval", "--checkpoint", "{ckpt}"],
    ["distill", "--checkpoint", "{ckpt}", "--out", "{out}", "--steps", "1"],
    ["train", "--resume", "{ckpt}", "--corpus", "{text}", "--out", "{out}", "--steps", "1"],
])
def test_a_corpus_with_other_bytes_than_the_checkpoints_is_one_line_and_writes_nothing(
        changed_corpus, command, tmp_path, capsys):
    checkpoint, text_file = changed_corpus
    out = tmp_path / "out"
    argv = [a.format(ckpt=checkpoint, out=out, text=text_file) for a in command]
    code, captured = run_main(argv, capsys)
    assert code == 2 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "is not the text checkpoint" in lines[0] and "SHA-256" in lines[0], captured.err
    assert not out.exists()


def test_the_same_bytes_or_another_name_pass(changed_corpus, tmp_path, capsys):
    checkpoint, text_file = changed_corpus
    metadata = read_metadata(str(checkpoint))
    copy = tmp_path / "renamed.txt"
    copy.write_text(text_file.read_text(encoding="utf-8"), encoding="utf-8")
    check_same_corpus(metadata, load_corpus(str(copy)), str(checkpoint))  # another name: a deliberate choice
    code, captured = run_main(["eval", "--checkpoint", checkpoint, "--corpus", copy], capsys)
    assert code == 0, captured.err
    check_same_corpus({"corpus": str(text_file)}, load_corpus(str(text_file)), "old")  # no hash recorded
    with pytest.raises(TinyMTPError, match="is not the text"):
        check_same_corpus(metadata, load_corpus(str(text_file)), str(checkpoint))


def test_train_records_the_corpus_hash(tmp_path, capsys):
    text_file = tmp_path / "text.txt"
    text_file.write_text(stories_text(seed=3, size=20_000), encoding="utf-8")
    out = tmp_path / "model"
    code, captured = run_main(["train", "--corpus", text_file, "--out", out, "--preset", "micro", "--steps", "2",
                               "--eval-every", "2", "--json"], capsys)
    assert code == 0, captured.err
    assert read_metadata(str(out))["corpus_sha256"] == hashlib.sha256(text_file.read_bytes()).hexdigest()
    vocab = json.loads((out / "config.json").read_text(encoding="utf-8"))["vocab"]
    assert CharTokenizer(vocab) == load_corpus(str(text_file)).tokenizer


# --- the minimum Python --------------------------------------------------------------------

def test_vermin_finds_no_newer_minimum_python_than_requires_python():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")  # tomllib is 3.11+: a pattern instead
    declared = tuple(int(p) for p in re.search(r'^requires-python = ">=(\d+)\.(\d+)"$', pyproject, re.M).groups())
    done = subprocess.run([sys.executable, "-c", "import sys, vermin; sys.exit(vermin.main())", "--no-tips",
                           "--no-parse-comments", "tinymtp", "app", "benchmarks", "tests"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    found = re.search(r"^Minimum required versions: (\d+)\.(\d+)$", done.stdout, re.M)
    assert done.returncode == 0 and found, done.stdout + done.stderr
    assert tuple(int(p) for p in found.groups()) <= declared, done.stdout
