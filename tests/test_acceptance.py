"""Acceptance, defined once (trace.py): the share of rounds and the conditional rate per head,
the acceptance length with and without the bonus token, and how tokens per forward follows.

Hand-made traces pin the numbers (edge cases included); real runs of the shipped checkpoints
check that the identities hold in every drafting mode, window restarts and short last rounds included.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from conftest import CHECKPOINTS

from tinymtp.cli.generate import summary_line
from tinymtp.decoding.decode import generate
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.decoding.trace import DraftCheck, Round, Trace
from tinymtp.files.checkpoint import load_checkpoint


def verify_round(drafted: int, accepted: int) -> Round:
    """A chain round with `drafted` drafts of which the first `accepted` were kept."""
    checks = [DraftCheck(offset=i, drafter=i + 1, token=0, char="a", q=0.5, verifier_token=0, verifier_char="a",
                         verifier_prob=0.5, p=0.5, uniform=None, accepted=i <= accepted, rule="match",
                         checked=i <= accepted + 1)
              for i in range(1, drafted + 1)]
    committed = [0] * (accepted + 1)
    return Round(index=0, kind="verify", fed=[0] * (drafted + 1), checks=checks, accepted=accepted,
                 next_kind="bonus" if accepted == drafted else "corrected", committed=committed)


def hand_trace(*rounds, drafters=(2, 3, 4)) -> Trace:
    prefill = Round(index=0, kind="prefill", fed=[0, 0], committed=[0])
    return Trace(mode="speculative", drafters=list(drafters), rounds=[prefill, *rounds])


def check_identities(trace: Trace) -> None:
    """The product of the conditional rates up to head k is the share of rounds at k (exactly, in
    counts), and tokens per forward follows from the shares and the round counts."""
    s, rows = trace.summary(), trace.acceptance_per_head()
    rounds = s["drafting_rounds"]
    product = Fraction(1)
    for row in rows:
        assert row["rounds"] == rounds
        if row["reached"] == 0:  # nobody got this far: no conditional rate, and no share either
            assert row["conditional"] is None and row["accepted"] == 0
            product = Fraction(0)
            continue
        product *= Fraction(row["accepted"], row["reached"])
        assert product == Fraction(row["accepted"], rounds)
    shares, conditional = trace.acceptance_share_of_rounds(), trace.acceptance_conditional()
    for k in range(len(rows)):
        if conditional[k] is not None:
            assert math.prod(conditional[: k + 1]) == pytest.approx(shares[k], rel=1e-12, abs=1e-15)
    # every verifying round commits 1 + its kept drafts; the prefill commits 1
    kept = rounds * sum(shares) if rounds else 0
    tokens = 1 + s["verify_rounds"] + kept
    assert tokens == pytest.approx(s["tokens"], abs=1e-9)
    assert s["tokens_per_forward"] == round(tokens / s["forwards"], 4)
    if s["verify_rounds"]:
        assert s["acceptance_length"] == pytest.approx(1 + s["drafts_accepted_per_round"], abs=2e-4)
        assert s["tokens"] == 1 + round(s["acceptance_length"] * s["verify_rounds"])
        # acceptance length = 1 + the shares' sum, counted over the rounds that drafted
        assert trace.drafts_accepted_per_round() * s["verify_rounds"] == pytest.approx(kept, abs=1e-9)


def test_hand_made_rates_and_lengths():
    trace = hand_trace(verify_round(3, 3), verify_round(3, 1), verify_round(3, 0), verify_round(3, 2))
    s = trace.summary()
    assert s["acceptance_share_of_rounds"] == [0.75, 0.5, 0.25]
    assert s["acceptance_conditional"] == [0.75, round(2 / 3, 4), 0.5]
    assert s["acceptance_length"] == 2.5 and s["drafts_accepted_per_round"] == 1.5
    assert s["tokens"] == 11 and s["forwards"] == 5 and s["tokens_per_forward"] == 2.2
    assert s["acceptance_rate"] == 0.5  # 6 kept of 12 drafts made, unchecked ones included
    rows = s["acceptance_per_head"]
    assert [r["rate"] for r in rows] == s["acceptance_share_of_rounds"]  # the CLI contract's rate = share
    assert [(r["drafted"], r["checked"], r["reached"], r["accepted"]) for r in rows] == \
        [(4, 4, 4, 3), (4, 3, 3, 2), (4, 2, 2, 1)]
    check_identities(trace)


def test_no_round_drafted():
    only_prefill = hand_trace()
    s = only_prefill.summary()
    assert s["acceptance_share_of_rounds"] == [None] * 3 and s["acceptance_conditional"] == [None] * 3
    assert s["acceptance_length"] is None and s["drafts_accepted_per_round"] is None
    assert summary_line(s).endswith("tokens/forward, 0.000 s]")
    empty_round = hand_trace(verify_round(0, 0))  # a verifying round with no room for drafts
    s = empty_round.summary()
    assert s["acceptance_share_of_rounds"] == [None] * 3 and s["acceptance_length"] == 1.0
    assert s["drafts_accepted_per_round"] == 0.0 and s["acceptance_rate"] is None
    check_identities(empty_round)
    greedy = Trace(mode="greedy", rounds=[Round(index=i, kind="decode", fed=[0], committed=[0]) for i in range(3)])
    assert greedy.summary()["acceptance_per_head"] == [] and greedy.summary()["acceptance_length"] is None


def test_all_rejected():
    trace = hand_trace(verify_round(3, 0), verify_round(3, 0))
    s = trace.summary()
    assert s["acceptance_share_of_rounds"] == [0.0, 0.0, 0.0]
    assert s["acceptance_conditional"] == [0.0, None, None]  # heads 3 and 4 were never reached
    assert s["acceptance_length"] == 1.0 and s["tokens_per_forward"] == 1.0
    assert [r["checked"] for r in s["acceptance_per_head"]] == [2, 0, 0]
    check_identities(trace)


def test_short_last_round_counts_as_not_reaching_the_heads_it_lacks():
    """At max_new_tokens (or a window's end) a round drafts fewer heads; kept to its end, it
    reached head 3 without head 3 drafting: both rates count it as head 3 not kept."""
    trace = hand_trace(verify_round(3, 3), verify_round(1, 1))
    rows = trace.acceptance_per_head()
    assert [(r["drafted"], r["checked"], r["reached"], r["accepted"]) for r in rows] == \
        [(2, 2, 2, 2), (1, 1, 2, 1), (1, 1, 1, 1)]
    assert trace.acceptance_share_of_rounds() == [1.0, 0.5, 0.5]
    assert trace.acceptance_conditional() == [1.0, 0.5, 1.0]
    check_identities(trace)


@pytest.fixture(scope="module")
def checkpoints(one_thread):
    names = ("mtp-4head", "causal-4head", "draft")
    if not all((CHECKPOINTS / n / "config.json").is_file() for n in names):
        pytest.skip("the shipped checkpoints are not here")
    loaded = {n: load_checkpoint(str(CHECKPOINTS / n)) for n in names}
    for ckpt in loaded.values():  # float64: the greedy choices cannot flip on rounding between runs
        ckpt.model.double()
    return loaded


RUNS = [("mtp-4head", dict(mode="speculative")),
        ("mtp-4head", dict(mode="speculative", draft_len=2)),
        ("mtp-4head", dict(mode="speculative-sample", temperature=0.8, seed=3)),
        ("mtp-4head", dict(mode="draft-model", temperature=0)),
        ("mtp-4head", dict(mode="tree")),
        ("causal-4head", dict(mode="speculative")),
        ("causal-4head", dict(mode="tree"))]


@pytest.mark.slow  # 300 tokens on each shipped model
@pytest.mark.parametrize("name,kwargs", RUNS, ids=[f"{n}-{'-'.join(map(str, k.values()))}" for n, k in RUNS])
def test_real_runs_multiply_out(checkpoints, name, kwargs):
    """300 tokens cross two context-window restarts (context 128), so some rounds are cut short."""
    ckpt = checkpoints[name]
    draft = checkpoints["draft"].model if kwargs["mode"] == "draft-model" else None
    result = generate(ckpt.model, ckpt.tokenizer, "def parse(self, text):\n", DecodeSettings(max_new_tokens=301, **kwargs),
                      draft)
    trace = result.trace
    check_identities(trace)
    verify = [r for r in trace.rounds if r.kind == "verify"]
    drafting = [r for r in verify if r.checks]
    assert any(len({c.offset for c in r.checks}) < len(trace.drafters) for r in drafting)  # short rounds exist
    # the rates against the rounds themselves
    for i, share in enumerate(trace.acceptance_share_of_rounds(), start=1):
        assert share == sum(r.accepted >= i for r in drafting) / len(drafting)
    for i, row in enumerate(trace.acceptance_per_head(), start=1):
        assert row["checked"] == sum(any(c.offset == i and c.checked for c in r.checks) for r in drafting)
        assert row["reached"] == sum(r.accepted >= i - 1 for r in drafting)
    assert trace.acceptance_length() == sum(len(r.committed) for r in verify) / len(verify)
    assert trace.summary()["tokens"] == len(result.tokens) == 301
