"""`python -m tinymtp generate`: one JSON object with --json, one-line errors, no tracebacks."""

from __future__ import annotations

import json

import pytest
from conftest import assert_one_line_error, run_cli

from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.data.tokenizer import CharTokenizer
from tinymtp.files.checkpoint import save_checkpoint

VOCAB = "\n abcdefghij(),:="


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A random 4-head micro model, a draft model with its vocabulary, and one with another vocabulary."""
    root = tmp_path_factory.mktemp("decode-cli")
    tokenizer = CharTokenizer(VOCAB)
    for name, heads, vocab in (("mtp", 4, VOCAB), ("draft", 1, VOCAB), ("other", 1, VOCAB + "xyz")):
        model = MTPModel(ModelConfig.from_preset("micro", vocab_size=len(vocab), n_heads=heads))
        save_checkpoint(str(root / name), model, CharTokenizer(vocab) if vocab != VOCAB else tokenizer,
                        {"corpus": "python-stdlib"})
    return root


@pytest.mark.slow  # a real `python -m tinymtp generate`
def test_generate_json_is_one_object_with_the_keys(checkpoints):
    """A real `python -m tinymtp generate` (the other generate tests run main() in this process)."""
    proc = run_cli("generate", "--checkpoint", checkpoints / "mtp", "--prompt", "def f(a):", "--mode",
                   "speculative", "--max-new-tokens", "40", "--json")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 1 and proc.stderr == ""  # no warning, no bar, from any library
    data = json.loads(proc.stdout)
    assert {"text", "tokens", "summary"} <= set(data) and "rounds" not in data
    assert len(data["tokens"]) == 40 and len(data["text"]) == 40
    assert {"forwards", "tokens_per_forward", "acceptance_per_head", "seconds"} <= set(data["summary"])
    assert [a["head"] for a in data["summary"]["acceptance_per_head"]] == [2, 3, 4]


def test_generate_json_trace_has_every_round(checkpoints, cli):
    proc = cli("generate", "--checkpoint", checkpoints / "mtp", "--prompt", "abc", "--mode", "draft-model",
               "--draft-checkpoint", checkpoints / "draft", "--draft-len", "2", "--temperature", "0.7",
               "--max-new-tokens", "20", "--json", "--trace")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert len(data["rounds"]) == data["summary"]["forwards"]
    assert sum(len(r["committed"]) for r in data["rounds"]) == 20
    assert {"checks", "fed", "accepted", "cache_before", "cache_after", "seconds"} <= set(data["rounds"][1])


def test_generate_plain_prints_prompt_and_continuation(checkpoints, cli):
    proc = cli("generate", "--checkpoint", checkpoints / "mtp", "--prompt", "abc", "--max-new-tokens", "12",
               "--mode", "sample", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("abc") and len(proc.stdout.rstrip("\n")) >= 3
    assert "tokens/forward" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args,words", [
    (["--prompt", ""], ["prompt is empty"]),
    (["--prompt", "abcQ"], ["not in the model's vocabulary", "'Q'"]),
    (["--prompt", "abc", "--draft-len", "0"], ["--draft-len"]),
    (["--prompt", "abc", "--draft-len", "8", "--mode", "speculative"], ["draft_len", "between 1 and 3"]),
    (["--prompt", "abc", "--heads", "3", "--mode", "speculative"], ["--heads is now --draft-len", "--draft-len 2"]),
    (["--prompt", "abc", "--mode", "draft-model", "--draft-checkpoint", "/nonexistent/draft"], ["draft"]),
    (["--prompt", "abc", "--mode", "draft-model", "--draft-checkpoint", "OTHER"], ["vocabulary"]),
    (["--prompt", "abc", "--top-k", "999", "--mode", "sample"], ["top-k"]),
])
def test_generate_bad_input_is_one_line_error(checkpoints, cli, args, words):
    args = [str(checkpoints / "other") if a == "OTHER" else a for a in args]
    proc = cli("generate", "--checkpoint", checkpoints / "mtp", *args)
    assert_one_line_error(proc, *words)
    assert proc.stdout == ""


def test_generate_missing_checkpoint_is_one_line_error(tmp_path, cli):
    assert_one_line_error(cli("generate", "--checkpoint", tmp_path / "nope", "--prompt", "a"), "not found")


def test_bench_decode_quick_json(checkpoints):
    proc = run_cli("bench", "decode", "--checkpoint", checkpoints / "mtp", "--quick", "--json")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 1
    data = json.loads(proc.stdout)
    assert {"modes", "rows", "speedup", "tokens_per_forward", "draft_len_sweep", "identical", "sampled",
            "reference"} <= set(data)
    assert {"greedy", "speculative", "sample", "speculative-sample"} <= set(data["modes"])
    for row in data["rows"]:  # the --json contract: every row names its mode, temperature and text
        assert {"mode", "temperature", "tokens_per_second", "tokens_per_forward", "acceptance_per_head", "speedup",
                "distinct_8", "draft_len"} <= set(row)
    assert data["identical"] is True
    assert [e["draft_len"] for e in data["draft_len_sweep"]] == [1, 2, 3]
    assert data["modes"]["greedy"]["tokens_per_forward"] == 1.0 and data["modes"]["greedy"]["temperature"] is None
    sampled = [r for r in data["rows"] if r["temperature"] is not None]
    assert [(r["mode"], r["temperature"]) for r in sampled] == [  # plain sampling first: the baseline
        ("sample", 1.0), ("speculative-sample", 1.0), ("lookup-sample", 1.0),
        ("sample", 0.7), ("speculative-sample", 0.7), ("lookup-sample", 0.7)]
    assert all(r["standard_error"] is not None and r["runs"] == data["prompts"] * 2 for r in sampled)  # 2 seeds
    assert data["sampled"]["temperature"] == 1.0 and 0 <= data["reference"]["distinct_8"] <= 1


def test_bench_decode_takes_more_repeats_and_refuses_zero(checkpoints):
    proc = run_cli("bench", "decode", "--checkpoint", checkpoints / "mtp", "--quick", "--repeats", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["repeats"] == 2
    assert_one_line_error(run_cli("bench", "decode", "--quick", "--repeats", "0"), "--repeats")
    assert_one_line_error(run_cli("bench", "decode", "--quick", "--seeds", "0"), "--seeds")
    for bad in ("0", "-1", "nan", "1,x"):
        assert_one_line_error(run_cli("bench", "decode", "--quick", "--temperatures", bad), "--temperatures")


def test_bench_decode_draft_len_compares_models_like_for_like(checkpoints):
    """--draft-len N: every speculative row drafts at most N tokens (a 5-head model against a 4-head one)."""
    proc = run_cli("bench", "decode", "--checkpoint", checkpoints / "mtp", "--quick", "--json", "--draft-len", "2",
                   "--temperatures", "1")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [e["draft_len"] for e in data["draft_len_sweep"]] == [1, 2]
    assert [r["draft_len"] for r in data["rows"] if r["mode"] == "speculative-sample"] == [2]
    assert_one_line_error(run_cli("bench", "decode", "--checkpoint", checkpoints / "mtp", "--quick",
                                  "--draft-len", "9"), "--draft-len 9: this 4-head model drafts at most 3")
