"""Corpora, the character tokenizer, the split, and the targets every head is trained on."""

import pytest
import torch

from tinymtp.core.errors import TinyMTPError, UnknownCharactersError
from tinymtp.data.corpora import (
    IGNORE,
    check_long_enough,
    corpus_from_bytes,
    corpus_snippets,
    load_corpus,
    make_batch,
    python_stdlib_text,
    shift_targets,
    stories_text,
)
from tinymtp.data.tokenizer import CharTokenizer


def test_make_batch_head_k_target_is_input_shifted_by_k():
    data = torch.arange(1000)  # token i has id i, so a target's value says its position
    x, targets = make_batch(data, batch_size=5, context_length=16, n_heads=4,
                            generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, 16) and targets.shape == (5, 16, 4)
    for k in range(1, 5):
        assert torch.equal(targets[:, :, k - 1], x + k)  # head k at position t predicts x[t+k]


def test_shift_targets_marks_positions_without_a_future_token():
    tokens = torch.tensor([[10, 11, 12, 13, 14]])
    targets = shift_targets(tokens, n_heads=3)  # (1, 5, 3)
    assert targets[0, :, 0].tolist() == [11, 12, 13, 14, IGNORE]
    assert targets[0, :, 1].tolist() == [12, 13, 14, IGNORE, IGNORE]
    assert targets[0, :, 2].tolist() == [13, 14, IGNORE, IGNORE, IGNORE]


def test_shift_targets_with_more_heads_than_tokens_ignores_the_heads_that_see_past_the_end():
    targets = shift_targets(torch.tensor([[10, 11]]), n_heads=4)  # (1, 2, 4)
    assert targets[0].tolist() == [[11, IGNORE, IGNORE, IGNORE], [IGNORE, IGNORE, IGNORE, IGNORE]]


def test_stdlib_corpus_is_deterministic_and_sized():
    text = python_stdlib_text()
    assert text == python_stdlib_text()
    assert 1_000_000 < len(text) < 2_500_000
    assert "def " in text and "class " in text


def test_stories_are_seeded_and_about_a_megabyte():
    a, b, c = stories_text(seed=0), stories_text(seed=0), stories_text(seed=1)
    assert a == b and a != c
    assert 950_000 < len(a) < 1_100_000
    assert "Once upon a time" in a


def test_split_is_90_10_by_position():
    corpus = load_corpus("stories")
    assert abs(len(corpus.train_text) / len(corpus.text) - 0.9) < 1e-3
    assert corpus.train_text + corpus.val_text == corpus.text


def test_tokenizer_round_trip_and_unknown_characters_are_named():
    tok = CharTokenizer.from_text("hello world")
    assert tok.decode(tok.encode("hello")) == "hello"
    with pytest.raises(UnknownCharactersError) as info:
        tok.encode("hello, Zoë")
    message = str(info.value)
    for ch in [",", "Z", "ë"]:
        assert repr(ch) in message
    assert info.value.unknown == [",", "Z", "ë"]


@pytest.mark.parametrize("raw, words", [
    (b"", "empty"), (b"  \n ", "empty"), (b"\x00\x01\x02binary", "binary"), (b"caf\xe9 au lait", "UTF-8"),
])
def test_bad_corpus_bytes_get_one_line_errors(raw, words):
    with pytest.raises(TinyMTPError, match=words):
        corpus_from_bytes(raw, "upload.txt")


def test_missing_corpus_file_is_named(tmp_path):
    with pytest.raises(TinyMTPError, match="not found"):
        load_corpus(str(tmp_path / "nope.txt"))


def test_corpus_shorter_than_a_window_is_refused():
    corpus = corpus_from_bytes(b"abcdefghij" * 10, "short.txt")
    with pytest.raises(TinyMTPError, match="too short"):
        check_long_enough(corpus, context_length=32, n_heads=4)
    check_long_enough(corpus, context_length=4, n_heads=2)  # long enough: no error


def test_corpus_snippets_are_deterministic_pieces_of_the_text():
    text = "".join(f"line {i}: some text here\n" for i in range(200))
    snippets = corpus_snippets(text, count=5, length=30, seed=3)
    assert snippets == corpus_snippets(text, count=5, length=30, seed=3)
    assert 1 <= len(snippets) <= 5
    for s in snippets:
        assert s in text and len(s) <= 30 and s.startswith("line")
    assert corpus_snippets("", 3) == []
    with pytest.raises(TinyMTPError):
        corpus_snippets(text, count=0)
