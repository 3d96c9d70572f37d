"""tinymtp.viz: every figure builds from plain library objects and carries the expected data."""

from __future__ import annotations

import pytest
import torch

from tinymtp import viz
from tinymtp.analysis.predictions import head_predictions
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.data.tokenizer import CharTokenizer
from tinymtp.decoding.decode import generate
from tinymtp.decoding.settings import DecodeSettings

TEXT = "def f(x):\n    return x + 1\n<img src=x onerror=alert(1)>&\"'"


@pytest.fixture(scope="module")
def tokenizer():
    return CharTokenizer.from_text(TEXT)


@pytest.fixture(scope="module")
def model(tokenizer):
    torch.manual_seed(0)
    return MTPModel(ModelConfig.from_preset("micro", vocab_size=tokenizer.vocab_size, n_heads=3)).eval()


@pytest.fixture(scope="module")
def traces(model, tokenizer):
    run = lambda mode, draft=None, **kw: generate(model, tokenizer, "def f", DecodeSettings(mode, 16, **kw), draft).trace
    return {"greedy": run("greedy"), "speculative": run("speculative"),
            "sample": run("speculative-sample", temperature=1.0, seed=3),
            "draft": run("draft-model", model, draft_len=2, temperature=0.0)}


def test_show_char_and_plot_text():
    assert viz.show_char(" ") == "␣" and viz.show_char("\n") == "↵" and viz.show_char("\t") == "⇥"
    assert viz.show_char("\x01") == "\\x01" and viz.show_char("a") == "a"
    assert viz.plot_text("<b>&") == "&lt;b&gt;&amp;"
    assert viz.head_colour(1) != viz.head_colour(2)


def test_loss_curves_one_train_and_one_val_trace_per_head():
    history = {"train": [[s, 4.0 - s / 10, 4.2 - s / 20] for s in range(1, 21)],
               "eval": [{"step": 10, "heads": [{"head": 1, "val_loss": 3.1}, {"head": 2, "val_loss": 3.5}]},
                        {"step": 20, "heads": [{"head": 1, "val_loss": 2.5}, {"head": 2, "val_loss": 3.2}]}]}
    fig = viz.loss_curves(history, smooth=5)
    names = [t.name for t in fig.data]
    assert names == ["head 1 train", "head 1 val", "head 2 train", "head 2 val"]
    assert list(fig.data[0].x) == list(range(1, 21))
    assert list(fig.data[1].y) == [3.1, 2.5]
    assert fig.data[0].line.color == viz.head_colour(1)
    assert len(viz.loss_curves({"train": [], "eval": []}).data) == 0  # before the first step


def test_head_grid_cells_and_match_markers(model, tokenizer):
    pred = head_predictions(model, tokenizer, "def f(x): <e>")
    fig = viz.head_grid(pred)
    heat, text_marks, greedy_marks = fig.data
    assert len(heat.z) == 3 and len(heat.z[0]) == pred.length  # rows: heads, columns: positions
    assert heat.z[1][4] == pred.top_probs[4][1][0]
    assert heat.text[0][0] == viz.plot_text(pred.top_chars[0][0][0])
    expected_text = sum(bool(pred.matches_text(t, k)) for k in (1, 2, 3) for t in range(pred.length))
    expected_greedy = sum(pred.matches_greedy(t, k) for k in (2, 3) for t in range(pred.length))
    assert len(text_marks.x) == expected_text and "real text" in text_marks.name
    assert len(greedy_marks.x) == expected_greedy and "head 1 would generate" in greedy_marks.name
    ticks = list(fig.layout.xaxis.ticktext)
    assert ticks[3] == "␣" and ticks[-2] == "e" and ticks[-3] == "&lt;"  # escaped for plotly


def test_topk_bars_one_panel_per_head(model, tokenizer):
    pred = head_predictions(model, tokenizer, "return x", top_k=4)
    fig = viz.topk_bars(pred, 2)
    assert len(fig.data) == 3
    assert all(len(bar.x) == 4 for bar in fig.data)
    assert list(fig.data[0].x) == pred.top_probs[2][0][::-1]


def test_head_accuracy_two_kinds(model, tokenizer):
    rows = head_predictions(model, tokenizer, "return x + 1").accuracy()
    fig = viz.head_accuracy(rows)
    assert len(fig.data) == 2
    assert list(fig.data[0].y) == [r["text_accuracy"] for r in rows]
    assert list(fig.data[1].y) == [r["greedy_accuracy"] for r in rows]
    assert "real text" in fig.data[0].name and "head 1 would generate" in fig.data[1].name


def test_speculative_round_marks_accepted_and_rejected(traces, tokenizer):
    trace = traces["speculative"]
    rnd = next(r for r in trace.rounds if r.checks)
    fig = viz.speculative_round(rnd, tokenizer, mode=trace.mode)
    texts = [a.text for a in fig.layout.annotations]
    verdicts = [t for t in texts if t.startswith((viz.ACCEPT_MARK, viz.REJECT_MARK))]
    checked = [c for c in rnd.checks if c.checked]
    assert len(verdicts) == len(checked)
    fills = [s.fillcolor for s in fig.layout.shapes]
    assert fills.count(viz.ACCEPTED) == rnd.accepted
    assert fills.count(viz.REJECTED) == sum(1 for c in checked if not c.accepted)
    assert f"KV cache {rnd.cache_before} → {rnd.cache_after}" in fig.layout.title.text
    if rnd.next_kind == "bonus":
        assert any("bonus" in t for t in texts)
    else:
        assert any("corrected" in t for t in texts)


def test_round_rows_in_greedy_sampling_and_draft_modes(traces):
    rnd = next(r for r in traces["speculative"].rounds if r.checks)
    rows = viz.round_rows(rnd, mode="speculative")
    assert len(rows) == len(rnd.checks) and rows[0]["drafted by"] == "head 2" and "u" not in rows[0]
    rnd = next(r for r in traces["sample"].rounds if r.checks)
    row = viz.round_rows(rnd, mode="speculative-sample")[0]
    assert row["u"] == round(rnd.checks[0].uniform, 4)
    assert row["min(1, p/q)"] == round(min(1.0, rnd.checks[0].p / rnd.checks[0].q), 4)
    rnd = next(r for r in traces["draft"].rounds if r.checks)
    assert viz.round_rows(rnd, mode="draft-model")[0]["drafted by"] == "draft step 1"


def test_committed_text_html_escapes_everything(model, tokenizer):
    prompt = "<img src=x onerror=alert(1)>"
    trace = generate(model, tokenizer, prompt, DecodeSettings("speculative", 12)).trace
    html = viz.committed_text_html(prompt, trace, tokenizer)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img" not in html and "<script" not in html
    # one coloured span per round that committed text
    assert html.count("title=\"round ") == sum(1 for r in trace.rounds if r.committed)
    assert viz.committed_text_html(prompt, trace, tokenizer, rounds=1).count("title=\"round ") == 1


def test_acceptance_tokens_per_forward_wall_clock_and_lanes(traces, tokenizer):
    spec, greedy = traces["speculative"], traces["greedy"]
    fig = viz.acceptance_per_head(spec)
    assert list(fig.data[0].x) == ["head 2", "head 3"]
    assert list(fig.data[0].y) == [r["rate"] or 0.0 for r in spec.acceptance_per_head()]

    fig = viz.tokens_per_forward(spec, n_heads=3, greedy_trace=greedy)
    assert len(fig.data) == 3
    assert fig.data[-1].y[-1] == 16 and fig.data[-1].x[-1] == spec.forwards
    assert fig.data[0].y[-1] == 16 and fig.data[0].x[-1] == greedy.forwards  # greedy: 1 per forward

    fig = viz.wall_clock({"greedy": 0.4, "speculative": 0.2})
    assert list(fig.data[0].x) == [0.4, 0.2] and "2.00×" in fig.data[0].text[1]

    fig = viz.lanes(greedy, spec, tokenizer)
    greedy_lane, spec_lane = fig.data  # one bar per forward pass, one trace per lane
    assert len(greedy_lane.x) == greedy.forwards and len(spec_lane.x) == spec.forwards
    assert list(spec_lane.text) == [viz.plot_text(tokenizer.decode(r.committed)) for r in spec.rounds]
    assert [len(t.x) for t in viz.lanes(greedy, spec, tokenizer, forwards=2).data] == [2, 2]


def measurement():
    entry = lambda k, speedup, tpf, identical=True: {"draft_len": k, "speedup": speedup, "tokens": 40,
                                                     "forwards": round(40 / tpf), "tokens_per_forward": tpf,
                                                     "seconds": 1 / speedup, "identical": identical}
    sweep = [entry(1, 1.5, 1.8), entry(2, 1.9, 2.4), entry(3, 2.1, 2.8)]
    return {"modes": {"greedy": entry(0, 1.0, 1.0), "speculative": sweep[-1],
                      "draft-model": entry(3, 1.2, 2.0)},
            "draft_len_sweep": sweep}


def test_speedup_vs_heads():
    fig = viz.speedup_vs_heads(measurement())
    names = [t.name for t in fig.data]
    assert names == ["speed-up (wall clock)", "tokens per forward", "ceiling: draft_len + 1 tokens per forward",
                     "separate draft model: 1.20×"]
    assert list(fig.data[0].x) == [0, 1, 2, 3] and list(fig.data[0].y) == [1.0, 1.5, 1.9, 2.1]
    assert list(fig.data[2].y) == [1, 2, 3, 4]
    no_draft = measurement()
    del no_draft["modes"]["draft-model"]
    assert len(viz.speedup_vs_heads(no_draft).data) == 3


def test_decoding_comparison_and_model_comparison():
    fig = viz.decoding_comparison(measurement())
    assert list(fig.data[0].x) == ["greedy", "self-speculative<br>(draft_len 3)", "separate draft model"]
    assert list(fig.data[1].y) == [1.0, 2.8, 2.0]

    meta = lambda loss, accs: {"next_token_val_loss": loss,
                               "heads": [{"head": k + 1, "val_loss": 0, "val_accuracy": a} for k, a in enumerate(accs)]}
    fig = viz.model_comparison({"ntp": meta(2.0, [0.5]), "mtp": meta(2.1, [0.48, 0.3, 0.2, 0.15])})
    bars = [t for t in fig.data if t.type == "bar"]
    lines = [t for t in fig.data if t.type == "scatter"]
    assert [b.y[0] for b in bars] == [2.0, 2.1]
    assert [len(t.x) for t in lines] == [1, 4]
