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
# - state the rule (accept with min(1, p/q), else draw from the residual) and prove it keeps the
#   distribution exact;
# - write the acceptance test and the residual yourself, and check the rule empirically, on a small
#   example and on your own model from notebook 04 (or the shipped one);
# - show what goes wrong with a rule that looks almost the same;
# - read the acceptance of a sampling run (both rates, and the acceptance length) next to greedy's.
#
# The code behind this notebook is `tinymtp/decoding/sampling.py` (the rule) and `verify_sampled` in
# `tinymtp/decoding/speculative.py`.
#
# **Mind the letters.** Here, as in tinymtp's code, **p is always the main model (head 1)** and **q
# the drafter** (head k, or a draft model). Some papers and codebases swap the two letters.

# %%
import os
from collections import Counter

import torch

from tinymtp import viz
from tinymtp.analysis.noise import chance_total_variation, total_variation
from tinymtp.decoding.decode import generate
from tinymtp.decoding.sampling import accept_exact, probabilities, residual, sample
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.exercises import check
from tinymtp.files.checkpoint import load_checkpoint
from tinymtp.files.paths import SHIPPED_MODEL_NAME, checkpoints_dir, learner_model

FAST = os.environ.get("TINYMTP_FAST") == "1"  # the tests set this: fewer draws
torch.set_num_threads(1)  # a model this small runs faster and steadier on one thread (notebook 04)
torch.set_printoptions(precision=4)

MODEL = learner_model()  # your runs/my-model once notebook 04 saved it; else the shipped mtp-4head
print("section 6 samples from", MODEL.describe())

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

# %% [markdown]
# With N draws, each observed frequency is off by about √(p(1-p)/N) from the truth by chance alone
# (about 0.008 for 4,000 draws, 0.0025 for 40,000). The differences above are of that size.
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
# ## 6. On the trained model
#
# `generate(..., mode="speculative-sample")` uses this rule with the heads as drafters. Its trace
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
# And the empirical check on the model. Take the **second** generated character (the first one a
# head drafts). Its exact distribution under plain sampling can be computed: for every possible first
# character c, p(c) times head 1's distribution after the prompt and c.

# %%
ids = tokenizer.encode(prompt)
with torch.no_grad():
    first_p = probabilities(model(torch.tensor([ids]), heads=1).logits[0, -1, 0], 1.0, 5)  # (V,)
    exact = torch.zeros_like(first_p)  # (V,)
    for c in first_p.nonzero().flatten().tolist():
        after_c = model(torch.tensor([ids + [c]]), heads=1).logits[0, -1, 0]  # (V,)
        exact += first_p[c] * probabilities(after_c, 1.0, 5)
print("most likely second characters:", [(tokenizer.decode([i]), round(float(exact[i]), 3))
                                         for i in exact.argsort(descending=True)[:5].tolist()])

# %% [markdown]
# Now generate three characters many times with different seeds, by plain sampling and by
# speculative sampling, and count the second character. Both should match the exact distribution
# up to sampling noise. (This cell takes the longest in the notebook.)

# %%
runs = 60 if FAST else 1000
second = {mode: Counter(generate(model, tokenizer, prompt, DecodeSettings(mode, 3, temperature=1.0, top_k=5, seed=s)).text[1]
                        for s in range(runs)) for mode in ("sample", "speculative-sample")}
for mode in second:
    observed = torch.tensor([second[mode][ch] / runs for ch in tokenizer.vocab])  # (V,)
    print(f"{mode:19} total variation from exact: {total_variation(observed, exact):.3f}")
chance = chance_total_variation(exact, draws=runs)
print(f"chance alone, {runs} draws from the exact distribution: {chance['mean']:.3f} on average, "
      f"more than {chance['p95']:.3f} one time in twenty, more than {chance['p99']:.3f} one time in a hundred")
shown = [tokenizer.decode([i]) for i in exact.argsort(descending=True)[:8].tolist() if exact[i] > 0]
bars = {"exact": [float(exact[tokenizer.encode(ch)[0]]) for ch in shown]}
bars.update({f"{mode} ({runs} runs)": [second[mode][ch] / runs for ch in shown] for mode in second})
viz.distributions(bars, shown, title="The second generated character: exact, plain and speculative sampling")

# %% [markdown]
# The last line is the yardstick (`chance_total_variation` in `tinymtp/analysis/noise.py`): even an exact
# sampler misses by about that much, just by chance, with this many draws of this distribution. Plain
# and speculative sampling should both land near the average; one time in twenty an exact sampler
# lands beyond the second number, so with two samplers that happens about one run in ten, and beyond
# the third only one time in a hundred each. A wrong rule (section 5) would sit further away, and stay
# there as the number of runs grows (its distance does not shrink like the noise, as 1 / √runs).
#
# Sampling keeps some of the speed-up, but usually less than greedy decoding: a random draft from q
# agrees with a random draw from p less often than two argmaxes agree. Below, the same model and
# prompt decoded both ways, 200 tokens each (60 in fast mode), and the same for the shipped
# `mtp-4head`, measured now. Both acceptance rates are shown (notebook 06, section 5): the
# **conditional** rate of head k (kept, given heads 2..k-1 were kept) and its **share of rounds**
# (kept, out of all the rounds that drafted); the **acceptance length** counts the tokens each
# verifying round commits, the corrected or bonus token included, and "drafts accepted per round"
# the same without it.

# %%
def acceptance_line(name, trace):
    s = trace.summary()
    conditional = ", ".join("n/a" if r is None else f"{r:.0%}" for r in s["acceptance_conditional"])
    share = ", ".join("n/a" if r is None else f"{r:.0%}" for r in s["acceptance_share_of_rounds"])
    return (f"{name:38} {s['tokens_per_forward']:.2f} tokens/forward, acceptance length {s['acceptance_length']:.2f} "
            f"({s['drafts_accepted_per_round']:.2f} drafts/round); heads 2..n conditional {conditional}, "
            f"share of rounds {share}")


shipped = load_checkpoint(str(checkpoints_dir() / SHIPPED_MODEL_NAME))
length = 60 if FAST else 200
for name, ck in [("this notebook's model", checkpoint), (f"shipped {SHIPPED_MODEL_NAME}", shipped)]:
    for mode in ("speculative", "speculative-sample"):
        run = generate(ck.model, ck.tokenizer, prompt, DecodeSettings(mode, length, temperature=1.0, top_k=5, seed=0))
        print(acceptance_line(f"{name}, {mode}", run.trace))
if not MODEL.is_own:
    print("(the first two rows are the shipped model too: train your own in notebook 04 to compare)")
viz.acceptance_per_head(result.trace, title="Speculative sampling, the first run above: share of rounds")

# %% [markdown]
# Read the rows in pairs. For each model, sampling accepts fewer drafts per round than greedy
# decoding, so it commits fewer tokens per forward: when this notebook was written, acceptance length
# 3.62 (greedy) against 2.05 (sampling) for notebook 04's 2000-step model, and 3.76 against 2.58 for
# the shipped one (3.49 against 2.26 before its heads were distilled toward head 1's distribution:
# docs/usage.md). Between the two models the order can go either way on one prompt: greedy text
# from a weak model can settle into an easy, repetitive stretch that its heads draft well (print
# the texts to see). One run of 200 sampled tokens is noisy: change `seed` and the sampling rows move
# by a few points.
#
# ## Exercises
#
# Exercises 1 to 3 are above (sections 3 and 4).
#
# ## Recap
#
# - p = head 1 (the main model), q = the drafter (head k); a draft x ~ q is kept when
#   u < min(1, p(x)/q(x)), u ~ Uniform[0, 1).
# - On the first rejection, the replacement is drawn from r = norm(max(0, p − q)) (p itself if the sum
#   is 0), and the round ends; if every draft was kept, a bonus token is drawn from p.
# - Why exact: P(x) = min(p(x), q(x)) + (Σ_y max(0, p(y) − q(y))) · r(x) = min(p, q) + max(0, p − q)
#   = p(x).
# - P(a draft is kept) = Σ_x min(p(x), q(x)) = 1 − TV(p, q): q only changes how often, never what.
# - Replacing from p instead of r, or accepting every draft, samples from another distribution.
# - Sampling accepts fewer drafts than greedy; report the conditional rate or the share of rounds, and
#   the acceptance length (bonus included) or drafts accepted per round, saying which.
#
# ## Next
#
# Notebook **08_related_ideas** steps back: is MTP worth it for training, how does self-speculation
# compare with a separate draft model, and what did the papers find at different model sizes?
