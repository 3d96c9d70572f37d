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
# A trained MTP model makes n guesses at every position. This notebook opens the shipped 4-head
# checkpoint and looks at those guesses character by character, on real code it never trained on.
# Then it scores them in two different ways, and shows that only one of the two tells you how much
# faster the heads will make decoding.
#
# **At the end of this notebook you will be able to**
# - read every head's top guesses on a piece of text, and find them yourself from the model's logits;
# - measure each head's accuracy against how far ahead it looks;
# - tell apart "matches the real text" from "matches what head 1 would generate", and estimate the
#   tokens per forward of speculative decoding from the second.
#
# The code behind this notebook is `tinymtp/predictions.py`; the figures come from `tinymtp/viz.py`.

# %%
import os
from pathlib import Path

import torch

import tinymtp
from tinymtp import viz
from tinymtp.checkpoint import load_checkpoint
from tinymtp.corpora import load_corpus
from tinymtp.exercises import check
from tinymtp.predictions import accuracy_rows, corpus_snippets, head_predictions

FAST = os.environ.get("TINYMTP_FAST") == "1"  # the tests set this: fewer pieces of text
torch.set_num_threads(1)  # a model this small runs faster and steadier on one thread (notebook 04)
CHECKPOINTS = Path(tinymtp.__file__).resolve().parent.parent / "checkpoints"
checkpoint = load_checkpoint(str(CHECKPOINTS / "mtp-4head"))
model, tokenizer = checkpoint.model, checkpoint.tokenizer
n = model.config.n_heads
print(model.config)
print("trained for", checkpoint.metadata.get("steps"), "steps on", checkpoint.metadata.get("corpus"))

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
# (The note: the corpus is read from *your* Python's standard library, which can hold a character
# the checkpoint never saw if your Python differs from the one it was trained with; such pieces are
# skipped.)
#
# Pick one position and look at the full top-5 of every head. A head that is sure puts most of its
# probability on one character; a head that is unsure spreads it out. Position 14 is the `(` after
# `def format_exc`; change `t` to explore (try 20, just after `limit=`, and 26).

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

# %% [markdown]
# ## 4. Accuracy against distance
#
# Pool the guesses of all the pieces of validation text and compute both accuracies per head
# (`accuracy_rows`):

# %%
preds = [head_predictions(model, tokenizer, s) for s in (snippets[:4] if FAST else snippets)]
rows = accuracy_rows(preds)
for r in rows:
    print(f"head {r['head']}: matches the real text {r['text_accuracy']:.1%} ({r['text_count']} guesses)   "
          f"matches head 1's generation {r['greedy_accuracy']:.1%}")
viz.head_accuracy(rows)


# %% [markdown]
# Read the two sets of bars:
# - **Against the real text**, accuracy falls with distance: head k must guess through k - 1 unseen
#   characters (notebook 04, section 4).
# - **Against head 1's generation**, the far heads do much better. Head 1's own guesses are often
#   wrong about the real text, and the other heads, which read the same hidden state, tend to make
#   the *same* mistakes. Agreeing with head 1 is an easier target than predicting the text.
#
# ## 5. From agreement to speed-up
#
# In a speculative round at position t, head 1 gives the next token for sure, then the drafts of
# heads 2, 3, ... are checked in order and kept **until the first one that disagrees**. So a round
# at t produces 1 + (the number of heads 2, 3, ... that agree with head 1's generation in a row).
# Averaging that over positions predicts the tokens per forward that notebook 06 will measure:

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
print(f"predicted tokens per forward: {1 + sum(rounds) / len(rounds):.2f} (the ceiling is {n})")

# %% [markdown]
# This is an estimate: real decoding runs on the model's own generated text, not on the validation
# text, and each round starts where the previous one stopped rather than at every position. Notebook
# 06 measures the real number.
#
# For scale: the MTP paper reports that with n = 4 heads on code, 2.5 of the 3 drafts were accepted
# per round on average, for a 3.0x speed-up (Gloeckle et al. 2024); our tiny model trained for
# minutes on a CPU is much less sure of itself.
#
# ## Exercises
#
# **Exercise 1.** Suppose head 2's draft is kept 60% of the time, and head 3's draft is kept 50% of
# the time *when head 2's was*. How many tokens does a round produce on average (with n = 3 heads)?

# %%
answer = None  # a number
check("05.expected_tokens", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# 1 (head 1's sure token) + 0.6 (head 2 kept) + 0.6 x 0.5 (heads 2 and 3 both kept) = 1.9.
# </details>
#
# **Exercise 2.** In the table of section 4, which drafting head (2..n) most often matches what head
# 1 would generate? Answer with its number.

# %%
answer = None  # a head number, 2..n
check("05.best_drafter", answer, rows=rows)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Usually head 2, the nearest: `max(rows[1:], key=lambda r: r["greedy_accuracy"])["head"]`.
# </details>
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
# ## What's next
#
# Notebook **06_self_speculative_decoding** turns these guesses into a decoder: draft, verify, accept,
# roll back the cache, and measure the speed-up.
