"""The decoding benchmark's library function: held-out prompts and `measure_decoding`."""

from __future__ import annotations

import pytest
import torch

from tinymtp.analysis.repetition import mean_distinct_share
from tinymtp.analysis.speedup import format_table, heldout_prompts, measure_decoding
from tinymtp.corpora import load_corpus
from tinymtp.decoding.decode import decode_ids
from tinymtp.errors import TinyMTPError, UnknownCharactersError
from tinymtp.model import ModelConfig, MTPModel
from tinymtp.tokenizer import CharTokenizer


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
    result = measure_decoding(model, tok, heldout_prompts(tok, count=2, length=24), max_new_tokens=40,
                              repeats=2, draft_model=draft, draft_tokens=2,
                              on_progress=lambda done, total: calls.append((done, total)))
    assert torch.get_num_threads() == threads  # restored
    assert calls[-1] == (2 * 2 * 4, 2 * 2 * 4)  # repeats x prompts x (greedy, K=2, K=3, draft)
    assert set(result["modes"]) == {"greedy", "speculative", "draft-model"}
    assert [e["heads"] for e in result["heads_sweep"]] == [2, 3]
    assert result["identical"] is True
    assert result["speedup"] == result["modes"]["speculative"]["speedup"] > 0
    assert result["tokens_per_forward"] == result["modes"]["speculative"]["tokens_per_forward"]
    greedy = result["modes"]["greedy"]
    assert greedy["tokens_per_forward"] == 1.0 and greedy["speedup"] == 1.0 and greedy["forwards"] == 80
    assert result["modes"]["draft-model"]["draft_forwards"] > 0
    assert result["draft_speedup"] == result["modes"]["draft-model"]["speedup"]
    costs = result["forward_costs"]
    assert costs["verify_forward_ms"] > 0 and costs["greedy_forward_ms"] > 0
    assert costs["explained_speedup"] == pytest.approx(result["tokens_per_forward"] / costs["loop_cost_ratio"], rel=1e-2)
    assert "speculative K=3" in format_table(result)
    spec = result["modes"]["speculative"]  # the pooled rates, as trace.py defines them
    assert spec["acceptance_share_of_rounds"] == [a["rate"] for a in spec["acceptance_per_head"]]
    assert spec["acceptance_conditional"] == [a["conditional"] for a in spec["acceptance_per_head"]]
    verifying = spec["forwards"] - 2  # one prefill per prompt
    assert spec["tokens"] == pytest.approx(2 + verifying * spec["acceptance_length"], abs=0.01)
    assert spec["acceptance_length"] == pytest.approx(1 + spec["drafts_accepted_per_round"], abs=2e-4)
    assert greedy["acceptance_length"] is None and "share of rounds/conditional" in format_table(result)
    prompts = heldout_prompts(tok, count=2, length=24)  # repetition of greedy's own text, recomputed here
    texts = [decode_ids(model, tok.encode(p), "greedy", 40, keep_rounds=False).tokens for p in prompts]
    assert result["greedy_distinct_8grams"] == mean_distinct_share(texts, 8)
    assert f"{result['greedy_distinct_8grams']:.0%} of its 8-token pieces are distinct" in format_table(result)


def test_measure_decoding_names_drafting_heads_and_refuses_bad_prompts():
    tok = CharTokenizer.from_text("the cat sat on the mat. the dog sat on the log.\n")
    torch.manual_seed(1)
    model = MTPModel(ModelConfig.from_preset("micro", vocab_size=tok.vocab_size, n_heads=3)).eval()
    m = measure_decoding(model, tok, ["the cat", "the dog"], max_new_tokens=10, repeats=1, heads_sweep=[2, 3],
                         draft_model=model, draft_tokens=2)
    greedy = m["modes"]["greedy"]
    assert greedy["tokens"] == 20 and greedy["forwards"] == 20 and greedy["drafting_heads"] == 0
    assert [e["drafting_heads"] for e in m["heads_sweep"]] == [1, 2]
    for entry in m["heads_sweep"] + [m["modes"]["draft-model"]]:
        assert entry["identical"], entry  # greedy speculative decoding writes exactly the greedy text
        assert entry["tokens"] == 20 and 1 <= entry["tokens_per_forward"] <= 3
        assert entry["speedup"] > 0
    assert m["modes"]["draft-model"]["draft_tokens"] == 2
    with pytest.raises(TinyMTPError, match="no prompts"):
        measure_decoding(model, tok, [])
    with pytest.raises(TinyMTPError, match="empty"):
        measure_decoding(model, tok, ["the cat", ""])
    with pytest.raises(UnknownCharactersError, match="'Z'"):
        measure_decoding(model, tok, ["the Zoo"])


def test_lookup_row_and_the_cost_model_beside_the_measured_speedup():
    """A lookup row on the same prompts, and every row's predicted speed-up is the cost model's
    formula applied to that row's own measured inputs (no timing is asserted)."""
    import json

    torch.manual_seed(0)
    tok = CharTokenizer.from_text("abcdefgh ")
    model = MTPModel(ModelConfig.from_preset("micro", vocab_size=tok.vocab_size, n_heads=3)).eval()
    prompts = ["abc abc abc abc", "hgfe hgfe hgfe"]
    result = measure_decoding(model, tok, prompts, max_new_tokens=30, repeats=2, lookup_tokens=3)
    lookup = result["modes"]["lookup"]
    assert lookup["mode"] == "lookup" and lookup["draft_tokens"] == 3 and lookup["identical"] is True
    assert result["lookup_speedup"] == lookup["speedup"] and lookup["tokens"] == 60
    entries = [result["modes"]["greedy"], *result["heads_sweep"], lookup]
    for e in entries[1:]:
        assert e["round_cost_ratio"] > 0
        assert e["predicted_speedup"] == pytest.approx(e["acceptance_length"] / e["round_cost_ratio"], rel=2e-3)
    assert result["modes"]["greedy"]["predicted_speedup"] == 1.0 == result["modes"]["greedy"]["round_cost_ratio"]
    costs = result["forward_costs"]  # the profile's split of the verifying forward: heads 2..K vs the trunk
    assert costs["verify_head1_forward_ms"] > 0 and 0 <= costs["later_heads_share"] < 1
    loaded = json.loads(json.dumps(result))  # the --json contract: old keys kept, new keys present
    assert {"modes", "speedup", "tokens_per_forward", "lookup_speedup"} <= set(loaded)
    assert all({"predicted_speedup", "round_cost_ratio"} <= set(e) for e in loaded["modes"].values())
    table = format_table(result)
    assert "lookup K=3" in table and "predicted = acc.len / cost" in table
    no_lookup = measure_decoding(model, tok, prompts[:1], max_new_tokens=10, repeats=1)
    assert "lookup" not in no_lookup["modes"] and no_lookup["lookup_speedup"] is None
