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
# - work it through by hand on a small example, and check it empirically, against the library's own
#   functions and on the trained model;
# - show what goes wrong with a rule that looks almost the same.
#
# The code behind this notebook is `tinymtp/sampling.py` (the rule) and `verify_sampled` in
# `tinymtp/speculative.py`.
#
# **Mind the letters.** Here, as in tinymtp's code, **p is always the main model (head 1)** and **q
# the drafter** (head k, or a draft model). Some papers and codebases swap the two letters.

# %%
import os
from collections import Counter
from pathlib import Path

import torch

import tinymtp
from tinymtp import viz
from tinymtp.checkpoint import load_checkpoint
from tinymtp.decode import generate
from tinymtp.exercises import check
from tinymtp.sampling import accept_exact, probabilities, residual

FAST = os.environ.get("TINYMTP_FAST") == "1"  # the tests set this: fewer draws
torch.set_num_threads(1)  # a model this small runs faster and steadier on one thread (notebook 04)
CHECKPOINTS = Path(tinymtp.__file__).resolve().parent.parent / "checkpoints"
torch.set_printoptions(precision=4)

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
# ## 4. An empirical check, from scratch
#
# Now draw. Here is one speculative step written from scratch, and a check that its acceptance test
# agrees with the library's `accept_exact` on many random (p(x), q(x), u):

# %%
def speculative_step(p, q, generator):
    x = int(torch.multinomial(q, 1, generator=generator))  # the draft, from q
    u = float(torch.rand((), generator=generator, dtype=torch.float64))
    if u < min(1.0, float(p[x] / q[x])):
        return x  # accepted
    leftover = torch.clamp(p - q, min=0)  # (V,)
    return int(torch.multinomial(leftover / leftover.sum(), 1, generator=generator))  # the replacement


g = torch.Generator().manual_seed(0)
for _ in range(1000):
    p_x, q_x, u = torch.rand(3, generator=g, dtype=torch.float64).tolist()
    q_x = max(q_x, 1e-6)
    assert (u < min(1.0, p_x / q_x)) == accept_exact(p_x, q_x, u)
print("my acceptance test agrees with tinymtp.sampling.accept_exact")

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
checkpoint = load_checkpoint(str(CHECKPOINTS / "mtp-4head"))
model, tokenizer = checkpoint.model, checkpoint.tokenizer
prompt = "    if "
result = generate(model, tokenizer, prompt, mode="speculative-sample", max_new_tokens=60,
                  temperature=1.0, top_k=5, seed=0)
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
settings = dict(max_new_tokens=3, temperature=1.0, top_k=5)
second = {mode: Counter(generate(model, tokenizer, prompt, mode=mode, seed=s, **settings).text[1]
                        for s in range(runs)) for mode in ("sample", "speculative-sample")}
for mode in second:
    observed = torch.tensor([second[mode][ch] / runs for ch in tokenizer.vocab])  # (V,)
    print(f"{mode:19} total variation from exact: {0.5 * (observed - exact).abs().sum():.3f}")
shown = [tokenizer.decode([i]) for i in exact.argsort(descending=True)[:8].tolist() if exact[i] > 0]
bars = {"exact": [float(exact[tokenizer.encode(ch)[0]]) for ch in shown]}
bars.update({f"{mode} ({runs} runs)": [second[mode][ch] / runs for ch in shown] for mode in second})
viz.distributions(bars, shown, title="The second generated character: exact, plain and speculative sampling")

# %% [markdown]
# Noise alone gives a total variation of about 0.03 on average for 1,000 runs of this distribution,
# and more than 0.05 only about one time in twenty (with the 60 runs of fast mode, about 0.13): plain
# and speculative sampling should both land within that distance of the exact distribution. A wrong
# rule (section 5) would sit further away, and stay there as N grows.
#
# Sampling keeps some of the speed-up, but usually less than greedy decoding: a random draft from q
# agrees with a random draw from p less often than two argmaxes agree. The acceptance rate per head
# of the run above:

# %%
print(result.trace.summary()["tokens_per_forward"], "tokens per forward")
viz.acceptance_per_head(result.trace)

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** A draft x has p(x) = 0.3 under the main model and q(x) = 0.6 under the drafter.
# With what probability is it accepted?

# %%
answer = None  # a number between 0 and 1
check("07.accept_probability", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# min(1, 0.3 / 0.6) = 0.5.
# </details>
#
# **Exercise 2.** For p = (0.5, 0.3, 0.2) and q = (0.2, 0.6, 0.2), what is the residual
# norm(max(0, p - q))? Answer with a list of 3 numbers.

# %%
answer = None  # a list of 3 numbers
check("07.residual", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# p - q = (0.3, -0.3, 0); clipped: (0.3, 0, 0); divided by the sum 0.3: **(1, 0, 0)**. Check with
# `residual(p, q)`.
# </details>
#
# **Exercise 3.** For the same p and q, what is the overall probability that a draft is accepted?

# %%
answer = None  # a number between 0 and 1
check("07.acceptance_rate", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Σ_x q(x) · min(1, p(x)/q(x)) = Σ_x min(p(x), q(x)) = 0.2 + 0.3 + 0.2 = 0.7. The closer q is to p,
# the closer this gets to 1.
# </details>
#
# ## What's next
#
# Notebook **08_related_ideas** steps back: is MTP worth it for training, how does self-speculation
# compare with a separate draft model, and what did the papers find at different model sizes?
