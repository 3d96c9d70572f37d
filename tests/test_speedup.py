"""The decoding benchmark's library function: held-out prompts and `measure_decoding`."""

from __future__ import annotations

import pytest
import torch

from tinymtp.analysis.bench_decode import format_table
from tinymtp.analysis.repetition import pooled_statistics
from tinymtp.analysis.speedup import BenchPlan, heldout_prompts, measure_decoding, standard_error
from tinymtp.core.errors import TinyMTPError, UnknownCharactersError
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.data.corpora import load_corpus
from tinymtp.data.tokenizer import CharTokenizer
from tinymtp.decoding.decode import decode_ids
from tinymtp.decoding.settings import DecodeSettings


@pytest.fixture(scope="module")
def stdlib():
    return load_corpus("python-stdlib")


def test_heldout_prompts_come_from_the_validation_text(stdlib):
    prompts = heldout_prompts(stdlib.tokenizer, count=16, length=40)
    assert len(prompts) == 16 and len(set(prompts)) == 16
    assert all(len(p) == 40 and p in stdlib.val_text for p in prompts)
    assert heldout_prompts(stdlib.tokenizer, count=16, length=40) == prompts  # deterministic


def test_heldout_prompts_skip_characters_outside_the_vocabulary(stdlib):
    small = CharTokenizer("".join(sorted(set(stdlib.tokenizer.vocab) - set("_()"))))
    prompts = heldout_prompts(small, count=8, length=32)
    assert prompts and all(not small.unknown_characters(p) for p in prompts)


def test_measure_decoding_reports_every_mode(stdlib):
    torch.manual_seed(0)
    tok = stdlib.tokenizer
    model = MTPModel(ModelConfig.from_preset("micro", vocab_size=tok.vocab_size, n_heads=3)).eval()
    draft = MTPModel(ModelConfig.from_preset("micro", vocab_size=tok.vocab_size, n_heads=1)).eval()
    calls = []
    threads = torch.get_num_threads()
    prompts = heldout_prompts(tok, count=2, length=24)
    plan = BenchPlan(max_new_tokens=40, repeats=2, draft_tokens=2)
    result = measure_decoding(model, tok, prompts, plan, draft, on_progress=lambda done, total: calls.append((done, total)))
    assert torch.get_num_threads() == threads  # restored
    assert calls[-1] == (2 * 2 * 4, 2 * 2 * 4)  # repeats x prompts x (greedy, draft_len 1, 2, draft model)
    assert set(result["modes"]) == {"greedy", "speculative", "draft-model"}
    assert [e["draft_len"] for e in result["draft_len_sweep"]] == [1, 2]
    assert [e["name"] for e in result["rows"]] == ["greedy", "speculative draft_len=1", "speculative draft_len=2",
                                                   "draft-model"]
    assert result["identical"] is True and result["sampled"] is None
    assert result["speedup"] == result["modes"]["speculative"]["speedup"] > 0
    assert result["tokens_per_forward"] == result["modes"]["speculative"]["tokens_per_forward"]
    greedy = result["modes"]["greedy"]
    assert greedy["tokens_per_forward"] == 1.0 and greedy["speedup"] == 1.0 and greedy["forwards"] == 80
    assert greedy["temperature"] is None and greedy["draft_len"] == 0
    assert result["modes"]["draft-model"]["draft_forwards"] > 0
    assert result["draft_speedup"] == result["modes"]["draft-model"]["speedup"]
    costs = result["forward_costs"]
    assert costs["verify_forward_ms"] > 0 and costs["greedy_forward_ms"] > 0
    assert costs["explained_speedup"] == pytest.approx(result["tokens_per_forward"] / costs["loop_cost_ratio"], rel=1e-2)
    table = format_table(result)
    assert "speculative draft_len=2" in table and "ON CORPUS-LIKE TEXT" not in table  # no sampled rows asked for
    spec = result["modes"]["speculative"]  # the pooled rates, as trace.py defines them
    assert spec["acceptance_share_of_rounds"] == [a["rate"] for a in spec["acceptance_per_head"]]
    assert spec["acceptance_conditional"] == [a["conditional"] for a in spec["acceptance_per_head"]]
    verifying = spec["forwards"] - 2  # one prefill per prompt
    assert spec["tokens"] == pytest.approx(2 + verifying * spec["acceptance_length"], abs=0.01)
    assert spec["acceptance_length"] == pytest.approx(1 + spec["drafts_accepted_per_round"], abs=2e-4)
    assert greedy["acceptance_length"] is None and "share of rounds/conditional" in table
    # each row's text statistics are repetition.py's, on the row's own text, recomputed here
    texts = [tok.decode(decode_ids(model, tok.encode(p), DecodeSettings("greedy", 40)).tokens) for p in prompts]
    for row in (greedy, spec):
        assert {k: row[k] for k in ("distinct_8", "whitespace", "looping", "mean_loop_start")} == pooled_statistics(texts)
    # tokens per forward before the loop: every round counts when no continuation loops
    if greedy["looping"] == 0:
        assert spec["tokens_per_forward_before_loop"] == spec["tokens_per_forward"]


def test_sampled_rows_measure_speculative_sampling_against_plain_sampling(stdlib):
    """Temperature rows: one run per prompt and seed, a standard error from the runs, the speed-up over
    plain sampling at the same temperature, and statistics of the sampled text."""
    torch.manual_seed(0)
    tok = stdlib.tokenizer
    model = MTPModel(ModelConfig.from_preset("micro", vocab_size=tok.vocab_size, n_heads=3)).eval()
    prompts = heldout_prompts(tok, count=3, length=24)
    calls = []
    plan = BenchPlan(max_new_tokens=30, repeats=1, draft_lens=(2,), temperatures=(1.0, 0.5), seeds=2)
    result = measure_decoding(model, tok, prompts, plan, on_progress=lambda done, total: calls.append(total))
    assert calls[-1] == 3 * (1 * 2 + 2 * 4)  # prompts x (repeats x greedy rows + seeds x sampled rows)
    names = [e["name"] for e in result["rows"]]
    assert names[:4] == ["sample T=1", "speculative-sample T=1", "sample T=0.5", "speculative-sample T=0.5"]
    sampled = result["sampled"]
    assert sampled is result["modes"]["speculative-sample"] and sampled["temperature"] == 1.0
    assert sampled["runs"] == 6 and sampled["tokens"] == 6 * 30 and sampled["draft_len"] == 2
    plain = result["modes"]["sample"]
    assert plain["tokens_per_forward"] == 1.0 and plain["speedup"] == 1.0 and plain["standard_error"] == 0.0
    assert 1.0 <= sampled["tokens_per_forward"] <= 3.0 and sampled["standard_error"] >= 0
    assert "identical" not in sampled  # a sampled row writes a sample, not greedy's text
    # the same seeds reproduce the same text: the row's statistics are those of these six runs
    texts = [tok.decode(decode_ids(model, tok.encode(p), DecodeSettings("speculative-sample", 30, temperature=1.0,
                                                                        seed=s)).tokens) for s in range(2) for p in prompts]
    assert sampled["distinct_8"] == pooled_statistics(texts)["distinct_8"]
    table = format_table(result)
    assert table.index("ON CORPUS-LIKE TEXT") < table.index("GREEDY")
    assert f"{sampled['tokens_per_forward']:.2f}+-{sampled['standard_error']:.2f}" in table
    with pytest.raises(TinyMTPError, match="above 0"):
        BenchPlan(temperatures=(0.0,))
    with pytest.raises(TinyMTPError, match="above 0"):
        BenchPlan(temperatures=(float("nan"),))
    with pytest.raises(TinyMTPError, match="seeds"):
        BenchPlan(seeds=0)


def test_standard_error_is_the_delta_method_over_equal_runs():
    assert standard_error([0.5], 2.0) is None  # one run: no spread to speak of
    runs = [0.5, 0.25, 0.5, 0.25]  # forwards per token of four runs of equal length
    mean = sum(runs) / 4
    sd = (sum((r - mean) ** 2 for r in runs) / 3) ** 0.5
    assert standard_error(runs, 1 / mean) == pytest.approx((1 / mean) ** 2 * sd / 2)


def test_measure_decoding_names_draft_len_and_refuses_bad_prompts():
    tok = CharTokenizer.from_text("the cat sat on the mat. the dog sat on the log.\n")
    torch.manual_seed(1)
    model = MTPModel(ModelConfig.from_preset("micro", vocab_size=tok.vocab_size, n_heads=3)).eval()
    m = measure_decoding(model, tok, ["the cat", "the dog"], BenchPlan(max_new_tokens=10, repeats=1, draft_lens=(1, 2),
                                                                       draft_tokens=2), model)
    greedy = m["modes"]["greedy"]
    assert greedy["tokens"] == 20 and greedy["forwards"] == 20 and greedy["draft_len"] == 0
    assert [e["draft_len"] for e in m["draft_len_sweep"]] == [1, 2]
    for entry in m["draft_len_sweep"] + [m["modes"]["draft-model"]]:
        assert entry["identical"], entry  # greedy speculative decoding writes exactly the greedy text
        assert entry["tokens"] == 20 and 1 <= entry["tokens_per_forward"] <= 3
        assert entry["speedup"] > 0
    assert m["modes"]["draft-model"]["draft_len"] == 2
    with pytest.raises(TinyMTPError, match="no prompts"):
        measure_decoding(model, tok, [], BenchPlan())
    with pytest.raises(TinyMTPError, match="empty"):
        measure_decoding(model, tok, ["the cat", ""], BenchPlan())
    with pytest.raises(UnknownCharactersError, match="'Z'"):
        measure_decoding(model, tok, ["the Zoo"], BenchPlan())


def test_lookup_row_and_the_cost_model_beside_the_measured_speedup():
    """A lookup row on the same prompts, and every row's predicted speed-up is the cost model's
    formula applied to that row's own measured inputs (no timing is asserted)."""
    import json

    torch.manual_seed(0)
    tok = CharTokenizer.from_text("abcdefgh ")
    model = MTPModel(ModelConfig.from_preset("micro", vocab_size=tok.vocab_size, n_heads=3)).eval()
    prompts = ["abc abc abc abc", "hgfe hgfe hgfe"]
    result = measure_decoding(model, tok, prompts, BenchPlan(max_new_tokens=30, repeats=2, lookup_tokens=3,
                                                             temperatures=(1.0,), seeds=2))
    lookup = result["modes"]["lookup"]
    assert lookup["mode"] == "lookup" and lookup["draft_len"] == 3 and lookup["identical"] is True
    assert result["lookup_speedup"] == lookup["speedup"] and lookup["tokens"] == 60
    for e in result["rows"]:
        if e["name"] in ("greedy", "sample T=1"):
            assert e["predicted_speedup"] == 1.0 == e["round_cost_ratio"]  # the baselines
            continue
        assert e["round_cost_ratio"] > 0
        assert e["predicted_speedup"] == pytest.approx(e["acceptance_length"] / e["round_cost_ratio"], rel=2e-3)
    costs = result["forward_costs"]  # the profile's split of the verifying forward: heads 2..K vs the trunk
    assert costs["verify_head1_forward_ms"] > 0 and 0 <= costs["later_heads_share"] < 1
    loaded = json.loads(json.dumps(result))  # the --json contract
    assert {"modes", "rows", "speedup", "tokens_per_forward", "lookup_speedup", "sampled"} <= set(loaded)
    for row in loaded["rows"]:
        assert {"mode", "temperature", "tokens_per_forward", "speedup", "distinct_8", "draft_len",
                "predicted_speedup", "round_cost_ratio"} <= set(row)
    table = format_table(result)
    assert "lookup" in table and "predicted = acceptance length / round cost" in table and "round cost" in table.splitlines()[2]
    no_lookup = measure_decoding(model, tok, prompts[:1], BenchPlan(max_new_tokens=10, repeats=1))
    assert "lookup" not in no_lookup["modes"] and no_lookup["lookup_speedup"] is None
