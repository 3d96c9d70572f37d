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
# trained one yet), and compares the two.
#
# **At the end of this notebook you will be able to**
# - run one round of self-speculative decoding by hand (draft, verify, accept, roll back the KV
#   cache), and write the round's decision yourself;
# - read a decoding trace round by round, and check that speculative output equals greedy output;
# - read acceptance two ways (conditional, and share of rounds) and the acceptance length, and
#   measure tokens per forward and the wall-clock speed-up, and say why they differ.
#
# The code behind this notebook is `tinymtp/decoding/speculative.py`, `tinymtp/decoding/decode.py`,
# `tinymtp/core/kvcache.py` and `tinymtp/decoding/trace.py`.

# %%
import os
from dataclasses import replace

import torch
from IPython.display import HTML, display

from tinymtp import viz
from tinymtp.analysis.speedup import BenchPlan, measure_decoding
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
# greedy decoding's. This is why tinymtp's tests check the rollback.
#
# ## 4. Round by round, and the check against greedy
#
# The generated text, each round's tokens on their own background colour: long stretches mean many
# drafts were accepted in that round.

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
#
# **Exercise 3 (predict, then run).** The speculative run above made 120 new tokens (40 in fast
# mode). How many forward passes does *plain greedy* decoding make for 120 new tokens, the prefill
# included? Predict, then run the cell after the check: it prints the count.

# %%
answer = None  # a whole number
check("06.greedy_forwards", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# 120: the prefill's forward already gives the first new token (head 1 at the prompt's last
# position), and each of the 119 later forwards gives one more. Greedy decoding makes exactly one
# token per forward, prefill included.
# </details>

# %%
greedy = generate(model, tokenizer, prompt, DecodeSettings("greedy", len(result.tokens)))
assert greedy.tokens == result.tokens
print(repr(prompt + result.text))
print("speculative output == greedy output:", greedy.tokens == result.tokens)
print(f"greedy: {greedy.trace.summary()['forwards']} forwards for {len(greedy.tokens)} tokens;"
      f" speculative: {result.trace.summary()['forwards']} forwards for the same tokens")

# %% [markdown]
# ## 5. Acceptance, two ways, and tokens per forward
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
# `acceptance_length`, `drafts_accepted_per_round`), and counts every forward, the prefill included:

# %%
def percent(rate):
    return "n/a" if rate is None else f"{rate:.0%}"  # None: no round reached that head


summary = result.trace.summary()
print(f"{summary['tokens']} tokens in {summary['forwards']} forwards ({summary['verify_rounds']} verifying rounds "
      f"+ the prefill): {summary['tokens_per_forward']:.2f} tokens per forward")
print(f"acceptance length {summary['acceptance_length']:.2f} tokens per round "
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
# **Exercise 4.** Tokens per forward is a little lower than the acceptance length. Compute the
# tokens per forward of the run from `summary["acceptance_length"]` and `summary["verify_rounds"]`
# alone (the check compares with the run's own tokens per forward).

# %%
answer = None  # a number
check("06.tokens_per_forward", answer, summary=summary)

# %% [markdown]
# <details><summary>Solution</summary>
#
# The prefill is a forward too, and it commits one token. So tokens = 1 + acceptance length x
# verifying rounds and forwards = verifying rounds + 1:
# `(1 + summary["acceptance_length"] * summary["verify_rounds"]) / (summary["verify_rounds"] + 1)`.
# On long generations the two numbers meet; on short ones the prefill pulls tokens per forward down.
# </details>
#
# ## 6. The speed-up, and your model against the shipped one
#
# Fewer forward passes is not yet less time. Each speculative forward feeds n tokens instead of 1,
# and every round has some Python bookkeeping. On a big model on a GPU, a forward pass costs about
# the same for 1 or n tokens (it is limited by reading the weights), so the speed-up comes close to
# the tokens per forward: the MTP paper reports 3.0x on code with n = 4 (Gloeckle et al. 2024, section 3.2). Our
# model is tiny and runs on a CPU, where per-round overhead weighs more. Measure it, on a few
# prompts, drafting 1, 2 and 3 tokens per round (`draft_len` 1, 2, 3: heads 2..draft_len+1 draft):

# %%
prompts = [prompt, "import os\n\n\ndef main(", "        if self._", "    return "][: 2 if FAST else 4]
plan = BenchPlan(max_new_tokens=32 if FAST else 100, repeats=1 if FAST else 3)
measurement = measure_decoding(model, tokenizer, prompts, plan)
for entry in [measurement["modes"]["greedy"]] + measurement["draft_len_sweep"]:
    print(f"draft_len {entry['draft_len']}: {entry['tokens_per_forward']:.2f} tokens/forward, "
          f"{entry['speedup']:.2f}x wall clock, same text as greedy: {entry['identical']}")
viz.speedup_vs_heads(measurement)

# %% [markdown]
# Timings on a shared machine are noisy: run the cell again and the speed-ups move a little. The
# tokens per forward do not move: they are a property of the model and the prompts. Compare them
# with the estimate of notebook 05, section 5.
#
# The same prompts with the shipped `mtp-4head` (all its drafting heads), measured now, next to
# your model's row:

# %%
shipped = load_checkpoint(str(checkpoints_dir() / SHIPPED_MODEL_NAME))
rows = {"this notebook's model": measurement["modes"]["speculative"],
        f"shipped {SHIPPED_MODEL_NAME}": measure_decoding(shipped.model, shipped.tokenizer, prompts,
                                                         replace(plan, draft_lens=None))["modes"]["speculative"]}
for name, entry in rows.items():
    conditional = ", ".join(percent(c) for c in entry["acceptance_conditional"])
    print(f"{name:26} {entry['tokens_per_forward']:.2f} tokens/forward, acceptance length "
          f"{entry['acceptance_length']:.2f}, conditional acceptance of heads 2..n: {conditional}, "
          f"{entry['speedup']:.2f}x")
if not MODEL.is_own:
    print("(both rows are the shipped model: train your own in notebook 04 to compare)")

# %% [markdown]
# Read the two rows with the generated text in mind. When this notebook was written (notebook 04,
# then this one, on a shared 2-core machine), notebook 04's 2000-step model made 2.29 tokens per
# forward on these prompts against the shipped model's 2.99: fewer of its drafts agree with its head
# 1. Yet its wall-clock speed-up was about the same (three runs of this cell: 1.62x to 1.92x against
# 1.73x to 1.90x): the speed-up is tokens per forward divided by how much more a verifying forward
# costs than a one-token forward, and that cost ratio differs between a 2-layer and a 4-layer model. A weak model can also fall into repeating
# itself (runs of spaces, `self.______`), which greedy decoding continues forever and the heads draft
# easily: it raises tokens per forward without saying anything good about the model. Read the text
# before trusting a tokens-per-forward figure.
#
# ### A drafter with no training: prompt lookup
#
# The heads are one way to guess. Prompt lookup (Saxena 2023; transformers'
# `prompt_lookup_num_tokens`) needs no model at all: find the latest earlier place where the text's
# last few tokens occurred (with a whole draft after it) and propose the tokens that followed them there (`--mode lookup`,
# `tinymtp/decoding/drafters.py`). The same loop checks its drafts with head 1, so the text is
# again exactly greedy's. Code repeats itself (indentation, `self.`, names), which is where lookup
# shines; where nothing repeats it proposes nothing and the round is a plain greedy step. One prompt,
# both drafters, measured now; *predicted* is the cost model's estimate
# (`tinymtp/analysis/cost_model.py`): acceptance length / (a round's time / a greedy step's time),
# both measured in the same run:

# %%
one_row = replace(plan, draft_lens=(model.config.n_heads - 1,), lookup_tokens=3)
duel = measure_decoding(model, tokenizer, [prompt], one_row)
for name in ("speculative", "lookup"):
    entry = duel["modes"][name]
    print(f"{name:12} {entry['tokens_per_forward']:.2f} tokens/forward, {entry['speedup']:.2f}x measured, "
          f"{entry['predicted_speedup']:.2f}x predicted, same text as greedy: {entry['identical']}")

# %% [markdown]
# On the 12 held-out prompts of `python -m tinymtp bench decode` (Python source code), the shipped
# model's heads made 3.46 tokens per forward and lookup 2.84 (docs/measurements.md): the copy
# search beats one drafting head, but the trained heads guess more often.
#
# ### Teach the heads what head 1 writes: self-distillation
#
# Training scored head k against the *text* k characters ahead, but the checker keeps a draft only
# when it equals what *greedy decoding* writes there. `tinymtp.training.distill.distill` retrains heads 2..n
# on that target (Medusa-2's self-distillation; `python -m tinymtp distill`, and the app's Train
# page): for head k at position t, the token greedy decoding from x[0..t] writes at t+k. The trunk
# and head 1 stay frozen, so the text greedy writes does not change, only how often the heads
# guess it. Here on text greedy decoding wrote itself (`text="generated"`), for a few steps:
#
# **Predict, then run.** Will tokens per forward rise? And the text: will it change?

# %%
corpus = load_corpus(checkpoint.metadata.get("corpus", "python-stdlib"))
distilled = distill(model, corpus, DistillConfig(steps=5 if FAST else 60, text="generated", threads=1)).model
before, after = (measure_decoding(m, tokenizer, prompts, one_row) for m in (model, distilled))
for name, run in (("before", before), ("after", after)):
    print(f"{name:6} heads {run['tokens_per_forward']:.2f} tokens/forward, lookup "
          f"{run['modes']['lookup']['tokens_per_forward']:.2f}; greedy's text: "
          f"{run['modes']['greedy']['distinct_8']:.0%} of its 8-character pieces distinct; same text as greedy: {run['identical']}")
print("greedy wrote the same text before and after:",
      all(generate(m, tokenizer, p, DecodeSettings("greedy", 60)).text == generate(model, tokenizer, p, DecodeSettings("greedy", 60)).text
          for m in (distilled,) for p in prompts))

# %% [markdown]
# The text is the same, and lookup (which learns nothing) reads the same text, so its tokens per
# forward does not move: any change in the heads' row is the heads agreeing more often with head 1.
# On `mtp-4head` as training left it the gain was small (300 steps: 3.23 to 3.26 tokens per
# forward, docs/usage.md): four linear maps of one hidden state can only learn so much. Training
# the trunk too (`--train-trunk`) raised it to 3.62, but head 1 got worse and greedy's text more
# repetitive: lookup rose from 2.57 to 3.30 tokens per forward on the same prompts. With the trunk
# at a tenth of the rate for 1000 steps and heads 2..n learning head 1's whole distribution
# (`--target soft`), head 1 stayed as good (1.295 against 1.304) and tokens per forward rose to
# 3.46, lookup's to 2.84: that run is the shipped `mtp-4head`, so the shipped model you measured
# above is already distilled. That is the trap of section 6 again: tokens per
# forward rewards repetition, so read it beside the text (or the share of distinct pieces) and
# beside head 1's loss.
#
# ## Recap
#
# - One round: feed [sure, d2, ..., dn] (n tokens) in one forward; head 1's argmax at fed position i
#   checks draft i + 1; keep drafts up to the first mismatch; add head 1's token there (corrected or
#   bonus); commit 1..n tokens.
# - Roll back: `cache.truncate(before + 1 + accepted)`; the rejected drafts' keys and values must not
#   stay. The next round's drafts come from the same forward, at the last kept position.
# - Output == plain greedy output, token for token.
# - Conditional rate of head k = P(kept | heads 2..k-1 kept); share of rounds of head k = product of
#   the conditional rates of heads 2..k.
# - Acceptance length = tokens per verifying round, bonus included (1..n); drafts accepted per round
#   = acceptance length - 1; tokens per forward = (1 + length x rounds) / (rounds + 1).
# - Wall-clock speed-up ≈ tokens per forward / (cost of a verifying forward / cost of a 1-token
#   forward): near the tokens per forward on a GPU, less on a CPU.
# - Self-distillation teaches heads 2..n greedy's own tokens with head 1 frozen: same text, more
#   kept drafts. Tokens per forward rewards repetitive text: read it beside the text itself.
#
# ## Next
#
# Greedy decoding always picks the top token. Notebook **07_speculative_sampling** does the same trick
# when the model *samples*, and shows the one rule that keeps the output distribution exactly right.
