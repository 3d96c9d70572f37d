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
# (the ordinary next-token head), head 2 predicts t+2, ..., head n predicts t+n. Training combines
# the heads' losses into one.
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
# - measure how many tokens each forward pass produces, check that the output equals greedy decoding,
#   and say why the wall-clock speed-up is smaller than the tokens per forward.
#
# Three small exercises ask you to **predict** a number before the cell that shows it: write your
# guess, run the check, then run the cell after it and compare.

# %%
import os
import time

import torch
from IPython.display import HTML, display

from tinymtp import viz
from tinymtp.analysis.predictions import head_predictions
from tinymtp.analysis.speedup import forward_costs
from tinymtp.decoding.decode import generate
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.exercises import check
from tinymtp.files.checkpoint import load_checkpoint
from tinymtp.files.paths import checkpoints_dir

FAST = os.environ.get("TINYMTP_FAST") == "1"  # the tests set this: a shorter timing of one forward
torch.set_num_threads(1)  # a model this small runs faster and steadier on one thread (notebook 04)

# %% [markdown]
# ## 1. A trained 4-head model
#
# `mtp-4head` is a small transformer with 4 heads, trained on the source code of Python's standard
# library, one character per token. The trunk runs once; at every position its hidden state fans out
# to the 4 heads, and one shared unembedding turns each head's vector into a guess:
#
# ![the fan of heads over a shared unembedding](../docs/fan-of-heads.svg)
#
# Its training metadata records each head's validation accuracy (the share of validation positions
# where the head's top guess is the real character k places ahead):

# %%
checkpoint = load_checkpoint(str(checkpoints_dir() / "mtp-4head"))
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
# Now generate. In each round, head 1's top token is certain; the other heads guess the tokens after
# it (the drafts). One forward pass feeds them all and tells us what head 1 would have chosen after
# each. Drafts are kept up to the first disagreement; head 1's choice there is added too.
#
# **Exercise 1 (predict, then run).** With this 4-head model, how many heads make drafts in each
# round? Write your guess, check it, then run the cell after it, which draws one round.

# %%
answer = None  # your prediction: a whole number
check("00.drafting_heads", answer)

# %%
tokens = 200
result = generate(model, tokenizer, prompt, DecodeSettings("speculative", tokens))
viz.speculative_round(result.trace.rounds[1], tokenizer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# 3: heads 2, 3 and 4. Head 1 gives the round's certain token and, in the next forward, checks the
# drafts.
# </details>
#
# The text it generated, each round's tokens on their own background (a long stretch is a round where
# many drafts were kept):

# %%
display(HTML(viz.committed_text_html(prompt, result.trace, tokenizer)))

# %% [markdown]
# ## 4. The speed-up
#
# Plain greedy decoding makes one forward pass per token. Speculative decoding makes fewer, and its
# output is identical.
#
# **Exercise 2 (predict, then run).** Greedy decoding of 200 new tokens: how many forward passes?
#
# **Exercise 3 (predict, then run).** At most how many tokens can one forward pass of this 4-head
# model add to the output in speculative decoding?
#
# Write both guesses, check them, then run the cell after them.

# %%
answer = None  # your prediction: a whole number
check("00.greedy_forwards", answer)

# %%
answer = None  # your prediction: a whole number
check("00.ceiling", answer)

# %%
started = time.perf_counter()
greedy = generate(model, tokenizer, prompt, DecodeSettings("greedy", tokens))
greedy_seconds = time.perf_counter() - started
started = time.perf_counter()
result = generate(model, tokenizer, prompt, DecodeSettings("speculative", tokens))
speculative_seconds = time.perf_counter() - started
assert result.tokens == greedy.tokens
summary = result.trace.summary()
print(f"same output as greedy: {result.tokens == greedy.tokens}")
print(f"greedy: {greedy.trace.summary()['forwards']} forward passes for {tokens} tokens; "
      f"speculative: {summary['forwards']} ({summary['tokens_per_forward']:.2f} tokens per forward, "
      f"the ceiling is {model.config.n_heads})")
print(f"acceptance length: {summary['acceptance_length']:.2f} tokens per verifying round (the bonus or "
      f"corrected token included)")
shares = ", ".join(f"head {k}: {share:.0%}" for k, share in enumerate(summary["acceptance_share_of_rounds"], start=2))
print(f"share of rounds that kept each head's draft: {shares}")
viz.wall_clock({"greedy": greedy_seconds, "speculative": speculative_seconds})

# %% [markdown]
# <details><summary>Solution</summary>
#
# Exercise 2: 200, one forward pass per token (the first one reads the prompt and gives the first
# token).
# </details>
#
# <details><summary>Solution</summary>
#
# Exercise 3: 4, the 3 drafts, all accepted, plus head 1's bonus token after them. That is why the
# tokens per forward can never exceed the number of heads.
# </details>
#
# The wall-clock gain is smaller than the tokens per forward. A speculative round's forward feeds 4
# tokens and runs 4 heads instead of 1 token and 1 head, and that costs more, so
#
# > speed-up ≈ tokens per forward / (cost of a verifying forward ÷ cost of a one-token forward).
#
# The cell below times both kinds of forward on this machine (the model alone, without the decoding
# loop's own overhead, which lowers the measured speed-up a little more):

# %%
costs = forward_costs(model, heads=model.config.n_heads, calls=20 if FAST else 100, repeats=3 if FAST else 5)
print(f"one-token forward: {costs['greedy_forward_ms']:.2f} ms; verifying forward: {costs['verify_forward_ms']:.2f} ms "
      f"({costs['model_cost_ratio']:.2f}x)")
print(f"expected speed-up ≈ {summary['tokens_per_forward']:.2f} / {costs['model_cost_ratio']:.2f} = "
      f"{summary['tokens_per_forward'] / costs['model_cost_ratio']:.2f}x; "
      f"measured once above: {greedy_seconds / speculative_seconds:.2f}x")

# %% [markdown]
# On a big model on a GPU at batch size 1, a forward pass is bound by reading the weights from memory,
# so feeding 4 tokens costs about the same as feeding 1: the ratio is near 1 and the speed-up
# approaches the tokens per forward. Gloeckle et al. 2024 (section 3.2) report 3.0x on code with 4
# heads. On this tiny CPU model the ratio is well above 1; notebook 06 measures the speed-up properly
# (repeated, interleaved, medians) and notebook 10 builds the cost model.
#
# ## 5. Where each idea is explained
#
# | notebook | what it explains |
# |---|---|
# | **00_tour** | this tour: every head's guesses, one speculative round, the speed-up and its cost model in one line |
# | **01_corpus_and_tokenizer** | the built-in corpora, characters as tokens, the train/val split, and how one batch carries a target for every head (the shift picture); you write the targets |
# | **02_trunk** | embeddings, causal self-attention written out with every shape, the block, the trunk; you write the attention weights |
# | **03_heads_and_loss** | the head types and which designs share the unembedding, the combined loss and its weights (you write it), the memory-saving backward pass |
# | **04_training** | training your own small MTP model with a live loss plot; per-head loss and accuracy; why heads further ahead are worse |
# | **05_what_the_heads_know** | per-head predictions on real text; accuracy against distance; "matches the text" versus "matches head 1", and why the second predicts the speed-up |
# | **06_self_speculative_decoding** | draft, verify, accept and cache rollback, round by round; the check against greedy; tokens per forward and the speed-up |
# | **07_speculative_sampling** | why min(1, p/q) and the residual keep sampling exact, with a worked example, an empirical check, and a naive rule that fails |
# | **08_related_ideas** | next-token vs multi-token training, self-speculation vs a separate draft model, and when MTP is worth it |
# | **09_trees_and_causal_heads** | causal (DeepSeek-V3) heads that draft one after the other, Medusa tree decoding with its attention mask, and what each buys on a CPU |
# | **10_mtp_at_scale** | MTP at scale and the cost model: DeepSeek-V3, models that ship MTP layers, EAGLE, Medusa-2; speed-up = tokens per forward / relative cost of a verifying forward; a roofline estimate |
#
# ## Recap
#
# - One trunk, n heads, one shared unembedding: **head k at position t predicts x[t+k]**; head 1 is
#   the ordinary next-token head. The logits have shape (B, T, n, V).
# - Self-speculative decoding: heads 2..n draft, one forward checks every draft against head 1, the
#   drafts are kept up to the first disagreement, plus head 1's own token there. The output is exactly
#   greedy decoding's.
# - Tokens per forward = committed tokens / forward passes, at most n. Acceptance length = tokens per
#   verifying round, the bonus or corrected token included.
# - Speed-up ≈ tokens per forward / relative cost of a verifying forward: close to the tokens per
#   forward on a GPU, less on a small CPU model.
#
# ## Next
#
# Notebook **01_corpus_and_tokenizer** starts at the beginning: where the text comes from, how it
# becomes tokens, and how one batch carries a target for every head.
