# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Speculative sampling
#
# Greedy decoding always takes the top token, so checking a draft is easy: is it head 1's top token?
# When the model *samples* (temperature > 0), there is no single right token: head 1 gives a
# distribution p, and the output should be a draw from p. A draft from head k comes from another
# distribution, q. Which drafts can we keep, and how do we fill in after a rejection, so that the
# output is still distributed *exactly* like plain sampling from p?
#
# The answer is the speculative sampling rule (Leviathan et al. 2023; Chen et al. 2023). It is three
# lines long, and this notebook takes it apart.
#
# **At the end of this notebook you will be able to**
# - state the rule (accept with min(1, p/q), else draw from the residual), read it in Leviathan et
#   al.'s Algorithm 1 and in tinymtp's code, and prove it keeps the distribution exact;
# - write the acceptance test, the residual and then a **whole sampled round** (residual and bonus
#   token included) yourself, checked token for token against the library;
# - check the rule empirically on your own model from notebook 04 (or the shipped one), with enough
#   runs that the exact sampler and a wrong rule land clearly apart;
# - read the acceptance of a sampling run (both rates, and the acceptance length) next to greedy's,
#   and how it moves with the temperature.
#
# The code behind this notebook is `tinymtp/decoding/sampling.py` (the rule), `verify_sampled` in
# `tinymtp/decoding/speculative.py` (the round) and `tinymtp/analysis/exactness.py` (the check).
#
# **Mind the letters.** Here, as in tinymtp's code, **p is always the main model (head 1)** and **q
# the drafter** (head k, or a draft model). Some papers and codebases swap the two letters.

# %%
import math
import os
from collections import Counter

import torch

from tinymtp import viz
from tinymtp.analysis.exactness import second_token_check
from tinymtp.analysis.speedup import BenchPlan, heldout_prompts, measure_decoding
from tinymtp.decoding.decode import generate
from tinymtp.decoding.sampling import accept_exact, residual, sample, uniform
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.exercises import check
from tinymtp.files.checkpoint import load_checkpoint
from tinymtp.files.paths import SHIPPED_MODEL_NAME, checkpoints_dir, learner_model

FAST = os.environ.get("TINYMTP_FAST") == "1"  # the tests set this: fewer draws
torch.set_num_threads(1)  # a model this small runs faster and steadier on one thread (notebook 04)
torch.set_printoptions(precision=4)

MODEL = learner_model()  # your runs/my-model once notebook 04 saved it; else the shipped mtp-4head
print("sections 6 and 7 sample from", MODEL.describe())

# %% [markdown]
# ## 1. The rule
#
# For each drafted token x (drawn from q), with p the main model's distribution at that position:
#
# 1. draw u uniformly from [0, 1) and **accept x if u < min(1, p(x) / q(x))**;
# 2. on the first rejection, **draw a replacement from the residual** r = norm(max(0, p - q)) (the
#    part of p that q does not cover, rescaled to sum to 1), and end the round;
# 3. if every draft was accepted, draw one **bonus** token from p at the position after the last one.
#
# Where the drafter is at least as likely as the main model to pick x (q(x) ≥ p(x)), x is kept with
# probability p(x)/q(x): just enough of it survives. Where the drafter is *less* likely than the main
# model (q(x) < p(x)), x is always kept, and the residual tops up the missing mass p(x) - q(x).
#
# **The same, as Leviathan et al. 2023 write it** (their Algorithm 1, `SpeculativeDecodingStep`; their
# M_p is the target model, our head 1, and M_q the approximation, our drafter, so the letters agree
# with ours). With γ drafts x_1 .. x_γ after a prefix, each line beside the line of tinymtp that does it:
#
# | Algorithm 1 | tinymtp |
# |---|---|
# | $x_i \sim q_i(x)$, $i = 1..\gamma$ | `drafter.draft(...)` (`decoding/drafters.py`): head $i+1$'s distribution at the last kept position, sampled |
# | $p_1(x), \dots, p_{\gamma+1}(x) \leftarrow M_p(\text{prefix}), \dots, M_p(\text{prefix} + [x_1, \dots, x_\gamma])$ | one forward: `p = probabilities(head1_logits, ...)` in `verify_sampled` (`decoding/speculative.py`), shape $(\gamma + 1, V)$ |
# | $r_i \sim U(0, 1)$; $\; n \leftarrow \min\big(\{\, i - 1 \mid 1 \le i \le \gamma,\ r_i > \tfrac{p_i(x_i)}{q_i(x_i)} \,\} \cup \{\gamma\}\big)$ | `u = uniform(run.generator)`; `ok = run.accept_rule(p_x, q_x, u)`, i.e. `accept_exact`: $u \cdot q(x) < p(x)$ (`decoding/sampling.py`) |
# | $p'(x) \leftarrow p_{n+1}(x)$; if $n < \gamma$: $p'(x) \leftarrow \operatorname{norm}\big(\max(0,\ p_{n+1}(x) - q_{n+1}(x))\big)$ | `leftover = residual(p[i], q[i])` on the first rejection; else the bonus row `p[len(drafts)]` |
# | $t \sim p'(x)$; return $\text{prefix} + [x_1, \dots, x_n, t]$ | `sample(leftover, ...)` or `sample(p[len(drafts)], ...)`; `committed = drafts[:accepted] + [token]` |
#
# Two differences of form, none of substance: Algorithm 1 draws all γ uniforms up front, tinymtp one
# per draft it actually tests (an untested draft's u would be thrown away); and with MTP heads the
# drafter's $q_i$ does not depend on $x_1 .. x_{i-1}$ (head k reads only the kept position), which the
# proof below allows, since each draft is tested against exactly the q it was drawn from.
#
# ## 2. Why it is exact
#
# The probability that the output at this position is x has two parts: the draft was x and was
# accepted, or a draft was rejected and the residual gave x.
#
# - Accepted x: q(x) · min(1, p(x)/q(x)) = **min(p(x), q(x))**.
# - A rejection happens with probability 1 - Σ_y min(p(y), q(y)) = Σ_y max(0, p(y) - q(y)), because p
#   and q both sum to 1. The residual then gives x with probability
#   max(0, p(x) - q(x)) / Σ_y max(0, p(y) - q(y)). Multiplied: **max(0, p(x) - q(x))**.
#
# Together: min(p(x), q(x)) + max(0, p(x) - q(x)) = **p(x)**, for every x. The draft's distribution
# q only changes *how often* we accept, never *what* comes out. A better drafter (q closer to p)
# means fewer rejections, so more tokens per forward, but the output is the same in distribution.
#
# One subtlety with MTP heads as the drafter: head k's distribution depends only on the context up to
# the round's start, not on the earlier drafts of the same round. That is allowed, as long as each
# draft is drawn from exactly the q used in its own test.
#
# ## 3. A worked example
#
# Three tokens, `a`, `b`, `c`. The main model says p = (0.5, 0.3, 0.2); the drafter says
# q = (0.2, 0.6, 0.2).
#
# **Exercise 1 (predict, then run).** Before running the next cells: what is the overall probability
# that a draft from q is accepted? Write your prediction; the cell after the check prints it.

# %%
answer = None  # a number between 0 and 1
check("07.acceptance_rate", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Σ_x q(x) · min(1, p(x)/q(x)) = Σ_x min(p(x), q(x)) = 0.2 + 0.3 + 0.2 = 0.7: the printed
# P(reject) is 0.30. The closer q is to p, the closer this gets to 1 (it is 1 minus the total
# variation distance between p and q).
# </details>

# %%
labels = ["a", "b", "c"]
p = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
q = torch.tensor([0.2, 0.6, 0.2], dtype=torch.float64)
keep = torch.clamp(p / q, max=1.0)  # probability of accepting each draft
survive = q * keep  # = min(p, q): mass that comes out as an accepted draft
rejected = 1 - survive.sum()
r = torch.clamp(p - q, min=0) / torch.clamp(p - q, min=0).sum()  # the residual
output = survive + rejected * r
for name, values in [("accept prob min(1, p/q)", keep), ("accepted mass min(p, q)", survive),
                     ("residual r", r), ("output distribution", output)]:
    print(f"{name:26}", values.tolist())
print(f"P(reject) = {rejected.item():.2f}")

# %% [markdown]
# Read it: a drafted `a` is always kept (q(a) = 0.2 < p(a) = 0.5); a drafted `b` is kept half the time
# (0.3 / 0.6); a drafted `c` always (p = q). 70% of drafts are kept. The 30% rejections all turn into
# `a` (the residual is (1, 0, 0)), which brings `a` from 0.2 up to 0.5. The output is exactly p.
#
# The library's residual gives the same:

# %%
assert torch.allclose(residual(p, q), r)
assert torch.allclose(output, p)
print("residual(p, q) =", residual(p, q).tolist(), "  output == p")


# %% [markdown]
# ## 4. The two pieces, written by you, and an empirical check
#
# **Exercise 2 (code).** Write `accept(p_x, q_x, u)`: True when a draft x with main-model probability
# `p_x` and drafter probability `q_x` is kept, given the uniform draw `u` in [0, 1). The check
# compares with `tinymtp.decoding.sampling.accept_exact` on hidden triples, edge cases included (p(x) = 0,
# p(x) ≥ q(x), u = 0).

# %%
def accept(p_x, q_x, u):
    raise NotImplementedError  # replace this line with your code


check("07.accept", accept)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def accept(p_x, q_x, u):
#     return u < min(1.0, p_x / q_x)
# ```
#
# q(x) > 0 always, since x was drawn from q. The library writes the same test as `u * q_x < p_x`,
# which needs no division. Swapping the letters (q / p) keeps what the drafter over-proposes, and the
# output leans toward q.
# </details>
#
# **Exercise 3 (code).** Write `residual_mine(p, q)` (not `residual`, which would hide the library's
# function that the cells below use): the distribution a rejected draft's replacement is drawn from,
# norm(max(0, p - q)), for two (V,) float tensors. One case needs care: if p equals q
# there is nothing left over (the sum is 0, and 0 / 0 is nan); a rejection cannot happen then, but
# rounding can still bring you here, and the right answer is p itself. The check compares with
# `tinymtp.decoding.sampling.residual` on hidden pairs.

# %%
def residual_mine(p, q):
    raise NotImplementedError  # replace this line with your code


check("07.residual", residual_mine)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def residual_mine(p, q):
#     extra = torch.clamp(p - q, min=0)  # (V,)
#     total = extra.sum()
#     return extra / total if total > 0 else p
# ```
# </details>
#
# Now draw. One speculative step, from the library's pieces (`accept_exact` and `residual` are the
# functions you just rewrote):

# %%
def speculative_step(p, q, generator):
    x = sample(q, generator)  # the draft, from q
    u = float(torch.rand((), generator=generator, dtype=torch.float64))
    if accept_exact(float(p[x]), float(q[x]), u):
        return x  # accepted
    return sample(residual(p, q), generator)  # the replacement


# %%
draws = 4_000 if FAST else 40_000
g = torch.Generator().manual_seed(1)
counts = Counter(speculative_step(p, q, g) for _ in range(draws))
observed = [counts[i] / draws for i in range(3)]
print("observed:", [round(v, 3) for v in observed], "  target p:", p.tolist())
viz.distributions({"p (the target)": p.tolist(), "q (the drafter)": q.tolist(),
                   f"speculative sampling, {draws:,} draws": observed}, labels,
                  title="The output follows p, not q")

# %%
noise = math.sqrt(float(p.max()) * (1 - float(p.max())) / draws)
print(f"chance alone moves each frequency by about sqrt(p(1-p)/N) = {noise:.4f} here (p = {float(p.max())}, N = {draws:,}); "
      f"the largest difference above is {max(abs(o - t) for o, t in zip(observed, p.tolist())):.4f}")

# %% [markdown]
# With N draws, each observed frequency is off by about √(p(1-p)/N) from the truth by chance alone,
# as the line above computes: the differences are of that size.
#
# ## 5. A rule that looks almost right
#
# Suppose we keep the acceptance test but, after a rejection, draw the replacement **from p** instead
# of the residual. That sounds harmless (p is what we want, after all), but it counts p twice: the
# accepted drafts already gave each token min(p, q), and the replacement adds P(reject) · p on top.

# %%
naive = survive + rejected * p  # accept with min(1, p/q), replace from p
always = q  # or: accept every draft
print("replace from p:   ", [round(v, 3) for v in naive.tolist()])
print("accept everything:", q.tolist())
print("target p:         ", p.tolist())
viz.distributions({"p (the target)": p.tolist(), "replace from p (wrong)": naive.tolist(),
                   "accept every draft (wrong)": always.tolist()}, labels,
                  title="Two rules that change the output distribution")

# %% [markdown]
# The first wrong rule gives too little `a` (0.35 instead of 0.5) and too much `b` and `c`: the output
# leans toward the drafter. Accepting everything simply samples from the drafter. Neither is a
# faster way to sample from the model; they sample from *another* model. (Medusa's "typical
# acceptance", a looser test that accepts plausible drafts, is not exact either: it trades exactness
# for more accepted tokens, on purpose.)
#
# ## 6. The whole round, written by you
#
# **Exercise 4 (code, the capstone).** Put the pieces together: write `sampled_round(drafts, q, p,
# generator)`, the tokens one round of exact speculative sampling commits. `drafts` holds the j
# drafted token ids, draft i drawn from `q[i]`; `q` (j, V) holds the drafter's distributions; `p`
# (j + 1, V) holds head 1's distribution after each fed token, the sure token's first, so draft i is
# tested against `p[i]` and a bonus token comes from `p[j]`. Return the kept drafts followed by the
# replacement or the bonus token: Algorithm 1's $[x_1, \dots, x_n, t]$.
#
# The check compares your tokens, one by one, with the library's `verify_sampled` on hidden rounds,
# each with its own seeded `generator`, so take your random numbers in the library's order, from
# the library's two helpers: for each draft you test, in order, `u = uniform(generator)`; at the
# first rejection, `sample(residual(p[i], q[i]), generator)`; if every draft was kept,
# `sample(p[j], generator)`. When your result is exactly what a common slip gives (testing drafts
# after the first rejection, forgetting the bonus token, replacing from p instead of the residual,
# the letters swapped), the check names it.

# %%
def sampled_round(drafts, q, p, generator):
    raise NotImplementedError  # replace this line with your code


check("07.sampled_round", sampled_round)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def sampled_round(drafts, q, p, generator):
#     committed = []
#     for i, x in enumerate(drafts):
#         u = uniform(generator)
#         if u < min(1.0, float(p[i, x]) / float(q[i, x])):  # accept_exact(p[i, x], q[i, x], u)
#             committed.append(x)
#         else:  # the first rejection: the replacement comes from the leftover mass of p, and the round ends
#             return committed + [sample(residual(p[i], q[i]), generator)]
#     return committed + [sample(p[len(drafts)], generator)]  # every draft kept: the bonus token
# ```
#
# With j = 0 (no drafts) the round is a plain sampling step: one draw from `p[0]`.
# </details>
#
# ## 7. On the trained model
#
# `generate(..., mode="speculative-sample")` runs these rounds with the heads as drafters. Its trace
# records, for every draft, q (the head's probability), p (head 1's), the uniform draw u and the
# verdict:

# %%
checkpoint = load_checkpoint(str(MODEL.path))
model, tokenizer = checkpoint.model, checkpoint.tokenizer
prompt = "    if "
result = generate(model, tokenizer, prompt, DecodeSettings("speculative-sample", 60, temperature=1.0, top_k=5, seed=0))
print(repr(prompt + result.text))
first = result.trace.rounds[1]
for row in viz.round_rows(first):
    numbers = f"q={row['q (drafter)']:.3f} p={row['p (draft under verifier)']:.3f}"
    rule = f"u={row['u']:.3f} vs min(1, p/q)={row['min(1, p/q)']:.3f}" if "u" in row else ""
    print(f"{row['drafted by']} drafted {row['draft']!r}: {numbers} {rule} -> {row['verdict']}")
viz.speculative_round(first, tokenizer)

# %% [markdown]
# **Is it exact on this model?** Take the **second** generated character, the first one a head
# drafts. Its exact distribution under plain sampling can be computed: for every possible first
# character c, p(c) times head 1's distribution after the prompt and c
# (`analysis.exactness.second_token_distribution`). Then decode three characters many times, one seed
# per run, with three samplers: plain sampling, exact speculative sampling, and speculative sampling
# with the letters swapped (u < min(1, q/p), the slip of section 4), and measure how far each one's
# counted second characters land from the exact distribution after N runs, for growing N
# (`second_token_check`). The yardstick is what chance alone gives an exact sampler after N draws
# (`chance_total_variation`): on average, and the distance it exceeds only one time in a hundred.
# (This is the notebook's longest cell.)

# %%
top_k, runs = 5, 120 if FAST else 2000
law = dict(temperature=1.0, top_k=top_k)
swapped = lambda p_x, q_x, u: u * p_x < q_x  # noqa: E731 (keep x when u < min(1, q/p): the slip)
samplers = {"plain sampling": DecodeSettings("sample", 3, **law),
            "speculative sampling": DecodeSettings("speculative-sample", 3, **law),
            "speculative, letters swapped (wrong)": DecodeSettings("speculative-sample", 3, accept_rule=swapped, **law)}
exactness = second_token_check(model, tokenizer.encode(prompt), samplers, runs=runs)
for N, chance, *distances in zip(exactness["runs"], exactness["chance"], *exactness["distance"].values()):
    shown = "  ".join(f"{name} {d:.3f}" for name, d in zip(exactness["distance"], distances))
    print(f"{N:5} runs: {shown}   | chance: mean {chance['mean']:.3f}, 99th percentile {chance['p99']:.3f}")
band = exactness["chance"][-1]["p99"]
for name, distances in exactness["distance"].items():
    where = "inside" if distances[-1] <= band else "outside"
    print(f"after {runs} runs, {name} lands {where} the band an exact sampler stays in 99 times in 100 "
          f"({distances[-1]:.3f}, {distances[-1] / band:.1f} times the band's edge)")
viz.exactness_figure(exactness)

# %% [markdown]
# Read the figure on its log-log axes. An exact sampler's distance falls along the band, like
# 1 / √N: more runs, closer to the law. Now and then one lands near the band's edge or just beyond
# it for a while (chance does that one time in a hundred at each N, and plain and speculative
# sampling share the first character of every seed, so they tend to wander together). The wrong
# rule's line does not fall: it flattens at its bias, how far the distribution it samples is from
# p, and more runs only make that clearer.
#
# ## 8. Sampling's acceptance, and the temperature
#
# A random draft from q agrees with a random draw from p less often than two argmaxes agree, so
# sampling usually keeps fewer drafts than greedy decoding; on the other hand sampled text does not
# fall into greedy's loops (notebook 06, section 7), so what sampling keeps is the heads' real skill.
# The temperature moves it: at low temperature p and q both sharpen toward their top tokens, and the
# round behaves more and more like greedy's; at high temperature both spread out. `measure_decoding`
# with several temperatures (exact speculative sampling against plain sampling, at each one, on
# held-out prompts; greedy's row beside them, with its text's repetition):

# %%
temperatures = (0.5, 1.0) if FAST else (0.5, 1.0, 1.5)
sweep_prompts = heldout_prompts(tokenizer, count=2 if FAST else 3, length=48)
sweep = measure_decoding(model, tokenizer, sweep_prompts, BenchPlan(max_new_tokens=32 if FAST else 100, repeats=1,
                                                                    temperatures=temperatures, seeds=1 if FAST else 2,
                                                                    draft_lens=(model.config.n_heads - 1,)))


def rates(row, key):
    return ", ".join("n/a" if r is None else f"{r:.0%}" for r in row[key])


for row in sweep["sampled_sweep"]:
    if row["mode"] == "speculative-sample":
        print(f"T = {row['temperature']:<4g} {row['tokens_per_forward']:.2f} ± {row['standard_error'] or 0:.2f} tokens/forward, "
              f"acceptance length {row['acceptance_length']:.2f}; heads 2..n conditional {rates(row, 'acceptance_conditional')}, "
              f"share of rounds {rates(row, 'acceptance_share_of_rounds')}; {row['speedup']:.2f}x plain sampling")
g = sweep["modes"]["speculative"]
print(f"greedy   {g['tokens_per_forward']:.2f} tokens/forward ({g['tokens_per_forward_before_loop']:.2f} before its loops; "
      f"{g['distinct_8']:.0%} of its 8-character pieces distinct), acceptance length {g['acceptance_length']:.2f}; "
      f"heads 2..n conditional {rates(g, 'acceptance_conditional')}")
shipped = load_checkpoint(str(checkpoints_dir() / SHIPPED_MODEL_NAME))  # the same prompts and plan, at T = 1 only
at_one = measure_decoding(shipped.model, shipped.tokenizer, sweep_prompts,
                          BenchPlan(max_new_tokens=32 if FAST else 100, repeats=1, temperatures=(1.0,),
                                    seeds=1 if FAST else 2, draft_lens=(shipped.model.config.n_heads - 1,)))["sampled"]
print(f"shipped {SHIPPED_MODEL_NAME}, T = 1: {at_one['tokens_per_forward']:.2f} ± {at_one['standard_error'] or 0:.2f} "
      f"tokens/forward, heads 2..n conditional {rates(at_one, 'acceptance_conditional')}")
if not MODEL.is_own:
    print("(the rows above are the shipped model too: train your own in notebook 04 to compare)")
viz.acceptance_by_temperature(sweep)

# %% [markdown]
# Both acceptance rates are shown (notebook 06, section 6): the **conditional** rate of head k (kept,
# given heads 2..k-1 were kept) and its **share of rounds** (kept, out of all the rounds that
# drafted); the **acceptance length** counts the tokens each verifying round commits, the corrected
# or bonus token included. The sampled rows carry a standard error over their runs (prompts x
# seeds): a difference smaller than a couple of those is noise. Compare the greedy row's figure
# before its loops with the sampled rows: that, not greedy's full figure, is the fair comparison. The
# last row is the shipped model at temperature 1 on the same prompts: your model against it, like with
# like.
#
# ## Exercises
#
# Exercises 1 to 4 are above (sections 3, 4 and 6).
#
# ## Recap
#
# - p = head 1 (the main model), q = the drafter (head k); a draft x ~ q is kept when
#   u < min(1, p(x)/q(x)), u ~ Uniform[0, 1).
# - On the first rejection, the replacement is drawn from r = norm(max(0, p − q)) (p itself if the sum
#   is 0), and the round ends; if every draft was kept, a bonus token is drawn from p: Leviathan et
#   al.'s Algorithm 1, line for line `verify_sampled`.
# - Why exact: P(x) = min(p(x), q(x)) + (Σ_y max(0, p(y) − q(y))) · r(x) = min(p, q) + max(0, p − q)
#   = p(x).
# - P(a draft is kept) = Σ_x min(p(x), q(x)) = 1 − TV(p, q): q only changes how often, never what.
# - Replacing from p instead of r, swapping the letters, or accepting every draft samples from another
#   distribution: its distance to the exact law stops shrinking as the runs grow, an exact sampler's
#   falls like 1 / √N inside chance's band.
# - Sampling keeps fewer drafts than greedy, and the temperature moves it; report the conditional
#   rate or the share of rounds, and the acceptance length (bonus included) or drafts accepted per
#   round, saying which.
#
# ## Next
#
# Notebook **08_related_ideas** steps back: is MTP worth it for training, how does self-speculation
# compare with a separate draft model, and what did the papers find at different model sizes?
