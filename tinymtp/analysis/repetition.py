"""How repetitive is a text? Distinct 8-character pieces, whitespace, and where a loop begins.

Tokens per forward measures how predictable the decoded text is to the drafter, and repetitive
text is predictable: a model caught in a loop keeps almost every draft, and prompt lookup, which
learns nothing, gains as much. Greedy continuations of a model this small fall into loops
("import sys" 28 times; whole lines of spaces), so every drafting figure is printed beside the
statistics of the text it was measured on (`text_statistics`), and beside the same statistics of
the corpus's own text after the same prompts (what the text "should" look like).

- `distinct_ngram_share`: distinct n-grams / all n-grams (n = 8). 1.0: every piece occurs once;
  near 0: a loop. Python source has about 84% distinct 8-character pieces in 256-character
  windows of the validation text (measured, tests/test_repetition.py holds the bound).
- whitespace share: spaces, newlines and tabs / all characters.
- `loop_start`: the first new token from which the continuation is one stretch written over and
  over to its end. Precisely: the smallest i such that, for some period p, every character from
  i + p on equals the one p before it, and that repeating tail text[i:] is at least
  `LOOP_MIN_CHARS` (64) characters long and holds at least two whole periods. Ordinary code
  repeats indentation and keywords, but not one stretch for 64 characters up to the end: the
  longest such tail in any 256-character window of the python-stdlib validation text is 49
  characters (43 spaces of aligned continuation lines; 48 for ".clear()\\n        _active" twice).
  A loop must reach the end of the text: greedy decoding, once its last 128 characters repeat,
  cannot leave (its context is the same every period), while sampled text may repeat for a
  while and then go on, which is not a loop. None: no loop.

Explained in notebooks/06_self_speculative_decoding.ipynb ("the repetition trap").
"""

from __future__ import annotations

LOOP_MIN_CHARS = 64  # a repeating tail shorter than this is ordinary code (see the docstring)
PIECE = 8  # the n of "distinct n-character pieces"


def distinct_ngram_share(tokens, n: int = PIECE) -> float | None:
    """Distinct n-grams / all n-grams of one sequence (a string or token ids); None when shorter than n."""
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


def mean_distinct_share(texts: list, n: int = PIECE) -> float | None:
    """The mean of distinct_ngram_share over several outputs (each counted on its own)."""
    return _mean(distinct_ngram_share(t, n) for t in texts)


def whitespace_share(text: str) -> float | None:
    """Spaces, newlines and tabs / all characters; None for an empty text."""
    return sum(c.isspace() for c in text) / len(text) if text else None


def loop_start(tokens, min_chars: int = LOOP_MIN_CHARS) -> int | None:
    """Index of the first token of the loop the sequence ends in, or None (see the module docstring)."""
    n, best = len(tokens), None
    for period in range(1, n // 2 + 1):
        j = n - 1
        while j - period >= 0 and tokens[j] == tokens[j - period]:
            j -= 1
        start = j + 1 - period  # tokens[start : start + period] is the stretch; from there on it repeats
        if n - start >= max(min_chars, 2 * period) and (best is None or start < best):
            best = start
    return best


def text_statistics(text: str) -> dict:
    """`distinct_8`, `whitespace` and `loop_start` of one continuation (each None when undefined)."""
    return {"distinct_8": _round(distinct_ngram_share(text)), "whitespace": _round(whitespace_share(text)),
            "loop_start": loop_start(text)}


def pooled_statistics(texts: list) -> dict:
    """Text statistics over several continuations: the means of distinct_8 and whitespace, the share
    of continuations that end in a loop (`looping`), and the mean loop start among those that do."""
    stats = [text_statistics(t) for t in texts]
    starts = [s["loop_start"] for s in stats if s["loop_start"] is not None]
    return {"distinct_8": _mean(s["distinct_8"] for s in stats), "whitespace": _mean(s["whitespace"] for s in stats),
            "looping": _round(len(starts) / len(stats)) if stats else None,
            "mean_loop_start": _round(sum(starts) / len(starts)) if starts else None}


def before_loop(rounds: list, start: int | None) -> tuple[int, int]:
    """(tokens, forwards) of a decoding run's rounds up to the loop: a round counts when its first
    committed token comes before `start` (the prefill included); every round when there is no loop."""
    tokens = forwards = made = 0
    for r in rounds:
        if start is not None and made >= start:
            break
        tokens, forwards, made = tokens + len(r.committed), forwards + 1, made + len(r.committed)
    return tokens, forwards


def loop_round(rounds: list, start: int | None) -> int | None:
    """Index (in `rounds`) of the round that committed the continuation's token `start` (a
    `loop_start`), counting committed tokens from the prefill on; None without a loop."""
    if start is None:
        return None
    made = 0
    for i, r in enumerate(rounds):
        made += len(r.committed)
        if made > start:
            return i
    return None


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return _round(sum(values) / len(values)) if values else None


def _round(value):
    return None if value is None else round(value, 4)
