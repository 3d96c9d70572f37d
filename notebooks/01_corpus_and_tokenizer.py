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
# # 01 · The corpus and the tokenizer
#
# A language model learns from text, one token at a time. A multi-token prediction (MTP) model
# learns from the same text, but asks more of every position: not only "what comes next?" but
# also "what comes two, three, four tokens later?". This notebook shows where tinymtp's text comes
# from, how it becomes numbers, and how one batch carries a target for every head.
#
# **At the end of this notebook you will be able to**
# - load a built-in corpus (or your own text file) and say what its training and validation parts are;
# - turn text into token ids and back with the character tokenizer;
# - write the targets of every prediction head yourself, and read the *shift picture* that shows them;
# - say why a training window holds T + n characters.
#
# The code behind this notebook is `tinymtp/data/corpora.py` and `tinymtp/data/tokenizer.py`; keep them open
# beside it. Run the cells from top to bottom (in Jupyter: *Run → Run All Cells*).

# %%
import torch

from tinymtp.core.errors import TinyMTPError
from tinymtp.data.corpora import IGNORE, corpus_summary, load_corpus, make_batch, shift_targets
from tinymtp.exercises import check
from tinymtp.viz import show_char

# %% [markdown]
# ## 1. Where the text comes from
#
# tinymtp never downloads anything: it builds its text on your machine.
#
# - **`python-stdlib`** (the default) is the source code of 45 modules of the Python standard
#   library as CPython 3.11.7 ships them, stored inside the package (one compressed file), so every
#   Python reads the same bytes (3.12 and 3.13 ship other sources; `python-stdlib-local` reads yours).
# - **`stories`** is simple English made by a small grammar written in `corpora.py`, seeded, so
#   everyone gets the same million characters.
# - Any path to a UTF-8 text file works too: `load_corpus("my_notes.txt")`.
#
# Why code by default? Code is very predictable several characters ahead. After `def __in` comes
# `it__(self`; after `return` a space; after a newline in an indented block, more spaces. That is
# exactly where extra heads that guess further ahead have a chance, and where we can watch them
# succeed.

# %%
corpus = load_corpus("python-stdlib")
corpus_summary(corpus)

# %%
print(corpus.text[:400])

# %%
stories = load_corpus("stories")
print(corpus_summary(stories))
print(stories.text[:300])

# %% [markdown]
# ## 2. Characters as tokens
#
# A *tokenizer* turns text into a list of integers (token ids) and back. The big language models
# use sub-word tokens, with vocabularies of tens of thousands of entries. tinymtp uses the
# simplest tokenizer there is: **one character is one token**. The vocabulary is the sorted set of
# characters that appear in the corpus, and token `i` is the `i`-th character of that string.
#
# This costs something (sequences are longer, and the model must learn to spell), but it buys
# clarity: every token is a character you can see, and "head 3 guesses the token three places
# ahead" means "head 3 guesses the third character to come".

# %%
tokenizer = corpus.tokenizer
print(tokenizer)
print(repr(tokenizer.vocab[:70]))

# %%
ids = tokenizer.encode("def add(a, b):")
print(ids)
print(repr(tokenizer.decode(ids)))

# %% [markdown]
# The vocabulary belongs to the corpus it was built from, and it travels inside every checkpoint, so
# a trained model always decodes with the characters it was trained on. A character the model has
# never seen is an error that names it, rather than being quietly replaced by something else (which
# would make the model's guesses look wrong for no visible reason):

# %%
try:
    stories.tokenizer.encode("x = {}")  # the stories corpus has no '=', '{' or '}'
except TinyMTPError as error:
    print("TinyMTPError:", error)

# %% [markdown]
# ## 3. Training text and validation text
#
# To know whether a model learned something general rather than memorised its training text, we
# measure it on text it never trained on. tinymtp keeps **the last 10% of the corpus** apart as the
# validation text. The split is by position, one contiguous block, and not a random choice of
# windows: windows drawn at random from the same text would overlap the training windows, and the
# validation loss would reward memorising.

# %%
print(f"train: {len(corpus.train_text):,} characters   val: {len(corpus.val_text):,} characters")
print(repr(corpus.train_text[-60:]), "|", repr(corpus.val_text[:60]))

# %% [markdown]
# For `python-stdlib`, each module starts with a `# ---- name ----` line, so we can list the
# modules the validation text is made of:

# %%
[line for line in corpus.val_text.splitlines() if line.startswith("# ---- ")]

# %%
train_ids = corpus.tokens("train")  # (N_train,)
val_ids = corpus.tokens("val")  # (N_val,)
train_ids.shape, val_ids.shape, train_ids[:10]

# %% [markdown]
# ## 4. A target for every head: the shift picture
#
# Here is multi-token prediction in one line:
#
# > **head k at position t predicts the token x[t+k]**.
#
# Head 1 is the ordinary next-token head. So the targets of head 1 are the text shifted left by one
# position, the targets of head 2 the text shifted left by two, and so on. The last k positions of a
# sequence have no token k places ahead: there, head k's target is `IGNORE` (-100), a value the
# cross-entropy loss skips. It is *not* filled with some real token, which would teach the head a
# wrong answer.
#
# `shift_targets` builds these targets for a batch of sequences:

# %%
text = "def add(a, b):"
tokens = torch.tensor([tokenizer.encode(text)])  # (B, T) = (1, 14)
targets = shift_targets(tokens, n_heads=4)  # (B, T, n) = (1, 14, 4)
tokens.shape, targets.shape


# %% [markdown]
# Printed as a table, one row per head, one column per position, this is the *shift picture*
# (`␣` is a space, `·` marks "no target"):

# %%
def visible(token_id):
    return "·" if token_id == IGNORE else show_char(tokenizer.decode([token_id]))


print("position " + "".join(f"{t:>3}" for t in range(len(text))))
print("input    " + "".join(f"{visible(i):>3}" for i in tokens[0].tolist()))
for k in range(1, 5):
    print(f"head {k}   " + "".join(f"{visible(i):>3}" for i in targets[0, :, k - 1].tolist()))


# %% [markdown]
# Read it **row by row**: each head's row is the input row slid k places to the left.
#
# Read it **column by column**: at position 3 (the space after `def`), the model has read
# `def␣`. From that single position, head 1 must guess `a`, head 2 `d`, head 3 `d` and head 4 `(`.
# The trunk runs once; its hidden state at position 3 feeds all four heads, and each head gets its
# own target. That is where the extra training signal of MTP comes from: every position now asks
# the trunk to plan a little further ahead.
#
# ## 5. Build the targets yourself
#
# Writing a piece by hand is the best way to understand it. **Exercise 1.** Write the targets of every
# head for one sequence. `head_targets(tokens, n_heads)` gets a 1-D LongTensor of T token ids and
# returns a (T, n) LongTensor whose row t, column k - 1 is `tokens[t + k]`, or `IGNORE` where there is
# no token k places ahead: the shift picture above, turned on its side (one row per position, one
# column per head). The check calls your function on hidden sequences (one head, many heads, a single
# token, a sequence exactly as long as the heads reach) and compares each result with the library's
# `shift_targets`.

# %%
def head_targets(tokens, n_heads):
    raise NotImplementedError  # replace this line with your code


check("01.head_targets", head_targets)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def head_targets(tokens, n_heads):
#     T = len(tokens)
#     targets = torch.full((T, n_heads), IGNORE)  # (T, n): "no target" everywhere...
#     for k in range(1, n_heads + 1):
#         targets[: T - k, k - 1] = tokens[k:]  # ...except where tokens[t + k] exists
#     return targets
# ```
#
# The library builds a whole batch at once: `shift_targets(tokens[None], n_heads)[0]` gives the same
# (T, n) targets. A common slip is `tokens[k - 1:]`, one place short: head 1 would then copy its own
# input instead of predicting the next token.
# </details>
#
# Once your function passes, try it on our example: `head_targets(tokens[0], 4).T` prints the shift
# picture's rows as ids.

# %% [markdown]
# ## 6. Training batches
#
# During training we don't want to waste the last positions of every window: in the shift picture,
# head k has no target at the last k positions.
#
# **Exercise 2 (predict before reading on).** For a context of T = 8 characters and n = 4 heads, how
# many characters long must each window be so that every one of the 8 input positions has a real
# target for every head?

# %%
answer = None  # your prediction: a whole number
check("01.window_length", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# T + n = 8 + 4 = 12: eight input characters, and four more so that the last input position has a
# target for head 4. The cell after the next one shows such a window.
# </details>
#
# That is what `make_batch` does: it cuts
# windows of **T + n** characters out of the training text: the first T characters are the input
# `x`, and the n extra characters at the end give every one of the T positions a real target for
# every head. Head k's target is `window[k : k + T]`.
#
# The window starts are random, drawn from a seeded `torch.Generator`: the same seed gives the same
# batches, so a training run can be repeated exactly.

# %%
generator = torch.Generator().manual_seed(0)
x, y = make_batch(train_ids, batch_size=2, context_length=16, n_heads=4, generator=generator)
x.shape, y.shape  # (B, T) and (B, T, n)

# %%
x8, y8 = make_batch(train_ids, batch_size=1, context_length=8, n_heads=4, generator=torch.Generator().manual_seed(1))
window = torch.cat([x8, y8[:, -1, :]], dim=1)  # (1, T + n): the inputs, then the last position's targets
print(f"T = 8, n = 4: the window {tokenizer.decode(window[0])!r} is {window.size(1)} characters long")

# %%
print("input  ", repr(tokenizer.decode(x[0])))
for k in range(1, 5):
    print(f"head {k} ", repr(tokenizer.decode(y[0, :, k - 1])))

# %% [markdown]
# Two checks tie this back to the shift picture. Inside the window, head k's target is the input
# shifted by k. And if we glue the n extra characters back onto `x`, `shift_targets` of that whole
# window gives exactly `make_batch`'s targets:

# %%
T = x.size(1)
for k in range(1, 5):
    assert torch.equal(y[:, : T - k, k - 1], x[:, k:])  # head k: the input shifted left by k
window = torch.cat([x, y[:, -1, :]], dim=1)  # (B, T + n): the last position's targets are the n extra characters
assert torch.equal(shift_targets(window, 4)[:, :T], y)
print("make_batch's targets are the shift picture of a window of T + n characters")

# %% [markdown]
# ## Exercises
#
# Exercise 1 (the targets of every head) is in section 5 and exercise 2 (the window) in section 6.
# The two below ask you to **predict** a character or a number: write your guess in `answer` and run
# the check, then run the cell after it, which computes the answer with the library, and compare. The
# solutions are hidden under *Solution*.
#
# **Exercise 3.** At position 4 of `"return x + 1"` (positions count from 0), what is head 3's
# target? Answer with a one-character string.

# %%
answer = None  # your prediction: a one-character string, e.g. "a"
check("01.head3_target", answer)

# %%
example = torch.tensor([tokenizer.encode("return x + 1")])  # (1, 12)
print("head 3's target at position 4:", repr(tokenizer.decode([shift_targets(example, 4)[0, 4, 2].item()])))

# %% [markdown]
# <details><summary>Solution</summary>
#
# Head 3 at position 4 predicts x[4 + 3] = x[7]. In `return x + 1`, positions 0-5 are `return`,
# position 6 is the space, and position 7 is `x`. So `answer = "x"`.
# </details>
#
# **Exercise 4.** `shift_targets` on a single sequence of 10 tokens: at how many positions does
# head 4 have a real target (not `IGNORE`)?

# %%
answer = None  # your prediction: a whole number
check("01.positions_with_target", answer)

# %%
head4 = shift_targets(torch.arange(10)[None], 4)[0, :, 3]  # (T,): head 4's targets
print(head4.tolist(), "->", int((head4 != IGNORE).sum()), "real targets")

# %% [markdown]
# <details><summary>Solution</summary>
#
# 10 - 4 = 6. Positions 0..5 have a token four places ahead; positions 6..9 do not.
# </details>
#
# ## Recap
#
# - Text: `python-stdlib` (the default: the source of 45 standard-library modules, shipped with
#   tinymtp, the same bytes on every Python), `stories` (a seeded grammar), or any UTF-8 file. The last 10% is the validation text, in
#   one piece.
# - Tokens: one character = one token; the vocabulary is the sorted set of the corpus's characters and
#   travels inside every checkpoint; an unknown character is an error, never a silent substitute.
# - Targets: **head k at position t predicts x[t+k]**. `shift_targets(tokens (B, T), n)` -> targets
#   (B, T, n); head k's column is the input shifted left by k, and its last k positions are `IGNORE`
#   (-100), which the loss skips.
# - Batches: `make_batch` cuts windows of **T + n** characters: x (B, T) and y (B, T, n), a real
#   target for every head at every position; a seeded generator makes them repeatable.
#
# ## Next
#
# Notebook **02_trunk** follows a batch into the model: embeddings, causal self-attention (you write
# its weights yourself, with every shape printed) and the transformer blocks that produce the hidden
# state every head reads.
