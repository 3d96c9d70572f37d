"""The exercises of notebook 07_speculative_sampling (notebooks/07_speculative_sampling.py): right answers, hints, checks.

Two code exercises take the rule apart, each checked against tinymtp/decoding/sampling.py: the acceptance
test (`accept_exact`) on hidden (p(x), q(x), u), edge cases included, and the residual
distribution (`residual`) on hidden (p, q), the case p == q (a zero sum: nothing left over) included.
The third puts them together: one sampled round (Leviathan et al. 2023, Algorithm 1), checked token
for token against the library's `verify_sampled` (tinymtp/decoding/speculative.py) with the same
seeded generator, so the draws must come in the library's order: one u per tested draft, then the
replacement (from the residual) or the bonus token (from p after the last draft). Its slips name
the usual mistakes: testing drafts after the first rejection, forgetting the bonus token, drawing
the replacement from p instead of the residual, and the letters swapped (q / p).
"""

from __future__ import annotations

import torch

from ..decoding.sampling import accept_exact, residual, sample, uniform
from ..decoding.speculative import DecodeRun, verify_sampled
from .kinds import CodeExercise, Exercise, close


def accept(p_x: float, q_x: float, u: float) -> bool:
    """The library's answer: keep the draft x when u < min(1, p(x) / q(x))."""
    return accept_exact(p_x, q_x, u)


def _accept_the_ratio_the_wrong_way(p_x: float, q_x: float, u: float) -> bool:
    """A plausible slip: the letters swapped (q / p), which keeps what the drafter over-proposes."""
    return u < min(1.0, q_x / p_x) if p_x > 0 else True


def _accept_cases(generator: torch.Generator) -> list[dict]:
    # random triples, then the edges: p(x) = 0 (never kept), p(x) >= q(x) (always kept), u = 0
    values = torch.rand(12, 3, generator=generator, dtype=torch.float64).tolist()
    cases = [{"p_x": p, "q_x": max(q, 0.01), "u": u} for p, q, u in values]
    cases += [{"p_x": 0.0, "q_x": 0.3, "u": 0.0}, {"p_x": 0.5, "q_x": 0.2, "u": 0.99},
              {"p_x": 0.2, "q_x": 0.2, "u": 0.999}, {"p_x": 0.1, "q_x": 0.8, "u": 0.0},
              {"p_x": 0.1, "q_x": 0.8, "u": 0.2}]
    return cases


def _residual_without_guard(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """A plausible slip: no guard for the zero sum, so p == q gives 0 / 0 = nan."""
    extra = torch.clamp(p - q, min=0)  # (V,)
    return extra / extra.sum()


def _residual_cases(generator: torch.Generator) -> list[dict]:
    # random pairs over small vocabularies, one where q is p itself (the guard), and the worked
    # example of the notebook first (readable if it goes wrong)
    cases = [{"p": torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64),
              "q": torch.tensor([0.2, 0.6, 0.2], dtype=torch.float64)}]
    for V in (4, 7, 2, 10):
        p = torch.softmax(torch.randn(V, generator=generator, dtype=torch.float64), -1)  # (V,)
        q = torch.softmax(torch.randn(V, generator=generator, dtype=torch.float64), -1)  # (V,)
        cases.append({"p": p, "q": q})
    same = torch.softmax(torch.randn(5, generator=generator, dtype=torch.float64), -1)  # (V,)
    cases.append({"p": same, "q": same.clone()})
    return cases


def sampled_round(drafts: list, q: torch.Tensor, p: torch.Tensor, generator: torch.Generator) -> list:
    """The library's answer: the tokens one exact speculative-sampling round commits.

    drafts: j tokens, draft i drawn from q[i]; q (j, V): the drafter's distributions; p (j + 1, V):
    head 1's distribution after each fed token (the sure token's first), so draft i is tested
    against p[i] and the bonus token comes from p[j]. Runs the library's `verify_sampled` on
    log p (whose softmax is p) with the same generator."""
    j = len(drafts)
    run = DecodeRun(max_new_tokens=j + 1, temperature=1.0, generator=generator)
    verdict = verify_sampled(p.log(), list(drafts), q, labels=list(range(2, j + 2)), run=run)
    return list(drafts[: verdict.accepted]) + [verdict.token]


def _round(drafts, q, p, generator, stop_at_rejection=True, bonus=True, replace_from="residual",
           keep=accept_exact) -> list:
    """A sampled round with each step a parameter: a slip is this round with one step changed."""
    committed = []
    for i, x in enumerate(drafts):
        if keep(float(p[i, x]), float(q[i, x]), uniform(generator)):
            committed.append(x)
            continue
        fill = residual(p[i], q[i]) if replace_from == "residual" else p[i]
        committed.append(sample(fill, generator))
        if stop_at_rejection:
            return committed
    return committed + ([sample(p[len(drafts)], generator)] if bonus else [])


SAMPLED_SLIPS = (
    ("a round that goes on testing drafts after the first rejection",
     lambda d, q, p, g: _round(d, q, p, g, stop_at_rejection=False)),
    ("a round that forgets the bonus token when every draft is kept",
     lambda d, q, p, g: _round(d, q, p, g, bonus=False)),
    ("a round that draws the replacement from p instead of the residual norm(max(0, p - q))",
     lambda d, q, p, g: _round(d, q, p, g, replace_from="p")),
    ("a round that keeps a draft when u < min(1, q(x) / p(x)) (the letters swapped)",
     lambda d, q, p, g: _round(d, q, p, g, keep=lambda p_x, q_x, u: u * p_x < q_x)),
)


def _sampled_round_cases(generator: torch.Generator) -> list[dict]:
    # rounds over small vocabularies: drafts drawn from q, q close to p (most drafts kept: bonuses
    # happen) or far from it (rejections early), no drafts at all (the bonus alone), and a draft
    # that p cannot produce (always rejected); each case carries its own seeded generator
    cases = []
    for j, V, closeness in [(3, 5, 0.9), (3, 6, 0.2), (1, 4, 0.95), (0, 5, 0.5), (4, 8, 0.8), (2, 3, 0.0),
                            (3, 4, 0.97), (5, 6, 0.7), (2, 4, 0.1), (1, 3, 0.0), (3, 5, 0.3)]:
        p = torch.softmax(2 * torch.randn(j + 1, V, generator=generator, dtype=torch.float64), -1)  # (j+1, V)
        other = torch.softmax(2 * torch.randn(j, V, generator=generator, dtype=torch.float64), -1)  # (j, V)
        q = closeness * p[:j] + (1 - closeness) * other  # (j, V): a drafter near p or far from it
        drafts = [int(torch.multinomial(q[i], 1, generator=generator)) for i in range(j)]
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        cases.append({"drafts": drafts, "q": q, "p": p, "generator": torch.Generator().manual_seed(seed)})
    impossible = torch.tensor([[0.0, 0.3, 0.7], [0.2, 0.3, 0.5]], dtype=torch.float64)  # (2, 3): p[0] never gives 0
    cases.append({"drafts": [0], "q": torch.tensor([[0.6, 0.2, 0.2]], dtype=torch.float64), "p": impossible,
                  "generator": torch.Generator().manual_seed(7)})
    # the drafter always proposes token 1, which p gives half the time: after a rejection the residual
    # never gives token 1 again, where a draw from p would give it half the time
    over = torch.tensor([[0.1, 0.5, 0.4], [0.3, 0.3, 0.4]], dtype=torch.float64)  # (2, 3)
    for seed in range(1, 11):
        cases.append({"drafts": [1], "q": torch.tensor([[0.0, 1.0, 0.0]], dtype=torch.float64), "p": over,
                      "generator": torch.Generator().manual_seed(seed)})
    return cases


EXERCISES = {
    "07.accept": CodeExercise(
        "Write accept(p_x, q_x, u): is the draft x kept, for the main model's p(x), the drafter's q(x) "
        "and a uniform draw u?",
        "keep x when u < min(1, p(x) / q(x)); p is head 1 (the main model), q the drafter",
        reference=accept, cases=_accept_cases, wrong=_accept_the_ratio_the_wrong_way),
    "07.residual": CodeExercise(
        "Write residual(p, q): the distribution a rejected draft's replacement is drawn from.",
        "norm(max(0, p - q)): subtract, clip negatives to 0, divide by the sum; when the sum is 0 "
        "(p == q) return p itself",
        reference=residual, cases=_residual_cases, wrong=_residual_without_guard, compare=close(1e-9, 1e-12)),
    "07.acceptance_rate": Exercise(
        "Overall probability that a draft from q is accepted, for p = [0.5, 0.3, 0.2], q = [0.2, 0.6, 0.2]?",
        "sum over x of q(x) * min(1, p(x)/q(x)) = sum of min(p(x), q(x))", lambda: 0.7, 1e-6),
    "07.sampled_round": CodeExercise(
        "Write sampled_round(drafts, q, p, generator): the tokens one exact speculative-sampling round commits.",
        "for each draft x in order: u = uniform(generator), keep x when u < min(1, p[i][x] / q[i][x]); at the "
        "first rejection draw the replacement with sample(residual(p[i], q[i]), generator) and stop; if every "
        "draft was kept, add a bonus token sample(p[len(drafts)], generator)",
        reference=sampled_round, cases=_sampled_round_cases, wrong=SAMPLED_SLIPS[0][1], slips=SAMPLED_SLIPS),
}
