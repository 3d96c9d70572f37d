"""The repetition measure that sits beside tokens per forward (repetitive text is easy to draft)."""

from tinymtp.analysis.repetition import distinct_ngram_share, mean_distinct_share


def test_a_loop_has_few_distinct_pieces_and_fresh_text_has_all():
    assert distinct_ngram_share(list(range(20)), 8) == 1.0  # every 8-gram occurs once
    loop = [1, 2, 3] * 10  # 30 tokens, 23 8-grams, only 3 different ones
    assert distinct_ngram_share(loop, 8) == 3 / 23
    assert distinct_ngram_share([1, 2, 3], 8) is None  # too short to hold one 8-gram


def test_the_mean_counts_each_output_on_its_own():
    assert mean_distinct_share([list(range(20)), [1, 2, 3] * 10], 8) == round((1.0 + 3 / 23) / 2, 4)
    assert mean_distinct_share([[1, 2]], 8) is None
