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
# # 00 · Multi-token prediction in five minutes
#
# A language model is normally trained to predict the **next** token. *Multi-token prediction*
# (MTP) keeps one shared trunk and adds more output heads: at position t, head 1 predicts token t+1
# (the ordinary next-token head), head 2 predicts t+2, ..., head n predicts t+n. Training adds up
# the heads' losses.
#
# After training, the extra heads can be thrown away (the model is then an ordinary next-token
# model), or used as a free *draft*: they guess the next few tokens, one forward pass of the model
# checks all the guesses at once, and every guess that head 1 agrees with is kept. That is
# **self-speculative decoding**, and it produces exactly the text greedy decoding would, in fewer
# forward passes.
#
# This tour shows all of it on the small checkpoint that ships with tinymtp, then points to the
# notebook that explains each piece.
#
# **At the end of this notebook you will be able to**
# - load a trained MTP model and read every head's guesses on a prompt;
# - read one round of self-speculative decoding: drafts, verification, accepted and rejected tokens;
# - measure how many tokens each forward pass produces, and check that the output equals greedy decoding.

# %%
import os
import time
from pathlib import Path

import torch
from IPython.display import HTML, display

import tinymtp
from tinymtp import viz
from tinymtp.checkpoint import load_checkpoint
from tinymtp.decode import generate
from tinymtp.exercises import check
from tinymtp.predictions import head_predictions

FAST = os.environ.get("TINYMTP_FAST") == "1"  # the tests set this: shorter generations
torch.set_num_threads(1)  # a model this small runs faster and steadier on one thread (notebook 04)
CHECKPOINTS = Path(tinymtp.__file__).resolve().parent.parent / "checkpoints"

# %% [markdown]
# ## 1. A trained 4-head model
#
# `mtp-4head` is a small transformer with 4 heads, trained on the source code of Python's standard
# library, one character per token. Its training metadata records each head's validation accuracy:

# %%
checkpoint = load_checkpoint(str(CHECKPOINTS / "mtp-4head"))
model, tokenizer = checkpoint.model, checkpoint.tokenizer
cfg = model.config
print(f"{cfg.n_layers} layers, width {cfg.d_model}, context {cfg.context_length} characters, {cfg.n_heads} heads, "
      f"{model.num_parameters():,} parameters, trained for {checkpoint.metadata['steps']} steps")
for h in checkpoint.metadata["heads"]:
    print(f"head {h['head']} predicts the character {h['head']} ahead: val accuracy {h['val_accuracy']:.1%}")

# %% [markdown]
# ## 2. Every head's guess, at every position
#
# Give it a prompt. Each column below is a position of the prompt (the character just read); each
# row is a head, with its top guess for the character k places later. A green circle marks a guess
# that matches the real next characters of the prompt; an orange diamond a guess that matches what
# head 1 itself would generate, which is what speculative decoding will check.

# %%
prompt = "    def __init__(self, name):\n        self.name = name\n"
viz.head_grid(head_predictions(model, tokenizer, prompt))

# %% [markdown]
# ## 3. One round of speculative decoding
#
# Now generate. In each round, head 1's top token is certain; heads 2, 3 and 4 guess the three after
# it (the drafts). One forward pass feeds all four and tells us what head 1 would have chosen after
# each. Drafts are kept up to the first disagreement; head 1's choice there is added too.

# %%
tokens = 40 if FAST else 200
result = generate(model, tokenizer, prompt, mode="speculative", max_new_tokens=tokens)
viz.speculative_round(result.trace.rounds[1], tokenizer)

# %% [markdown]
# The text it generated, each round's tokens on their own background (a long stretch is a round where
# many drafts were kept):

# %%
display(HTML(viz.committed_text_html(prompt, result.trace, tokenizer)))

# %% [markdown]
# ## 4. The speed-up
#
# Plain greedy decoding makes one forward pass per token. Speculative decoding makes fewer, and its
# output is identical:

# %%
started = time.perf_counter()
greedy = generate(model, tokenizer, prompt, mode="greedy", max_new_tokens=tokens)
greedy_seconds = time.perf_counter() - started
started = time.perf_counter()
result = generate(model, tokenizer, prompt, mode="speculative", max_new_tokens=tokens)
speculative_seconds = time.perf_counter() - started
assert result.tokens == greedy.tokens
summary = result.trace.summary()
print(f"same output as greedy: {result.tokens == greedy.tokens}")
print(f"greedy: {greedy.trace.summary()['forwards']} forward passes; speculative: {summary['forwards']} "
      f"({summary['tokens_per_forward']:.2f} tokens per forward, the ceiling is {model.config.n_heads})")
viz.wall_clock({"greedy": greedy_seconds, "speculative": speculative_seconds})

# %% [markdown]
# On a big model on a GPU, a forward pass costs about the same for 1 or 4 tokens, and the speed-up
# approaches the tokens per forward: the MTP paper reports 3.0x on code with 4 heads (Gloeckle et al.
# 2024). On this tiny CPU model, per-round overhead eats part of the gain; notebook 06 measures it
# properly.
#
# ## 5. Where each idea is explained
#
# | notebook | what it explains |
# |---|---|
# | **01_corpus_and_tokenizer** | the built-in corpora, characters as tokens, the train/val split, and how one batch carries a target for every head (the shift picture) |
# | **02_trunk** | embeddings, causal self-attention written out with every shape, the block, the trunk |
# | **03_heads_and_loss** | the head types, the shared unembedding, the combined loss and its weights, the memory-saving backward pass |
# | **04_training** | training a small MTP model with a live loss plot; per-head loss and accuracy; why heads further ahead are worse |
# | **05_what_the_heads_know** | per-head predictions on real text; accuracy against distance; "matches the text" versus "matches head 1", and why the second predicts the speed-up |
# | **06_self_speculative_decoding** | draft, verify, accept and cache rollback, round by round; the check against greedy; tokens per forward and the speed-up |
# | **07_speculative_sampling** | why min(1, p/q) and the residual keep sampling exact, with a worked example, an empirical check, and a naive rule that fails |
# | **08_related_ideas** | next-token vs multi-token training, self-speculation vs a separate draft model, and when MTP is worth it |
#
# ## Exercises
#
# **Exercise 1.** In self-speculative decoding with this 4-head model, how many heads make drafts?

# %%
answer = None  # a whole number
check("00.drafting_heads", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# 3: heads 2, 3 and 4. Head 1 gives the round's certain token and checks the drafts.
# </details>
#
# **Exercise 2.** At most how many tokens can one forward pass of this model add to the output?

# %%
answer = None  # a whole number
check("00.ceiling", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# 4: the 3 drafts, all accepted, plus head 1's bonus token after them. That is why the tokens per
# forward can never exceed the number of heads.
# </details>
