"""The exercises of notebook 06_self_speculative_decoding (notebooks/06_self_speculative_decoding.py): right answers, hints, checks."""

from __future__ import annotations

from tinymtp.exercises.kinds import Exercise

EXERCISES = {
    "06.accepted": Exercise(
        "Drafts 'e', 't', 'u' against the verifier's 'e', 't', 'x': how many drafts are kept?",
        "keep drafts while they equal the verifier's choice; stop at the first mismatch", lambda: 2),
    "06.cache_after": Exercise(
        "The cache held 40 positions; a round fed 4 tokens (sure + 3 drafts) and kept 1 draft: "
        "the cache length after rollback?",
        "keep the sure token and the accepted drafts; the next token is fed in the next round",
        lambda: 42),
    "06.tokens_per_forward": Exercise(
        "Your speculative run's tokens per forward (from trace.summary())?",
        "tokens / forwards, both from the summary", lambda summary: summary["tokens"] / summary["forwards"], 1e-3),
}
