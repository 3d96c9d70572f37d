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
# # 05 · What the heads know
#
# A trained MTP model makes n guesses at every position. This notebook opens **your model from
# notebook 04** (or the shipped 4-head checkpoint, if you have not trained one yet) and looks at
# those guesses character by character, on real code it never trained on. Then it scores them in two
# different ways, and shows that only one of the two tells you how much faster the heads will make
# decoding.
#
# **At the end of this notebook you will be able to**
# - read every head's top guesses on a piece of text, and find them yourself from the model's logits;
# - compute a head's accuracy two ways yourself: against the real text, and against what head 1
#   would generate;
# - estimate the tokens per forward of speculative decoding from the second, and compare your model
#   with the shipped one.
#
# The code behind this notebook is `tinymtp/analysis/predictions.py`; the figures come from `tinymtp/viz/`.

# %%
import os

import torch

from tinymtp import viz
from tinymtp.analysis.predictions import (
    accuracy_rows,
    head_predictions,
    predicted_tokens_per_forward,
)
from tinymtp.data.corpora import corpus_snippets, load_corpus
from tinymtp.exercises import check
from tinymtp.files.checkpoint import load_checkpoint
from tinymtp.files.paths import SHIPPED_MODEL_NAME, checkpoints_dir, learner_model

FAST = os.environ.get("TINYMTP_FAST") == "1"  # the tests set this: fewer pieces of text
torch.set_num_threads(1)  # a model this small runs faster and steadier on one thread (notebook 04)

MODEL = learner_model()  # your runs/my-model once notebook 04 saved it; else the shipped mtp-4head
print("studying", MODEL.describe())
checkpoint = load_checkpoint(str(MODEL.path))
model, tokenizer = checkpoint.model, checkpoint.tokenizer
n = model.config.n_heads
print(model.config)
print("trained for", checkpoint.metadata.get("steps"), "steps on", checkpoint.metadata.get("corpus"))

# %% [markdown]
# If this is your own model, it differs from the shipped one in size and training time. The shipped
# checkpoint's numbers come from its metadata (recorded when it was trained with the README's
# command); yours from notebook 04:

# %%
shipped = load_checkpoint(str(checkpoints_dir() / SHIPPED_MODEL_NAME))
for name, ck in [("this notebook's model", checkpoint), (f"shipped {SHIPPED_MODEL_NAME}", shipped)]:
    cfg, meta = ck.model.config, ck.metadata
    print(f"{name:26} {cfg.n_layers} layers x {cfg.d_model} wide, context {cfg.context_length}, "
          f"{meta.get('steps')} steps ({meta.get('seconds', 0) / 60:.1f} min), "
          f"next-token val loss {meta.get('next_token_val_loss')}")

# %% [markdown]
# ## 1. Every head's guess at every position
#
# We take a piece of the validation text (code the model never trained on). `head_predictions` runs
# the model once over it and keeps, for every position t and every head k, the top 5 guesses for
# x[t+k] and their probabilities.
#
# In the grid below, column t is the character just read and row k is head k; each cell shows head
# k's top guess for the character k places later, shaded by its probability. Hover over a cell for
# the details. Two marks score the guess:
# - a **green circle** when it equals the real text x[t+k];
# - an **orange diamond** when it equals what head 1 would generate k steps after x[0..t] (more on
#   this in section 3).

# %%
corpus = load_corpus("python-stdlib")
snippets = corpus_snippets(corpus.val_text, count=8, length=48, seed=0)
snippets = [s for s in snippets if not tokenizer.unknown_characters(s)]  # see the note below
text = snippets[3]
print(repr(text))
pred = head_predictions(model, tokenizer, text, top_k=5)
viz.head_grid(pred)

# %% [markdown]
# (The note: pieces holding a character the checkpoint never saw are skipped; with the shipped
# `python-stdlib` text, the one the checkpoint was trained on, there are none.)
#
# Pick one position and look at the full top-5 of every head. A head that is sure puts most of its
# probability on one character; a head that is unsure spreads it out. Position 14 is the `(` after
# `def format_exc` (on the Python this was written with; print `text` to see yours); change `t` to
# explore (try 20 and 26).

# %%
t = 14
viz.topk_bars(pred, t)

# %% [markdown]
# ## 2. The same guesses, from the logits
#
# There is nothing magic in `head_predictions`: one forward pass gives logits of shape (1, T, n, V),
# and head k's top guess at t is the argmax of `logits[0, t, k-1]`. Check it against the library:

# %%
x = torch.tensor([tokenizer.encode(text)])  # (1, T)
with torch.no_grad():
    logits = model(x).logits  # (1, T, n, V)
top = logits[0].argmax(-1)  # (T, n): every head's top guess at every position
assert top.tolist() == [[pred.guess(t, k) for k in range(1, n + 1)] for t in range(len(text))]
print(f"position {t}: after {text[max(0, t - 15) : t + 1]!r}")
for k in range(1, n + 1):
    print(f"  head {k} guesses {tokenizer.decode([top[t, k - 1]])!r} for x[t+{k}]")

# %% [markdown]
# ## 3. Two meanings of "accuracy"
#
# Head k's guess at position t can be scored against two different things:
#
# 1. **the real text**: does it equal x[t+k]? This is the accuracy training reports (notebook 04).
# 2. **what head 1 would generate**: start from x[0..t], let head 1 alone generate k tokens greedily
#    (one at a time, always its top choice), and compare head k's guess with the k-th of them. For
#    head 1 this is 100% by definition.
#
# Why does the second one matter? Because it is exactly the test self-speculative decoding applies
# (notebook 06): a draft from head k is kept when it equals what head 1 would have produced at that
# place, whatever the real text would have been. A head can be wrong about the real text and still
# be useful, as long as it is wrong *in the same way* as head 1.
#
# `pred.greedy[t][k-1]` holds head 1's greedy continuation. Compute one by hand, generating with
# head 1 only:

# %%
prefix = x[:, : t + 1]  # (1, t+1): the text up to and including position t
continuation = []
with torch.no_grad():
    for _ in range(n):
        next_id = model(prefix, heads=1).logits[0, -1, 0].argmax()  # head 1's choice after the prefix
        continuation.append(int(next_id))
        prefix = torch.cat([prefix, next_id.view(1, 1)], dim=1)  # (1, length + 1)
assert continuation == pred.greedy[t]
print("head 1 would generate:", repr(tokenizer.decode(continuation)))
print("the real text is:     ", repr(text[t + 1 : t + 1 + n]))
print("heads 1..n guessed:   ", repr(tokenizer.decode(top[t])))

# %% [markdown]
# Compare the three lines. Wherever the heads' guesses equal head 1's generation, a speculative round
# at this position would keep them, however wrong they are about the real text: speculative decoding
# reproduces head 1, not the text.
#
# **Exercise 1 (code).** Write `head_accuracies(tokens, guesses, greedy, k)`: head k's accuracy
# against the real text and against head 1's generation, as a pair of numbers between 0 and 1.
# `tokens` is the list of the text's T token ids; `guesses` (T, n) holds every head's top guess
# (like `top` above); `greedy` (T, n) holds head 1's continuations (column j: the token j + 1 steps
# after x[0..t], like `torch.tensor(pred.greedy)`). Mind the end of the text: x[t+k] exists only
# while t + k < T, so the text accuracy counts only those positions; the greedy accuracy counts every
# position. The check compares with `accuracy_rows` on hidden cases.

# %%
def head_accuracies(tokens, guesses, greedy, k):
    raise NotImplementedError  # replace this line with your code


check("05.head_accuracies", head_accuracies)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def head_accuracies(tokens, guesses, greedy, k):
#     T = len(tokens)
#     text_hits = sum(int(guesses[t, k - 1]) == tokens[t + k] for t in range(T - k))
#     greedy_hits = sum(int(guesses[t, k - 1]) == int(greedy[t, k - 1]) for t in range(T))
#     return text_hits / (T - k), greedy_hits / T
# ```
#
# Dividing the text hits by T instead of T - k counts the last k positions, which have no target,
# as misses.
# </details>
#
# Once it passes, try it on the piece of text above and compare with the library's row for each
# head (`accuracy_rows([pred])`).

# %% [markdown]
# ## 4. Accuracy against distance
#
# Pool the guesses of all the pieces of validation text and compute both accuracies per head
# (`accuracy_rows`).
#
# **Exercise 2 (predict, then run).** Before running the table: which drafting head (2..n) will most
# often match what head 1 would generate? Write your prediction, run the check, then the table.

# %%
preds = [head_predictions(model, tokenizer, s) for s in (snippets[:4] if FAST else snippets)]

# %%
answer = None  # a head number, 2..n
check("05.best_drafter", answer, rows=accuracy_rows(preds))

# %% [markdown]
# <details><summary>Solution</summary>
#
# Usually head 2, the nearest: it has the fewest unseen characters to guess through.
# `max(rows[1:], key=lambda r: r["greedy_accuracy"])["head"]` reads it off the table below.
# </details>

# %%
rows = accuracy_rows(preds)
for r in rows:
    print(f"head {r['head']}: matches the real text {r['text_accuracy']:.1%} ({r['text_count']} guesses)   "
          f"matches head 1's generation {r['greedy_accuracy']:.1%}")
viz.head_accuracy(rows)


# %% [markdown]
# Read the two sets of bars:
# - **Against the real text**, accuracy falls with distance: head k must guess through k - 1 unseen
#   characters (notebook 04, section 5).
# - **Against head 1's generation**, the far heads do much better. Head 1's own guesses are often
#   wrong about the real text, and the other heads, which read the same hidden state, tend to make
#   the *same* mistakes. Agreeing with head 1 is an easier target than predicting the text.
#
# **Exercise 3.** What is head 1's accuracy against head 1's own greedy generation? (A number
# between 0 and 1.)

# %%
answer = None  # a number between 0 and 1
check("05.greedy_accuracy_head1", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# 1.0: head 1's top guess at t *is* the first token of its own greedy generation after x[0..t].
# </details>
#
# ## 5. From agreement to speed-up
#
# In a speculative round at position t, head 1 gives the next token for sure, then the drafts of
# heads 2, 3, ... are checked in order and kept **until the first one that disagrees**. So a round
# at t produces 1 + (the number of heads 2, 3, ... that agree with head 1's generation in a row).
# Averaging that over positions predicts the tokens per forward that notebook 06 will measure. By
# hand, then with the library's `predicted_tokens_per_forward`:

# %%
def kept_drafts(pred, t):
    """How many drafts a speculative round at position t would keep: agreeing heads 2, 3, ... in a row."""
    kept = 0
    for k in range(2, pred.n_heads + 1):
        if not pred.matches_greedy(t, k):
            break
        kept += 1
    return kept


rounds = [kept_drafts(p, t) for p in preds for t in range(p.length)]
estimate = predicted_tokens_per_forward(preds)
assert abs(estimate - (1 + sum(rounds) / len(rounds))) < 1e-12
print(f"predicted tokens per forward, every position of these snippets of real text (drafts checked against "
      f"head 1's pick): {estimate:.2f} (the ceiling is {n})")

# %% [markdown]
# This is an estimate: real decoding runs on the model's own generated text, not on the validation
# text, and each round starts where the previous one stopped rather than at every position. Notebook
# 06 measures the real number.
#
# **Your model against the shipped one.** The same estimate and the same accuracies for the shipped
# `mtp-4head`, on the same pieces of text, computed now:

# %%
shipped_preds = [head_predictions(shipped.model, shipped.tokenizer, s) for s in (snippets[:4] if FAST else snippets)
                 if not shipped.tokenizer.unknown_characters(s)]
for name, these in [("this notebook's model", preds), (f"shipped {SHIPPED_MODEL_NAME}", shipped_preds)]:
    matches = "  ".join(f"head {r['head']} {r['greedy_accuracy']:.0%}" for r in accuracy_rows(these)[1:])
    print(f"{name:26} predicted tokens per forward {predicted_tokens_per_forward(these):.2f}   "
          f"matches head 1's generation: {matches}")
if not MODEL.is_own:
    print("(both rows are the shipped model: train your own in notebook 04 to compare)")

# %%
if MODEL.is_own:
    mine, theirs = checkpoint.metadata, shipped.metadata
    print(f"your model ({mine['steps']} steps, {mine['seconds'] / 60:.1f} min of training) predicts "
          f"{predicted_tokens_per_forward(preds):.2f} tokens per forward on these pieces, the shipped one "
          f"({theirs['steps']} steps, {theirs['seconds'] / 60:.1f} min, then distilled) "
          f"{predicted_tokens_per_forward(shipped_preds):.2f}; their next-token val losses: "
          f"{mine['next_token_val_loss']:.2f} and {theirs['next_token_val_loss']:.2f}")

# %% [markdown]
# Compare the two rows, and the gap in tokens per forward with the gap in next-token loss: agreeing
# with head 1 does not need head 1 to be right, so a weaker model can lose much less in agreement
# than in loss.
#
# **Against the paper, like with like.** Gloeckle et al. 2024 (section 3.2) report that with n = 4
# heads on code, 2.5 of the 3 drafts were accepted per round on average, for a 3.0x speed-up,
# measured by decoding with their own, far larger models. The nearest figure here is the estimate
# above, made on real validation text (not on the model's own output, which, decoded greedily, may
# loop: notebook 06). It is still not the same measurement (an estimate at every position instead of
# a decoding run, on a model of about a million parameters):

# %%
for name, these in [("this notebook's model", preds), (f"shipped {SHIPPED_MODEL_NAME}", shipped_preds)]:
    print(f"{name:26} about {predicted_tokens_per_forward(these) - 1:.2f} of {n - 1} drafts agree with head 1 per "
          f"position of real text (Gloeckle et al.: 2.5 of 3 accepted per round, section 3.2)")

# %% [markdown]
# ## Exercises
#
# Exercises 1 to 3 are above (sections 3 and 4).
#
# **Exercise 4.** Suppose head 2's draft is kept 60% of the time, and head 3's draft is kept 50% of
# the time *when head 2's was*. How many tokens does a round produce on average (with n = 3 heads)?

# %%
answer = None  # a number
check("05.expected_tokens", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# 1 (head 1's sure token) + 0.6 (head 2 kept) + 0.6 x 0.5 (heads 2 and 3 both kept) = 1.9. The
# 50% is a *conditional* rate (given head 2 was kept); notebook 06 shows both kinds of rate for a
# real run.
# </details>
#
# ## Recap
#
# - One forward: logits (1, T, n, V); head k's top guess at t is `logits[0, t, k-1].argmax()`, a
#   guess for x[t+k].
# - Accuracy against the text: guess == x[t+k], over the T - k positions where x[t+k] exists; it
#   falls with k.
# - Accuracy against head 1: guess == the k-th token head 1 generates greedily after x[0..t], over
#   all T positions; it is 1 for head 1, and it is what speculative decoding checks.
# - Tokens per forward ≈ 1 + E[number of heads 2, 3, ... agreeing with head 1 in a row]
#   (`predicted_tokens_per_forward`); with conditional rates c2, c3, ...: 1 + c2 + c2·c3 + ...
# - Agreement with head 1 is measured here on real text; compare it with a paper's acceptance only
#   when the paper also measured real text (Gloeckle et al. 2024, section 3.2: 2.5 of 3 drafts on code).
#
# ## Next
#
# Notebook **06_self_speculative_decoding** turns these guesses into a decoder: draft, verify, accept,
# roll back the cache, and measure the speed-up of your model.
