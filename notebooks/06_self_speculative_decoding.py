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
# # 06 · Self-speculative decoding
#
# Plain (greedy) decoding runs the whole model once per generated token, and each run waits for the
# previous one. An MTP model has a way out: its extra heads already guess the next few tokens, for
# free, in the same forward pass. *Self-speculative decoding* (blockwise parallel decoding, Stern et
# al. 2018; used with MTP heads by Gloeckle et al. 2024) feeds those guesses back in **one** forward
# pass to check them all at once, and keeps every guess that head 1 agrees with. The output is
# token for token what greedy decoding gives; it just takes fewer forward passes.
#
# This notebook runs it on **your model from notebook 04** (or the shipped checkpoint if you have not
# trained one yet), has you write the whole decoder yourself, and then asks the question every
# speed-up figure must answer: *measured on what text?*
#
# **At the end of this notebook you will be able to**
# - run one round of self-speculative decoding by hand (draft, verify, accept, roll back the KV
#   cache), write the round's decision, and then **write the whole decoding loop yourself**, checked
#   token for token against greedy decoding and forward for forward against the library;
# - read a decoding trace round by round, and read acceptance two ways (conditional, and share of
#   rounds) and the acceptance length;
# - find where a greedy continuation falls into a loop, and explain why tokens per forward inside a
#   loop says nothing about the heads; quote the speed-up on corpus-like text first.
#
# The code behind this notebook is `tinymtp/decoding/speculative.py`, `tinymtp/decoding/decode.py`,
# `tinymtp/core/kvcache.py`, `tinymtp/decoding/trace.py` and `tinymtp/analysis/repetition.py`.

# %%
import os

import torch
from IPython.display import HTML, display

from tinymtp import viz
from tinymtp.analysis.repetition import before_loop, loop_round, pooled_statistics, text_statistics
from tinymtp.analysis.speedup import BenchPlan, heldout_continuations, heldout_prompts, measure_decoding
from tinymtp.data.corpora import load_corpus
from tinymtp.decoding.decode import generate
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.exercises import check
from tinymtp.files.checkpoint import load_checkpoint
from tinymtp.files.paths import SHIPPED_MODEL_NAME, checkpoints_dir, learner_model
from tinymtp.training.distill import DistillConfig, distill

FAST = os.environ.get("TINYMTP_FAST") == "1"  # the tests set this: shorter generations
torch.set_num_threads(1)  # a model this small runs faster and steadier on one thread (notebook 04)

MODEL = learner_model()  # your runs/my-model once notebook 04 saved it; else the shipped mtp-4head
print("decoding with", MODEL.describe())
checkpoint = load_checkpoint(str(MODEL.path))
model, tokenizer = checkpoint.model, checkpoint.tokenizer
n = model.config.n_heads
prompt = "class Queue:\n    def __init__(self"

# %% [markdown]
# ## 1. The KV cache, in one paragraph
#
# Generating token t+1 needs attention over all t earlier positions. Recomputing their keys and
# values every time would waste almost all the work, so every attention layer keeps them in a
# **KV cache** and a forward pass only computes the positions it is fed. `model.new_cache()` makes an
# empty one; `model(ids, cache=cache)` feeds `ids` after what the cache holds and advances
# `cache.length`; `cache.truncate(L)` forgets everything after the first L positions. That last
# operation is what speculative decoding needs.
#
# ## 2. One round, by hand
#
# The whole story in one picture, two rounds of a 4-head model (an illustration; the rest of the
# notebook runs the real thing):
#
# ![Two rounds of self-speculative decoding on a timeline: the sure token and three drafts fed in one forward, head 1's picks, a rejected draft struck out and cut from the KV cache, the corrected and the bonus token](../docs/speculative-timeline.svg)
#
# **Draft.** Feed the prompt once (the *prefill*). At its last position, head 1's top choice is the
# next token for sure: greedy decoding would pick it too. Heads 2..n at the same position guess the
# tokens after it: those are the **drafts**.

# %%
ids = tokenizer.encode(prompt)
cache = model.new_cache()
with torch.no_grad():
    last = model(torch.tensor([ids]), cache=cache).logits[0, -1]  # (n, V): every head at the last position
sure = int(last[0].argmax())  # head 1: the next token, for sure
drafts = last[1:].argmax(-1).tolist()  # heads 2..n: guesses for the tokens after it
print("cache length after the prefill:", cache.length)
print("sure token:", repr(tokenizer.decode([sure])), "  drafts:", repr(tokenizer.decode(drafts)))

# %% [markdown]
# **Verify.** Feed `[sure, draft 2, ..., draft n]` in ONE forward pass. Because attention is causal,
# head 1's output at each fed position is exactly what greedy decoding would produce next *if the
# tokens fed so far are right*. So head 1 at the sure token's position checks draft 2, head 1 at
# draft 2's position checks draft 3, and so on.
#
# **Accept.** Keep drafts while each equals head 1's choice; stop at the first mismatch. Head 1's
# choice at the stopping point is a free extra token: it *corrects* the first rejected draft, or, if
# every draft was kept, it is a **bonus** token after them.

# %%
before = cache.length
with torch.no_grad():
    verify = model(torch.tensor([[sure] + drafts]), cache=cache).logits[0]  # (1 + drafts, n, V): one row per fed token
choices = verify[:, 0].argmax(-1).tolist()  # head 1's greedy choice after each fed token
accepted = 0
while accepted < len(drafts) and drafts[accepted] == choices[accepted]:
    accepted += 1
next_token = choices[accepted]  # corrects the first rejected draft, or a bonus after all of them
committed = drafts[:accepted] + [next_token]  # what this round adds after the sure token
print("head 1 says:", repr(tokenizer.decode(choices)), "  drafts:", repr(tokenizer.decode(drafts)))
print(f"{accepted} of {len(drafts)} drafts accepted; the round adds {tokenizer.decode(committed)!r}")

# %% [markdown]
# **Exercise 1 (code).** Package that decision: write `greedy_round(drafts, head1_logits)`, which
# returns the list of tokens the round commits (the kept drafts, then head 1's corrected or bonus
# token). `drafts` is the list of the j drafted token ids; `head1_logits` (j + 1, V) is head 1 at
# each fed position, the sure token's first (like `verify[:, 0]` above). The check compares with the
# library's round logic (`verify_greedy` in `tinymtp/decoding/speculative.py`) on hidden
# rounds: all drafts kept, none kept, a mismatch in the middle, no drafts at all.

# %%
def greedy_round(drafts, head1_logits):
    raise NotImplementedError  # replace this line with your code


check("06.greedy_round", greedy_round)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def greedy_round(drafts, head1_logits):
#     choices = head1_logits.argmax(-1).tolist()  # head 1's pick after each fed token
#     kept = 0
#     while kept < len(drafts) and drafts[kept] == choices[kept]:
#         kept += 1
#     return drafts[:kept] + [choices[kept]]
# ```
#
# A draft that matches *after* a rejected one is not kept: it was checked against a context holding
# the rejected draft, so head 1's pick there is meaningless.
# </details>
#
# **Roll back.** The verify pass wrote keys and values for every fed token into the cache, including
# rejected drafts. Those must go: a rejected draft left in the cache would be "seen" by every later
# position. Keep the sure token and the accepted drafts; the corrected (or bonus) token has not been
# fed yet, and it is the next round's sure token. Its drafts come from the same verify pass, at the
# last accepted position, so the next round needs no extra forward.
#
# **Exercise 2.** The cache held 40 positions before a round. The round fed 4 tokens (the sure token
# and 3 drafts) and accepted 1 draft. How long is the cache after the rollback?

# %%
answer = None  # a whole number
check("06.cache_after", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# 40 + 1 (the sure token) + 1 (the accepted draft) = 42. The corrected token is not in the cache
# yet: it is fed as the next round's sure token. The cell below does the same for the round above.
# </details>

# %%
cache.truncate(before + 1 + accepted)
print(f"cache: {before} -> {before + len(drafts) + 1} during the verify pass -> {cache.length} after rollback")

# %% [markdown]
# Now the library's decoder on the same prompt. Its trace records every round; round 0 is the
# prefill (it commits the sure token), round 1 is the round we just did by hand:

# %%
result = generate(model, tokenizer, prompt, DecodeSettings("speculative", 40 if FAST else 120))
prefill, first = result.trace.rounds[0], result.trace.rounds[1]
assert prefill.committed == [sure]
assert first.fed == [sure] + drafts
assert first.accepted == accepted and first.next_token == next_token
assert first.committed == committed
assert (first.cache_before, first.cache_after) == (before, before + 1 + accepted)
print("the hand-made round equals the library's round 1")
viz.speculative_round(first, tokenizer)

# %% [markdown]
# ## 3. What goes wrong without the rollback
#
# To see why the rollback matters, feed drafts that are surely wrong, and compare three caches
# before feeding the next token: one rolled back, one left with the rejected drafts in it, and none
# at all (the whole text fed from scratch, the reference).

# %%
wrong = tokenizer.encode("@" * (n - 1))  # drafts head 1 is all but certain to reject
rolled_back, stale = model.new_cache(), model.new_cache()
with torch.no_grad():
    for c in (rolled_back, stale):
        model(torch.tensor([ids]), cache=c)  # prefill
        corrected = int(model(torch.tensor([[sure] + wrong]), cache=c).logits[0, 0, 0].argmax())  # verify
    rolled_back.truncate(len(ids) + 1)  # keep the prompt and the sure token
    reference = model(torch.tensor([ids + [sure, corrected]])).logits[0, -1, 0]  # (V,): no cache at all
    good = model(torch.tensor([[corrected]]), cache=rolled_back).logits[0, -1, 0]  # (V,)
    bad = model(torch.tensor([[corrected]]), cache=stale).logits[0, -1, 0]  # (V,)
print("rolled back == from scratch:", torch.allclose(good, reference, atol=1e-5))
print("stale cache == from scratch:", torch.allclose(bad, reference, atol=1e-5),
      f" (largest logit difference {(bad - reference).abs().max():.2f})")

# %% [markdown]
# With the stale cache the model reads the `@` drafts as if they were part of the text, at the wrong
# positions: every later prediction is silently different, and the output would no longer equal
# greedy decoding's.
#
# ## 4. The whole loop, written by you
#
# You now have every piece: the prefill, the drafts, one verifying forward, your `greedy_round`, the
# rollback. Put them together.
#
# **Exercise 3 (code, the capstone).** Write `speculative_greedy(model, prompt_ids, max_new_tokens)`,
# returning `(new_tokens, forwards)`: the list of the first `max_new_tokens` new token ids, and how
# many forward passes of the model you made. The loop:
#
# 1. **prefill**: one forward over the prompt with a fresh cache (`model.new_cache()`); head 1's
#    argmax at the last position is the first new token; heads 2..n there are the first drafts;
# 2. **each round**: feed `[the last new token] + drafts` in one forward with the cache, decide with
#    your `greedy_round` (on head 1's rows, `logits[:, 0]`), add what it commits, roll the cache back
#    to `before + 1 + kept drafts`, and take the next drafts from heads 2..n at the fed position of the
#    last kept token (its index is the number of kept drafts);
# 3. stop once you have `max_new_tokens` tokens, and cut any extra (a round can overshoot).
#
# The check runs your loop on hidden prompts with the shipped `mtp-4head` (prompts short enough that
# no context window is needed) and compares your tokens with plain greedy decoding, token for token,
# and your count of forwards with the library's decoder. When your result is exactly what a common
# mistake gives (the cache rolled back one entry too far or not far enough, drafts kept after a
# mismatch, the bonus token forgotten, the next drafts read at the end of the block, the prefill left
# out of the count), it says which.

# %%
def speculative_greedy(model, prompt_ids, max_new_tokens):
    raise NotImplementedError  # replace this line with your code


check("06.speculative_loop", speculative_greedy)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def greedy_round(drafts, head1_logits):  # Exercise 1's solution, repeated so this block runs alone
#     choices = head1_logits.argmax(-1).tolist()
#     kept = 0
#     while kept < len(drafts) and drafts[kept] == choices[kept]:
#         kept += 1
#     return drafts[:kept] + [choices[kept]]
#
#
# def speculative_greedy(model, prompt_ids, max_new_tokens):
#     cache = model.new_cache()
#     with torch.no_grad():
#         row = model(torch.tensor([prompt_ids]), cache=cache).logits[0, -1]  # (n, V): the prefill
#     forwards, new = 1, [int(row[0].argmax())]
#     drafts = row[1:].argmax(-1).tolist()  # heads 2..n at the prompt's last position
#     while len(new) < max_new_tokens:
#         before = cache.length
#         with torch.no_grad():
#             logits = model(torch.tensor([[new[-1]] + drafts]), cache=cache).logits[0]  # (1 + drafts, n, V)
#         forwards += 1
#         committed = greedy_round(drafts, logits[:, 0])
#         kept = len(committed) - 1
#         cache.truncate(before + 1 + kept)  # the sure token and the kept drafts stay
#         new += committed
#         drafts = logits[kept, 1:].argmax(-1).tolist()  # heads 2..n at the last kept position
#     return new[:max_new_tokens], forwards
# ```
#
# Why does cutting the overshoot give the library's count of forwards? The library drafts fewer
# tokens in the last rounds (never more than are still wanted); the decisions on the drafts both
# loops feed are the same, so both need the same rounds.
# </details>
#
# ## 5. Round by round, and the check against greedy
#
# The library's run from section 2, each round's tokens on their own background colour: long
# stretches mean many drafts were accepted in that round.

# %%
display(HTML(viz.committed_text_html(prompt, result.trace, tokenizer)))

# %%
for rnd in result.trace.rounds[:8]:
    print(f"round {rnd.index:>2} ({rnd.kind:7}) fed {tokenizer.decode(rnd.fed)[-12:]!r:16} "
          f"kept {rnd.accepted} draft(s), added {tokenizer.decode(rnd.committed)!r:10} "
          f"cache {rnd.cache_before:>3} -> {rnd.cache_after:>3}")

# %% [markdown]
# The promise of self-speculative *greedy* decoding: the output is exactly what plain greedy
# decoding produces, because a token is only ever kept when head 1's greedy choice agrees with it.
# Plain greedy decoding makes one forward per token, the prefill included (its forward already gives
# the first new token):

# %%
greedy = generate(model, tokenizer, prompt, DecodeSettings("greedy", len(result.tokens)))
assert greedy.tokens == result.tokens
print(repr(prompt + result.text))
print("speculative output == greedy output:", greedy.tokens == result.tokens)
print(f"greedy: {greedy.trace.summary()['forwards']} forwards for {len(greedy.tokens)} tokens;"
      f" speculative: {result.trace.summary()['forwards']} forwards for the same tokens")

# %% [markdown]
# ## 6. Acceptance, two ways, and tokens per forward
#
# "How often is head k's draft accepted?" has two honest answers, and papers and tools do not all
# report the same one, so always say which one you mean:
#
# - **conditional**: of the rounds that *reached* head k (every earlier draft, heads 2..k-1, was
#   kept, so head k's draft was actually checked), the share that kept it:
#   P(head k kept | heads 2..k-1 kept);
# - **share of rounds**: of all the rounds that drafted, the share that kept head k's draft. It is the
#   product of the conditional rates of heads 2..k, so it can only fall with k.
#
# And per round:
#
# - **acceptance length**: tokens committed per verifying round, the corrected or bonus token
#   included (EAGLE's and SGLang's convention): between 1 and n;
# - **drafts accepted per round**: the same without that token (one less).
#
# `trace.summary()` has all four (its keys: `acceptance_conditional`, `acceptance_share_of_rounds`,
# `acceptance_length`, `drafts_accepted_per_round`), and counts every forward, the prefill included.
# Tokens per forward is the acceptance length diluted by the prefill, which is a forward that commits
# one token: tokens = 1 + acceptance length × verifying rounds, forwards = verifying rounds + 1. The
# figures below are measured on the greedy text printed above; section 7 looks hard at that text.

# %%
def percent(rate):
    return "n/a" if rate is None else f"{rate:.0%}"  # None: no round reached that head


summary = result.trace.summary()
rounds, length = summary["verify_rounds"], summary["acceptance_length"]
print(f"on greedy's text: {summary['tokens']} tokens in {summary['forwards']} forwards ({rounds} verifying rounds + the prefill): "
      f"{summary['tokens_per_forward']:.2f} tokens per forward = (1 + {length:.2f} x {rounds}) / ({rounds} + 1)")
print(f"acceptance length {length:.2f} tokens per round "
      f"({summary['drafts_accepted_per_round']:.2f} drafts accepted per round, + 1 corrected or bonus token)")
for row in summary["acceptance_per_head"]:
    print(f"head {row['head']}: conditional {percent(row['conditional'])} ({row['accepted']} kept of the "
          f"{row['reached']} rounds that reached it)   "
          f"share of rounds {percent(row['rate'])} ({row['accepted']} of {row['rounds']} rounds)")
viz.acceptance_per_head(result.trace)

# %%
viz.tokens_per_forward(result.trace, n_heads=n, greedy_trace=greedy.trace)

# %%
viz.lanes(greedy.trace, result.trace, tokenizer, forwards=30)

# %% [markdown]
# ## 7. The repetition trap
#
# Look at the end of the text above before you trust any of those rates. A model this small, decoding
# greedily, often falls into a **loop**: it writes one stretch (a run of spaces, `self.` again and
# again) and then, since its context now holds that stretch, writes it again, forever. Inside a loop
# every draft is easy: the heads only have to say "more of the same". So greedy tokens per forward
# climbs while the text says nothing, and the figure measures the loop, not the heads.
#
# `tinymtp/analysis/repetition.py` finds the loop: `loop_start(text)` is the index of the first new
# character of the stretch the continuation repeats to its end (at least 64 characters of it; ordinary
# code never repeats one stretch that long up to its end), `text_statistics` adds the share of
# distinct 8-character pieces (`distinct_8`; the corpus's own text scores far higher, as section 8
# prints) and of whitespace, and `loop_round` says which round committed the loop's first character. Take the
# first of a few prompts whose greedy continuation ends in a loop:

# %%
trap_prompts = [prompt, "import os\n\n\ndef main(", "        if self._", "    return "]
new_tokens = 80 if FAST else 200
for trap_prompt in trap_prompts:
    looped = generate(model, tokenizer, trap_prompt, DecodeSettings("speculative", new_tokens))
    stats = text_statistics(looped.text)
    if stats["loop_start"] is not None:
        break
start = stats["loop_start"]
print(f"prompt {trap_prompt!r}: {stats['distinct_8']:.0%} of the 8-character pieces distinct, "
      f"{stats['whitespace']:.0%} whitespace; loop from new character {start}"
      + (f": {looped.text[start:start + 24]!r}..." if start is not None else " (none of these prompts loops)"))
display(HTML(viz.committed_text_html(trap_prompt, looped.trace, tokenizer,
                                     loop_round=loop_round(looped.trace.rounds, start))))

# %% [markdown]
# Now split the run at the loop (`before_loop` counts the rounds that committed the text before it):

# %%
def split_at_loop(trace, start):
    """(tokens, forwards) before the loop and inside it."""
    tokens, forwards = before_loop(trace.rounds, start)
    return (tokens, forwards), (trace.summary()["tokens"] - tokens, trace.summary()["forwards"] - forwards)


def per_forward(tokens, forwards):
    return f"{tokens / forwards:.2f}" if forwards else "-"


heads_before, heads_inside = split_at_loop(looped.trace, start)
print(f"greedy, the heads drafting: {per_forward(*heads_before)} tokens per forward before the loop "
      f"({heads_before[0]} tokens), {per_forward(*heads_inside)} inside it ({heads_inside[0]} tokens); the ceiling is {n}")
lookup = generate(model, tokenizer, trap_prompt, DecodeSettings("lookup", new_tokens, draft_len=n - 1))
lookup_before, lookup_inside = split_at_loop(lookup.trace, start)
print(f"greedy, prompt lookup drafting (it learned nothing: it copies what followed the last earlier copy "
      f"of the text's end): {per_forward(*lookup_before)} before the loop, {per_forward(*lookup_inside)} inside it")
sampled = generate(model, tokenizer, trap_prompt, DecodeSettings("speculative-sample", new_tokens, temperature=1.0, seed=0))
s_stats, s_summary = text_statistics(sampled.text), sampled.trace.summary()
print(f"sampled at temperature 1, the heads drafting: {s_summary['tokens_per_forward']:.2f} tokens per forward, "
      f"{s_stats['distinct_8']:.0%} of the 8-character pieces distinct, loop: {s_stats['loop_start']}")
print(repr(sampled.text[:160]))

# %% [markdown]
# Read the lines together. Inside the loop the heads come close to the ceiling, and so does prompt
# lookup, which knows nothing about code: a figure that a copying rule matches says nothing about the
# heads. Before the loop, and on sampled text, the heads have real work to do.
#
# **Exercise 4.** Inside a loop of spaces, a drafter that simply proposes 3 more spaces every round
# (it learned nothing) feeds a 4-token verifying forward. How many tokens does each of those rounds
# commit?

# %%
answer = None  # a whole number
check("06.loop_tokens_per_forward", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# 4, the ceiling: inside the loop head 1 writes a space after every space, so all 3 drafts are kept,
# and head 1's bonus token (another space) comes on top. Any drafter that proposes "more of the
# same" reaches the ceiling there, trained or not; that is why tokens per forward measured on a
# looping text says nothing about the heads, and why drafting figures are quoted on **corpus-like
# text** first: what exact speculative sampling at temperature 1 writes (notebook 07), a sample of
# the model with the statistics of the corpus, where the heads must guess real continuations.
# </details>
#
# ## 8. The speed-up, on corpus-like text first
#
# Fewer forward passes is not yet less time. Each speculative round feeds several tokens instead of
# 1 and does more bookkeeping, so a round costs more than a greedy step: the **round cost ratio**
# (a whole verifying round, drafting and checking included, over a greedy step, both timed in the
# decoding loop). And
#
# > speed-up ≈ acceptance length / round cost ratio
#
# (notebook 10 works it out). `measure_decoding` (what `python -m tinymtp bench decode` runs) measures
# both texts on held-out prompts of the validation text: first exact speculative sampling at
# temperature 1 against plain sampling (corpus-like text, two seeds per prompt), then greedy
# self-speculative decoding with 1, 2 and n - 1 drafts per round (`draft_len`: heads 2..draft_len+1
# draft) against greedy decoding, each greedy row with its text's repetition. Prompt lookup rides
# along (`lookup` and `lookup-sample`). The corpus's own continuations of the same prompts are the
# yardstick for the text statistics.

# %%
prompts = heldout_prompts(tokenizer, count=2 if FAST else 3, length=48)
plan = BenchPlan(max_new_tokens=32 if FAST else 100, repeats=1 if FAST else 2, temperatures=(1.0,), seeds=2,
                 draft_lens=tuple(sorted({1, 2, n - 1})), lookup_tokens=n - 1)
measurement = measure_decoding(model, tokenizer, prompts, plan)
reference = pooled_statistics(heldout_continuations(tokenizer, prompts, plan.max_new_tokens))


def describe(row):
    text = (f"{row['distinct_8']:.0%} distinct 8-character pieces, {row['looping']:.0%} of continuations looping"
            if row["distinct_8"] is not None else "")
    tpf = f"{row['tokens_per_forward']:.2f}"
    if row.get("standard_error") is not None:
        tpf += f" ± {row['standard_error']:.2f}"
    if row.get("tokens_per_forward_before_loop") is not None:
        tpf += f" ({row['tokens_per_forward_before_loop']:.2f} before the loops)"
    cost = row.get("round_cost_ratio")
    cost = f", round cost ratio {cost:.2f}" if cost is not None else ""
    return f"{row['name']:27} {tpf} tokens/forward, {row['speedup']:.2f}x{cost}; {text}"


print("ON CORPUS-LIKE TEXT (exact speculative sampling at T=1 against plain sampling):")
for row in measurement["sampled_sweep"]:
    print("  " + describe(row))
print("GREEDY (its text loops; speed-up over greedy decoding):")
for row in measurement["rows"]:
    if row["temperature"] is None:
        print("  " + describe(row) + ("" if row.get("identical", True) else "  NOT identical to greedy"))
print(f"the corpus's own text after the same prompts: {reference['distinct_8']:.0%} distinct 8-character pieces")
viz.trap_figure(measurement, reference)

# %% [markdown]
# Timings on a shared machine are noisy: run the cell again and the speed-ups move a little. The
# tokens per forward of the greedy rows do not move (greedy text is the same every time); the
# sampled rows carry a standard error over their runs. Compare the sampled row with the estimate of
# notebook 05, section 5, which was also made on real text.
#
# The same measurement with the shipped `mtp-4head`, every head drafting, next to your model's:

# %%
shipped = load_checkpoint(str(checkpoints_dir() / SHIPPED_MODEL_NAME))
shipped_plan = BenchPlan(max_new_tokens=plan.max_new_tokens, repeats=plan.repeats, temperatures=(1.0,), seeds=2,
                         draft_lens=(shipped.model.config.n_heads - 1,))
rows = {"this notebook's model": measurement,
        f"shipped {SHIPPED_MODEL_NAME}": measure_decoding(shipped.model, shipped.tokenizer, prompts, shipped_plan)}
for name, m in rows.items():
    s, g = m["sampled"], m["modes"]["speculative"]
    print(f"{name:26} T=1: {s['tokens_per_forward']:.2f} tokens/forward, acceptance length {s['acceptance_length']:.2f}, "
          f"round cost ratio {s['round_cost_ratio']:.2f}, {s['speedup']:.2f}x plain sampling | greedy: "
          f"{g['tokens_per_forward']:.2f} ({g['tokens_per_forward_before_loop']:.2f} before the loops, "
          f"{g['distinct_8']:.0%} distinct), {g['speedup']:.2f}x greedy")
if not MODEL.is_own:
    print("(both rows are the shipped model: train your own in notebook 04 to compare)")

# %% [markdown]
# Read each speed-up as acceptance length / round cost ratio: a model can draft more and still gain
# less, when its rounds cost more (a bigger model, heads on more positions). And read each greedy
# figure with its text: the share of distinct pieces and the tokens per forward before the loops say
# how much of it is loop.
#
# ### A drafter with no training: prompt lookup
#
# The heads are one way to guess. Prompt lookup (Saxena 2023; in Hugging Face transformers,
# `prompt_lookup_num_tokens`) needs no model at all: find an earlier place where the text's last few
# tokens occurred and propose the tokens that followed them there (`--mode lookup`,
# `tinymtp/decoding/drafters.py`). Saxena's `find_candidate_pred_tokens` takes the **first** such
# place in the text; tinymtp's variant takes the **latest** one inside the context window that has a
# whole draft after it (the most recent copy, which in code is usually the closest relative). The
# same loop checks its drafts with head 1, so greedy lookup's text is again exactly greedy's, and
# `lookup-sample` checks them with min(1, p/q), q putting all its mass on the copied token. Its rows
# are in the measurement above:

# %%
for name in ("lookup-sample T=1", "lookup"):
    row = next(r for r in measurement["rows"] if r["name"] == name)
    print("  " + describe(row))

# %% [markdown]
# Code repeats itself (indentation, `self.`, names), which is where lookup does well; where nothing
# repeats it proposes nothing and the round is a plain step. Compare its sampled row with the heads'
# sampled row: on corpus-like text the copy search has less to copy than inside a loop.
#
# ### Teach the heads what head 1 writes: self-distillation
#
# Training scored head k against the *text* k characters ahead, but the greedy checker keeps a draft
# only when it equals what *greedy decoding* writes there. `tinymtp.training.distill.distill`
# retrains heads 2..n on that target: for head k at position t, the token greedy decoding from
# x[0..t] writes at t+k. Medusa (Cai et al. 2024, section 2.3.2) trains on the model's own generated
# text when the original training data is not at hand: with the backbone frozen, heads trained on
# self-generated data are Medusa-1's case; Medusa-2, which trains the backbone too, adds a KL term
# to the original model's distribution to keep it. Here the trunk and head 1 stay frozen
# (`train_trunk=False`, Medusa-1's order), so the text greedy writes does not change, only how often
# the heads guess it, on text greedy decoding wrote itself (`text="generated"`), for a few steps:
#
# **Predict, then run.** Will greedy tokens per forward rise? And the text: will it change?

# %%
corpus = load_corpus(checkpoint.metadata.get("corpus", "python-stdlib"))
distilled = distill(model, corpus, DistillConfig(steps=5 if FAST else 60, text="generated", train_trunk=False,
                                                 threads=1)).model
one_row = BenchPlan(max_new_tokens=plan.max_new_tokens, repeats=1, draft_lens=(n - 1,), lookup_tokens=n - 1)
before, after = (measure_decoding(m, tokenizer, prompts, one_row) for m in (model, distilled))
for name, run in (("before", before), ("after", after)):
    g = run["modes"]["speculative"]
    print(f"{name:6} heads {g['tokens_per_forward']:.2f} tokens/forward ({g['tokens_per_forward_before_loop']:.2f} before "
          f"the loops), lookup {run['modes']['lookup']['tokens_per_forward']:.2f}; greedy's text: "
          f"{run['modes']['greedy']['distinct_8']:.0%} of its 8-character pieces distinct; same text as greedy: {run['identical']}")
print("greedy wrote the same text before and after:",
      all(generate(distilled, tokenizer, p, DecodeSettings("greedy", 60)).text
          == generate(model, tokenizer, p, DecodeSettings("greedy", 60)).text for p in prompts))

# %% [markdown]
# The text is the same, and lookup (which learns nothing) reads the same text, so its tokens per
# forward does not move: any change in the heads' row is the heads agreeing more often with head 1.
# Four small heads on one frozen hidden state can only learn so much; the shipped `mtp-4head` was
# distilled with its trunk training too, at a tenth of the rate, and with heads 2..n learning head
# 1's whole distribution (`--target soft`). What that did is in its metadata:

# %%
done = shipped.metadata["distilled"]
agreement = lambda rows: ", ".join(f"head {r['head']} {r['greedy_agreement']:.0%}" for r in rows)  # noqa: E731
print(f"shipped {SHIPPED_MODEL_NAME}: distilled {done['steps']} steps (trunk at {done['config']['trunk_lr_ratio']:g} "
      f"of the rate, target {done['config']['target']}); head 1's val loss {done['head1_val_loss_before']:.4f} -> "
      f"{done['head1_val_loss']:.4f}")
print(f"agreement with greedy's tokens on held-out windows, before: {agreement(done['greedy_agreement_before'])}")
print(f"                                                     after: {agreement(done['greedy_agreement'])}")

# %% [markdown]
# That is the trap of section 7 again, from the other side: distilling toward greedy's own tokens
# teaches the heads the loops greedy falls into, which raises greedy tokens per forward without making
# the heads better on real text. Read every drafting figure beside the text it was measured on (or
# its share of distinct pieces), on corpus-like text first, and beside head 1's loss.
#
# ## Recap
#
# - One round: feed [sure, d2, ..., dn] (n tokens) in one forward; head 1's argmax at fed position i
#   checks draft i + 1; keep drafts up to the first mismatch; add head 1's token there (corrected or
#   bonus); commit 1..n tokens.
# - Roll back: `cache.truncate(before + 1 + accepted)`; the rejected drafts' keys and values must not
#   stay. The next round's drafts come from the same forward, at the last kept position.
# - The loop: prefill (1 forward, 1 token), then rounds until max_new_tokens; output == plain greedy
#   output, token for token.
# - Conditional rate of head k = P(kept | heads 2..k-1 kept); share of rounds of head k = product of
#   the conditional rates of heads 2..k.
# - Acceptance length = tokens per verifying round, bonus included (1..n); drafts accepted per round
#   = acceptance length - 1; tokens per forward = (1 + length x rounds) / (rounds + 1).
# - **Repetition trap**: greedy text of a small model loops; inside a loop every drafter, trained or
#   not, reaches the ceiling. Find the loop (`loop_start`), quote tokens per forward before it, and
#   quote drafting on **corpus-like text** (exact sampling at T = 1) first.
# - Speed-up ≈ acceptance length / round cost ratio (a whole verifying round over a greedy step).
# - Self-distillation teaches heads 2..n greedy's own tokens (frozen trunk: same text, more kept
#   drafts); Medusa-2 trains the backbone too, with a KL term to the original model.
#
# ## Next
#
# Greedy decoding always picks the top token. Notebook **07_speculative_sampling** does the same trick
# when the model *samples*, writes the sampled round, and shows the one rule that keeps the output
# distribution exactly right.
