"""Prompt lookup, the drafter with no training: what it finds, and the golden reference (its output
equals plain greedy decoding token for token) on the shipped checkpoint, through the library and
the CLI (on random float64 models whose windows restart: test_speculative_exact.py's property, one
for every drafter)."""

from __future__ import annotations

import json

import pytest
from conftest import CHECKPOINTS

from tinymtp.decoding.decode import generate
from tinymtp.decoding.drafters import lookup
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.files.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


def test_lookup_proposes_what_followed_the_latest_copy_of_the_longest_tail():
    text = list("abcXabcYabc")
    assert lookup(text, 3) == list("Yab")  # "abc" last occurred before "Y"
    assert lookup(text, 1) == ["Y"]
    assert lookup(list("zzqab"), 2, ngram=3) == []  # nothing repeats the tail "b"
    assert lookup(list("xaybxa"), 2, ngram=3) == list("yb")  # "bxa" and "xa" no: "xa" at 0 -> "yb"
    assert lookup(list("a"), 2) == []  # a one-token text has nothing earlier to copy


def test_lookup_prefers_longer_matches_over_later_ones():
    text = list("qrsT") + list("xrsU") + list("qrs")
    assert lookup(text, 1, ngram=3) == ["T"]  # "qrs" matches at 0; "rs" alone would say "U"
    assert lookup(text, 1, ngram=2) == ["U"]


def test_lookup_on_repetitive_code_equals_greedy_and_drafts_for_free():
    ckpt = load_checkpoint(str(CHECKPOINTS / "mtp-4head"))
    prompt = "    def run(self):\n        return self.value\n\n    def stop(self):\n        return self.value\n\n    def "
    greedy = generate(ckpt.model, ckpt.tokenizer, prompt, DecodeSettings("greedy", 120))
    found = generate(ckpt.model, ckpt.tokenizer, prompt, DecodeSettings("lookup", 120, draft_len=4))
    assert found.tokens == greedy.tokens
    summary = found.trace.summary()
    assert summary["tokens_per_forward"] > 1.2  # repeated text: some drafts are kept
    assert all(r.draft_forwards == 0 for r in found.trace.rounds)  # no model drafted


def test_lookup_from_the_cli_prints_one_json_object(cli):
    proc = cli("generate", "--checkpoint", CHECKPOINTS / "ntp-1head", "--prompt", "import os\nimport sys\nimport ",
               "--mode", "lookup", "--draft-len", "5", "--max-new-tokens", "40", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["summary"]["tokens"] == 40 and out["settings"]["draft_len"] == 5
    greedy = cli("generate", "--checkpoint", CHECKPOINTS / "ntp-1head", "--prompt", "import os\nimport sys\nimport ",
                 "--max-new-tokens", "40", "--json")
    assert json.loads(greedy.stdout)["text"] == out["text"]


def test_lookup_drafts_are_named_by_step_not_by_head(cli):
    proc = cli("generate", "--checkpoint", CHECKPOINTS / "mtp-4head", "--prompt", "self.x = x\nself.y = y\nself.",
               "--mode", "lookup", "--max-new-tokens", "30")
    assert proc.returncode == 0, proc.stderr
    assert "draft step 1" in proc.stderr and "head 1" not in proc.stderr


def test_lookup_skips_a_latest_copy_that_leaves_no_whole_draft():
    # the latest "  " overlaps the tail and only " " follows it; the copy before "x" gives 3 tokens
    text = list("a  x  y    ")
    assert lookup(text, 3, ngram=2) == list("y  ")
    assert lookup(list("aaaa"), 3, ngram=1) == list("aaa")  # only the first "a" has 3 tokens after it
    assert lookup(list("ababab"), 5, ngram=2) == list("ab")  # none has 5 after it: the latest, cut short
