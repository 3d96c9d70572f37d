"""Tree decoding from the outside: `generate --mode tree`, one-line errors, the benchmark and the calibration."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch
from conftest import CHECKPOINTS, random_model

from tinymtp.analysis.speedup import BenchPlan
from tinymtp.analysis.tree_calibrate import count_paths, expected_tokens_per_forward, greedy_ranks, grow_tree
from tinymtp.cli import main
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.data.tokenizer import CharTokenizer
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.decoding.tree import DEFAULT_PATHS, make_tree
from tinymtp.files.checkpoint import save_checkpoint

VOCAB = "\n abcdefghij(),:="


pytestmark = pytest.mark.usefixtures("one_thread")  # `generate` sets one thread; conftest puts the old number back


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree-cli")
    torch.manual_seed(0)
    for name, heads in (("mtp", 4), ("ntp", 1)):
        model = MTPModel(ModelConfig.from_preset("micro", vocab_size=len(VOCAB), n_heads=heads))
        save_checkpoint(str(root / name), model, CharTokenizer(VOCAB), {"corpus": "python-stdlib"})
    return root


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_generate_tree_json(checkpoints, capsys):
    code, out, err = run(capsys, "generate", "--checkpoint", checkpoints / "mtp", "--prompt", "def f(a):",
                         "--mode", "tree", "--tree", "2,2,1", "--max-new-tokens", "30", "--json", "--trace")
    assert code == 0, err
    data = json.loads(out)
    assert len(data["tokens"]) == 30 and data["settings"]["tree"] == "[[0],[1],[0,0],[0,1],[1,0],[1,1],[0,0,0]," \
        "[0,1,0],[1,0,0],[1,1,0]]"
    assert [a["label"] for a in data["summary"]["acceptance_per_head"]] == [f"accepted depth {d}" for d in (1, 2, 3)]
    assert all(len(r["tree"]["nodes"]) == len(r["tree"]["mask"]) for r in data["rounds"] if r["tree"])
    code, out, err = run(capsys, "generate", "--checkpoint", checkpoints / "mtp", "--prompt", "def f(a):",
                         "--mode", "greedy", "--max-new-tokens", "30", "--json")
    assert json.loads(out)["tokens"] == data["tokens"]


def test_generate_tree_plain_trace(checkpoints, capsys):
    code, out, err = run(capsys, "generate", "--checkpoint", checkpoints / "mtp", "--prompt", "abc", "--mode", "tree",
                         "--max-new-tokens", "12", "--trace")
    assert code == 0 and "tree of" in out and "accepted depth 1" in err


@pytest.mark.parametrize("ckpt,args,words", [
    ("mtp", ["--mode", "tree", "--tree", "[[1,0]]"], "no parent"),
    ("mtp", ["--mode", "tree", "--tree", "bushy"], "cannot read the tree shape"),
    ("mtp", ["--mode", "tree", "--tree", "2,2", "--draft-len", "1"], "2 deep"),
    ("mtp", ["--mode", "greedy", "--tree", "2,2"], "--tree) applies only to tree mode"),
    ("ntp", ["--mode", "tree"], "at least 2 heads"),
])
def test_generate_tree_errors_are_one_line(checkpoints, capsys, ckpt, args, words):
    code, out, err = run(capsys, "generate", "--checkpoint", checkpoints / ckpt, "--prompt", "abc", *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err and "Traceback" not in err


def test_measure_decoding_with_trees():
    from tinymtp.analysis.bench_decode import format_table
    from tinymtp.analysis.speedup import heldout_prompts, measure_decoding
    from tinymtp.data.corpora import load_corpus

    tok = load_corpus("python-stdlib").tokenizer
    torch.manual_seed(0)
    model = MTPModel(ModelConfig.from_preset("micro", vocab_size=tok.vocab_size, n_heads=3)).eval()
    result = measure_decoding(model, tok, heldout_prompts(tok, count=2, length=24), BenchPlan(max_new_tokens=30, repeats=1, draft_lens=(2,), trees=(None, "3,1")))
    default = make_tree(DEFAULT_PATHS).cut(2).size  # the default tree, cut to heads 2..3
    assert [e["nodes"] for e in result["tree_sweep"]] == [default, 7]
    assert result["modes"]["tree"] is result["tree_sweep"][0] and result["identical"] is True
    assert result["tree_speedup"] == result["modes"]["tree"]["speedup"]
    assert [t["nodes"] for t in result["forward_costs"]["trees"]] == [default, 7]
    assert "tree N=7" in format_table(result)


def test_calibration_counts_and_grows_the_best_tree():
    rows = [(0, 0, 0), (0, 0, 1), (1, 0, 0), (0, 2, 9), (0, 0, 0)]
    counts = count_paths(rows, max_rank=8)
    assert counts[(0,)] == 4 and counts[(0, 0)] == 3 and counts[(0, 0, 0)] == 2 and counts[(1,)] == 1
    assert (0, 2, 9) not in counts and counts[(0, 2)] == 1
    tree = grow_tree(counts, size=4)
    assert tree.paths == ((0,), (0, 0), (0, 0, 0))
    assert expected_tokens_per_forward(tree, counts, len(rows)) == pytest.approx(1 + 9 / 5)
    assert grow_tree(Counter({(0,): 2, (1,): 2, (0, 1): 2}), 3).paths == ((0,), (1,))  # ties: shallower first


def test_greedy_ranks_match_the_heads_guesses():
    model = random_model(vocab_size=6, n_heads=3, context_length=10, seed=2)
    prompt = [1, 2, 3]
    rows = greedy_ranks(model, [prompt], max_new_tokens=20)
    from tinymtp.decoding.decode import decode_ids

    text = prompt + decode_ids(model, prompt, DecodeSettings("greedy", 20)).tokens
    assert len(rows) == len(text) - 1 - 2 - (len(prompt) - 1) and all(len(r) == 2 for r in rows)
    with torch.no_grad():
        logits = model(torch.tensor([text[:5]])).logits[0, 2]  # position 2 (the prompt's last): (n, V)
    for d in (1, 2):  # rank of greedy's token at depth d among head d+1's guesses
        assert rows[0][d - 1] == int((logits[d] > logits[d, text[3 + d]]).sum())


@pytest.mark.slow  # the whole `bench tree --quick` on the shipped model
def test_bench_tree_quick_json(capsys):
    assert (CHECKPOINTS / "mtp-4head" / "config.json").exists()  # shipped with the repository
    code, out, err = run(capsys, "bench", "tree", "--quick", "--json")
    assert code == 0, err
    data = json.loads(out)
    calibration = data["calibration"]
    assert [t["nodes"] for t in calibration["trees"]] == [e["nodes"] for e in data["tree_sweep"]] == \
        [4, 6, 8, 12, 16, 32, 64]
    forecasts = [t["forecast"] for t in calibration["trees"]]
    assert forecasts == sorted(forecasts) and calibration["chain_forecast"] == forecasts[0]  # 4 nodes: the chain
    assert data["identical"] is True and data["fastest_tree"]["nodes"] > 4
