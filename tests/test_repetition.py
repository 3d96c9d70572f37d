"""The text statistics every drafting figure is printed beside (tinymtp/analysis/repetition.py):
distinct 8-character pieces, whitespace, and the loop detector."""

import json

import pytest
from conftest import CHECKPOINTS

from tinymtp.analysis.repetition import (
    LOOP_MIN_CHARS,
    before_loop,
    distinct_ngram_share,
    loop_start,
    mean_distinct_share,
    pooled_statistics,
    text_statistics,
    whitespace_share,
)
from tinymtp.data.corpora import load_corpus


def test_a_loop_has_few_distinct_pieces_and_fresh_text_has_all():
    assert distinct_ngram_share(list(range(20)), 8) == 1.0  # every 8-gram occurs once
    loop = [1, 2, 3] * 10  # 30 tokens, 23 8-grams, only 3 different ones
    assert distinct_ngram_share(loop, 8) == 3 / 23
    assert distinct_ngram_share([1, 2, 3], 8) is None  # too short to hold one 8-gram
    assert distinct_ngram_share("abcdefghij") == 1.0  # text works as well as token ids


def test_the_mean_counts_each_output_on_its_own():
    assert mean_distinct_share([list(range(20)), [1, 2, 3] * 10], 8) == round((1.0 + 3 / 23) / 2, 4)
    assert mean_distinct_share([[1, 2]], 8) is None


def test_the_greedy_loops_of_the_shipped_models_are_flagged():
    """The loops tinymtp's models fall into: a line written over and over, and runs of spaces."""
    import_sys = "import sys\n" * 28  # `generate --prompt "import os\n" --mode speculative`
    assert loop_start(import_sys) == 0
    # the loop starts where the text starts repeating: the prefix's last newline is already part of it
    assert loop_start("def main():\n    return 1\n" + import_sys[:200]) == len("def main():\n    return 1")
    spaces = "        if x:\n            y = 1\n" + " " * 90
    assert loop_start(spaces) == len("        if x:\n            y = 1\n")
    two_lines = "a = f(b)\nreturn None\n" * 8  # a stretch of two lines repeated
    assert loop_start("x = 0\n" + two_lines) == len("x = 0")


def test_no_window_of_the_validation_text_is_a_loop():
    """Ordinary code repeats indentation and keywords, never one stretch to the end over 64 characters:
    every 256-character window of the python-stdlib validation text, at every 16th offset."""
    text = load_corpus("python-stdlib").val_text
    flagged = [s for s in range(0, len(text) - 256, 16) if loop_start(text[s : s + 256]) is not None]
    assert flagged == []


@pytest.mark.parametrize("text,expected", [
    ("", None), ("a", None), (" " * (LOOP_MIN_CHARS - 1), None),  # too short to call a loop
    (" " * LOOP_MIN_CHARS, 0), ("x" + " " * LOOP_MIN_CHARS, 1),
    ("abc" * 30 + "d", None),  # a repetition the text leaves is not a loop (sampled text may do this)
    ("ab" * 40, 0), ("q" + "0123456789" * 7, 1),
    ("a stretch of forty characters, not more." * 2, 0),  # 80 characters: two whole periods, over 64
    ("a stretch of forty characters, not more." * 2 + "a stretch", 0),  # a loop may end mid-period
    ("a longer stretch of exactly fifty characters here." * 2 + "!", None),  # it must reach the end
])
def test_edge_cases(text, expected):
    assert loop_start(text) == expected


def test_statistics_of_an_empty_continuation_are_defined():
    assert text_statistics("") == {"distinct_8": None, "whitespace": None, "loop_start": None}
    assert whitespace_share(" a\n\t") == 0.75
    stats = pooled_statistics(["", " " * 80, "def f(x):\n    return x\n"])
    assert stats["looping"] == round(1 / 3, 4) and stats["mean_loop_start"] == 0
    assert pooled_statistics([]) == {"distinct_8": None, "whitespace": None, "looping": None, "mean_loop_start": None}


class R:
    def __init__(self, n):
        self.committed = [0] * n


def test_tokens_per_forward_before_the_loop_counts_rounds_that_start_before_it():
    rounds = [R(1), R(4), R(4), R(2), R(4)]  # tokens 0, 1-4, 5-8, 9-10, 11-14
    assert before_loop(rounds, None) == (15, 5)
    assert before_loop(rounds, 5) == (5, 2)  # the rounds that began at 0 and 1
    assert before_loop(rounds, 6) == (9, 3)  # the round that began at 5 wrote token 6
    assert before_loop(rounds, 0) == (0, 0)


def test_generate_json_reports_the_texts_statistics(cli):
    proc = cli("generate", "--checkpoint", CHECKPOINTS / "mtp-4head", "--prompt", "import os\n", "--mode",
               "speculative", "--max-new-tokens", "200", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["summary"]["distinct_8"] == text_statistics(data["text"])["distinct_8"]
    assert data["summary"]["loop_start"] == loop_start(data["text"])
    plain = cli("generate", "--checkpoint", CHECKPOINTS / "mtp-4head", "--prompt", "import os\n",
                "--max-new-tokens", "40")
    assert "8-character pieces distinct" in plain.stderr
