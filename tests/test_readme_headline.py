"""The README's headline speed rows hold on a fresh measurement of the shipped model.

The README leads with drafting on corpus-like text (exact speculative sampling at temperature 1)
and puts greedy's figure, with its repetition, beside it. Tokens per forward, the text statistics
and the loop detector's verdicts do not depend on timing: with the README's settings (12 held-out
prompts, 256 new characters, sampling seeds 0-2) they come out the same on every run, so this test
measures them again with `bench decode`'s own code and compares them with the README's numbers
as printed (rounded to two decimals, or to a whole percent). The wall-clock speed-ups beside
them are not checked here: they depend on the machine (docs/measurements.md gives their runs)."""

from __future__ import annotations

import re

import pytest
from conftest import CHECKPOINTS, ROOT

from tinymtp.analysis.speedup import BenchPlan, corpus_reference, heldout_prompts, measure_decoding
from tinymtp.files.checkpoint import load_checkpoint


def headline_row(starts: str) -> str:
    """The README headline table's row whose first cell starts with `starts` (a link text)."""
    text = (ROOT / "README.md").read_text()
    table = text.split("## Headline numbers", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith(f"| [{starts}")]
    assert len(rows) == 1, f"the README's headline table has one row starting '{starts}'"
    return rows[0]


def number(pattern: str, row: str) -> float:
    found = re.search(pattern, row)
    assert found, f"'{pattern}' not in the README row: {row}"
    return float(found.group(1))


def test_headline_rows_state_their_text_and_the_greedy_row_its_repetition():
    sampled = headline_row("exact speculative sampling")
    assert "corpus-like text" in sampled and "temperature 1" in sampled and "3 seeds" in sampled
    greedy = headline_row("greedy speculative decoding")
    assert "pieces distinct" in greedy and "whitespace" in greedy and "before the loop" in greedy


def fresh_measurement(name: str, draft_len: int = 3) -> tuple[dict, dict, dict]:
    """bench decode's speculative-sampling row at T=1, its greedy speculative row (`draft_len` drafts, every
    head's) and its corpus reference for a shipped checkpoint, with the README's settings: 12 held-out
    prompts, 256 new characters, sampling seeds 0-2 at temperature 1."""
    checkpoint = load_checkpoint(CHECKPOINTS / name)
    model, tokenizer = checkpoint.model, checkpoint.tokenizer
    plan = BenchPlan(max_new_tokens=256, repeats=1, draft_lens=(draft_len,), temperatures=(1.0,), seeds=3)
    prompts = heldout_prompts(tokenizer)
    measured = measure_decoding(model, tokenizer, prompts, plan)
    reference = corpus_reference(tokenizer, prompts, 256)  # bench decode's reference row
    rows = {r["name"]: r for r in measured["rows"]}
    return rows["speculative-sample T=1"], rows[f"speculative draft_len={draft_len}"], reference


def assert_sampled_figure(row: str, sampled: dict) -> None:
    """The row's bold tokens per forward at T=1 and its standard error, as measured."""
    assert number(r"\*\*(\d\.\d\d) tokens per forward\*\*", row) == round(sampled["tokens_per_forward"], 2)
    assert number(r"± (\d\.\d\d)", row) == round(sampled["standard_error"], 2)


@pytest.mark.slow
def test_headline_drafting_figures_equal_a_fresh_measurement():
    sampled, greedy, reference = fresh_measurement("mtp-4head")

    row = headline_row("exact speculative sampling")
    assert_sampled_figure(row, sampled)
    assert number(r"(\d+)% of 8-character pieces distinct", row) == round(100 * sampled["distinct_8"])
    assert number(r"the corpus's own (\d+)%", row) == round(100 * reference["distinct_8"])

    row = headline_row("greedy speculative decoding")
    assert number(r"(\d\.\d\d) tokens per forward", row) == round(greedy["tokens_per_forward"], 2)
    assert number(r"(\d\.\d\d) before the loop", row) == round(greedy["tokens_per_forward_before_loop"], 2)
    assert number(r"(\d+)% of its 8-character pieces distinct", row) == round(100 * greedy["distinct_8"])
    assert number(r"(\d+)% whitespace", row) == round(100 * greedy["whitespace"])
    assert number(r"(\d+) of 12 continuations end in a loop", row) == round(12 * greedy["looping"])


@pytest.mark.slow
def test_headline_sequential_heads_figures_equal_a_fresh_measurement():
    sampled, greedy, _ = fresh_measurement("seq-5head", draft_len=4)  # heads 2-5 draft
    row = headline_row("sequential (Hydra) heads")
    assert_sampled_figure(row, sampled)
    assert number(r"greedy (\d\.\d\d)", row) == round(greedy["tokens_per_forward"], 2)
    assert number(r"(\d\.\d\d) before the loop", row) == round(greedy["tokens_per_forward_before_loop"], 2)
