"""The Speculative page's figures (tinymtp/viz/stage.py, decision.py, trap.py) and their look at a
distance (style.py): steady building time, the sampling decision drawn, where a loop starts, text
large enough in presentation mode, marks that stand out from their cells."""

from __future__ import annotations

import json
import statistics
import time
from types import SimpleNamespace

import pytest
import torch
from test_app_stage import font_sizes

from tinymtp import viz
from tinymtp.analysis.repetition import loop_round, loop_start
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.data.tokenizer import CharTokenizer
from tinymtp.decoding.decode import generate
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.decoding.trace import DraftCheck, Round, Trace
from tinymtp.viz.predictions import GRID_COLOURS
from tinymtp.viz.style import PRESENT_MIN_PX, wrap_title

TEXT = "def f(x):\n    return x + 1\n"


@pytest.fixture(scope="module")
def tokenizer():
    return CharTokenizer.from_text(TEXT)


@pytest.fixture(scope="module")
def runs(tokenizer):
    """200-character runs of an untrained micro model, the longest the app's page decodes: 50 to 150
    rounds (its heads' drafts are rejected often when greedy, kept often when sampling)."""
    torch.manual_seed(0)
    model = MTPModel(ModelConfig.from_preset("micro", vocab_size=tokenizer.vocab_size, n_heads=4)).eval()
    out = {}
    for mode, base_mode, t in (("speculative", "greedy", 0.0), ("speculative-sample", "sample", 1.0)):
        spec = generate(model, tokenizer, "def f", DecodeSettings(mode, 200, temperature=t, seed=1))
        base = generate(model, tokenizer, "def f", DecodeSettings(base_mode, 200, temperature=t, seed=1))
        out[mode] = (spec, base)
    return out


def build_seconds(spec, base, tokenizer, shown: int) -> float:
    started = time.perf_counter()
    viz.round_view(spec, base, tokenizer, shown, "def f", 3, found=viz.trap(spec, base, tokenizer))
    return time.perf_counter() - started


@pytest.mark.parametrize("mode", ["speculative", "speculative-sample"])
def test_building_a_rounds_figures_late_in_a_run_costs_what_it_costs_early(runs, tokenizer, mode):
    """The figures of the run's last round against those of round 2 (medians of 5, interleaved): a
    ratio with a generous margin. With a plotly shape per forward pass the lanes alone made it ~20."""
    spec, base = runs[mode]
    last = len(spec.trace.rounds)
    assert last >= 50
    early, late = [], []
    for _ in range(5):
        early.append(build_seconds(spec, base, tokenizer, 2))
        late.append(build_seconds(spec, base, tokenizer, last))
    ratio = statistics.median(late) / statistics.median(early)
    print(f"{mode}: round {last - 1} / round 1 figure building = {ratio:.2f}")
    assert ratio < 2.0, ratio


def test_the_lanes_are_one_trace_per_lane_and_mark_the_loop(runs, tokenizer):
    spec, base = runs["speculative"]
    fig = viz.lanes(base.trace, spec.trace, tokenizer, forwards=50, loop_rounds=(30, 12))
    assert [len(t.x) for t in fig.data] == [50, 50] and not [s for s in fig.layout.shapes if s.type == "rect"]
    marks = [s.x0 for s in fig.layout.shapes if s.type == "line"]
    assert marks == [30, 12]
    assert [a.text for a in fig.layout.annotations].count("loop from here") == 2
    assert not viz.lanes(base.trace, spec.trace, tokenizer, forwards=5, loop_rounds=(30, 12)).layout.shapes
    late = viz.lanes(base.trace, spec.trace, tokenizer, forwards=61, window=30, loop_rounds=(30, 12))
    assert [len(t.x) for t in late.data] == [30, 30] and late.data[0].base[0] == pytest.approx(31.04)
    assert list(late.layout.xaxis.range) == [31, 61] and [s.x0 for s in late.layout.shapes] == []  # both marks left


def rounds_of(lengths: list) -> list:
    return [Round(index=i, kind="prefill" if i == 0 else "verify", fed=[0], committed=[0] * n)
            for i, n in enumerate(lengths)]


def test_the_loops_first_token_maps_to_the_round_that_wrote_it():
    rounds = rounds_of([1, 3, 1, 4, 2])  # tokens 0 | 1 2 3 | 4 | 5 6 7 8 | 9 10
    assert [loop_round(rounds, t) for t in (0, 1, 3, 4, 5, 8, 9, 10)] == [0, 1, 1, 2, 3, 3, 4, 4]
    assert loop_round(rounds, None) is None and loop_round(rounds, 11) is None


def test_trap_finds_where_each_run_starts_looping(tokenizer):
    text = "def f(x):\n" + "    " * 30  # a loop of spaces: the shape greedy text of a tiny model takes
    ids = tokenizer.encode(text)
    spec_rounds = rounds_of([1] + [3] * ((len(ids) - 1) // 3) + [(len(ids) - 1) % 3])
    for r, start in zip(spec_rounds, [0] + [1 + 3 * i for i in range(len(spec_rounds))]):
        r.committed = ids[start : start + len(r.committed)]
    spec = SimpleNamespace(tokens=ids, trace=Trace(mode="speculative", rounds=spec_rounds))
    base = SimpleNamespace(tokens=ids, trace=Trace(mode="greedy", rounds=[Round(i, "decode", [t], committed=[t])
                                                                       for i, t in enumerate(ids)]))
    found = viz.trap(spec, base, tokenizer)
    start = loop_start(text)
    assert start is not None and found.spec_token == found.base_token == start
    assert found.base_round == start  # plain decoding: one token per round
    assert sum(len(r.committed) for r in spec_rounds[: found.spec_round]) <= start
    assert sum(len(r.committed) for r in spec_rounds[: found.spec_round + 1]) > start
    assert found.reached(found.spec_round + 1) and not found.reached(found.spec_round)
    html = viz.committed_text_html("", spec.trace, tokenizer, loop_round=found.spec_round)
    assert html.count("loop from here") == 1
    assert html.index("loop from here") < html.index(f'title="round {found.spec_round}:')


def check(offset, p, q, u, accepted, checked=True, top=None, mass=None, residual_prob=None):
    return DraftCheck(offset=offset, drafter=offset + 1, token=offset, char="abc"[offset - 1], q=q, verifier_token=0,
                      verifier_char="x", verifier_prob=0.5, p=p, uniform=u, accepted=accepted, rule="u < min(1, p/q)",
                      checked=checked, top=top, residual_mass=mass, residual_prob=residual_prob)


def test_the_decision_shows_u_against_the_threshold_and_the_residual(tokenizer):
    """u = 0.94 above p = 0.87 is kept when q = 0.5 (p/q > 1): drawn, the dot sits in the green part."""
    top = [[1, 0.5, 0.9], [2, 0.3, 0.05], [3, 0.2, 0.05]]  # [token, p, q]; the residual: 0, 0.25, 0.15 over 0.4
    rnd = Round(index=4, kind="verify", fed=[0, 1, 2, 3], accepted=1, next_token=2, next_kind="corrected",
                checks=[check(1, 0.87, 0.5, 0.94, True), check(2, 0.5, 0.9, 0.7, False, top=top, mass=0.4,
                                                               residual_prob=0.625),
                        check(3, 0.1, 0.2, None, False, checked=False)])
    fig = viz.sampling_decision(rnd, tokenizer, mode="speculative-sample")
    zones = [s for s in fig.layout.shapes if s.type == "line" and s.line.width == 14]
    keep = {round(s.y0): s.x1 for s in zones if s.line.color == viz.decision.KEEP_ZONE}
    assert keep == {0: 1.0, 1: pytest.approx(0.5 / 0.9)}
    dots = fig.data[0]
    assert list(dots.x) == [0.94, 0.7] and list(dots.y) == [0, 1]
    for x, y, verdict in zip(dots.x, dots.y, (True, False)):
        assert (x < keep[y]) == verdict  # accepted exactly when the dot is in the green part
    ticks = list(fig.layout.yaxis.tickvals), list(fig.layout.yaxis.ticktext)
    assert "kept" in ticks[1][0] and "→" in ticks[1][1] and "not checked" in ticks[1][2]
    bars = {t.name: list(t.y) for t in fig.data[1:]}
    residual = bars["residual norm(max(0, p − q))"]
    assert residual == pytest.approx([0.625, 0.375, 0.0])  # sorted by residual: the corrected token first
    notes = " ".join(a.text for a in fig.layout.annotations)
    assert "drawn from the" in notes and "residual: 0.62" in notes
    rows = viz.round_table(rnd, mode="speculative-sample")
    assert [r["u"] for r in rows] == ["0.94", "0.70", "–"] and rows[1]["drawn from"].endswith("0.62")
    assert all(v is not None and v != "None" for r in rows for v in r.values())


def test_a_sampled_trace_keeps_what_the_decision_needs_and_stays_json_safe(runs):
    spec, _ = runs["speculative-sample"]
    rejected = 0
    for rnd in spec.trace.rounds:
        for c in rnd.checks:
            if not c.checked:
                assert c.top is None
                continue
            assert 8 <= len(c.top) <= 16 and [r[1] for r in c.top] == sorted((r[1] for r in c.top), reverse=True)
            assert (c.uniform < viz.decision.threshold(c)) == c.accepted
            if not c.accepted:
                rejected += 1
                assert c.residual_mass > 0 and rnd.next_token is not None
                shown = {t: max(0.0, p - q) / c.residual_mass for t, p, q in c.top}
                if rnd.next_token in shown:
                    assert shown[rnd.next_token] == pytest.approx(c.residual_prob, abs=1e-4)
    assert rejected > 5
    json.dumps(spec.trace.to_dict())


def test_presentation_mode_makes_every_text_of_every_figure_large(runs, tokenizer):
    spec, base = runs["speculative-sample"]
    greedy, plain = runs["speculative"]
    view = viz.round_view(spec, base, tokenizer, 3, "def f", 3)
    figures = [view["round"], view["tokens_per_forward"], view["acceptance"], view["lanes"],
               viz.speculative_round(greedy.trace.rounds[2], tokenizer, mode="speculative")]
    for fig in figures:
        assert min(font_sizes(fig.to_plotly_json())) < PRESENT_MIN_PX  # the check sees small text
        viz.projector(fig)
        assert min(font_sizes(fig.to_plotly_json())) >= PRESENT_MIN_PX, fig.layout.title.text


def test_marks_on_the_heads_grid_stand_out_from_every_cell():
    for _, cell in GRID_COLOURS:
        assert viz.contrast_ratio(viz.MARK_EDGE, cell) >= 4.5, cell
    assert viz.contrast_ratio("#009E73", "#5B9BD5") < 1.5  # the green dot alone, on a sure cell: not enough
    assert viz.contrast_ratio("#000000", "#FFFFFF") == pytest.approx(21)


def test_titles_wrap_before_they_are_cut_and_legends_sit_below():
    title = "Acceptance per drafting head: share of rounds that kept each head's draft, so far"
    lines = wrap_title(title, 30).split("<br>")
    assert len(lines) == 3 and all(len(line) <= 30 for line in lines) and " ".join(lines) == title
    fig = viz.head_accuracy([{"head": 1, "text_accuracy": 0.5, "greedy_accuracy": 1.0}], title=title)
    assert fig.layout.legend.yref == "container" and fig.layout.legend.y == 0  # under the axis, not on a title
    assert fig.layout.title.automargin and fig.layout.title.yanchor == "bottom"
