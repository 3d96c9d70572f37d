"""The exercises of notebook 07_speculative_sampling (notebooks/07_speculative_sampling.py): right answers, hints, checks."""

from __future__ import annotations

from tinymtp.exercises.kinds import Exercise


def _residual(p, q) -> list:
    extra = [max(0.0, a - b) for a, b in zip(p, q)]
    total = sum(extra)
    return [e / total for e in extra]


EXERCISES = {
    "07.accept_probability": Exercise(
        "p(x) = 0.3 and q(x) = 0.6: with what probability is draft x accepted?",
        "min(1, p(x) / q(x))", lambda: 0.5, 1e-6),
    "07.residual": Exercise(
        "The residual distribution norm(max(0, p - q)) for p = [0.5, 0.3, 0.2], q = [0.2, 0.6, 0.2]?",
        "subtract, clip negatives to 0, divide by the sum", lambda: _residual([0.5, 0.3, 0.2], [0.2, 0.6, 0.2]),
        1e-6),
    "07.acceptance_rate": Exercise(
        "Overall probability that a draft from q is accepted, for the same p and q?",
        "sum over x of q(x) * min(1, p(x)/q(x)) = sum of min(p(x), q(x))", lambda: 0.7, 1e-6),
}
