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
# - measure how many tokens each forward pass produces, on text like the corpus's first and on
#   greedy's own (looping) text second, check that the output equals greedy decoding, and say why the
#   wall-clock speed-up is smaller than the tokens per forward.
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
from tinymtp.analysis.repetition import before_loop, text_statistics
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
# ## 4. The speed-up, and on what text
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
      f"speculative: {summary['forwards']} ({summary['tokens_per_forward']:.2f} tokens per forward on greedy's own "
      f"text, the ceiling is {model.config.n_heads}; how much of that text is a loop: below)")
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
# **But on what text?** Scroll back to the text of section 3. A model this small, decoding greedily,
# soon writes one stretch over and over (often a run of spaces), and inside such a loop every draft
# is easy: the heads only have to say "more of the same". `text_statistics` measures it: the share of
# distinct 8-character pieces (real code has most of its pieces distinct) and where the loop the text
# ends in starts (`tinymtp/analysis/repetition.py`, notebook 06 explains it). Then the honest figure:
# the same model **sampling** at temperature 1, whose text has the statistics of the corpus
# (*corpus-like text*), drafted with exact speculative sampling (notebook 07), against plain
# sampling, over a few seeds:

# %%
stats = text_statistics(result.text)
before_tokens, before_forwards = before_loop(result.trace.rounds, stats["loop_start"])
seeds = 2 if FAST else 4
sampled = {mode: [generate(model, tokenizer, prompt, DecodeSettings(mode, tokens, temperature=1.0, seed=s))
                  for s in range(seeds)] for mode in ("sample", "speculative-sample")}
spent = {mode: sum(r.trace.seconds for r in runs) for mode, runs in sampled.items()}
drafted = sampled["speculative-sample"]
sampled_tpf = sum(len(r.tokens) for r in drafted) / sum(r.trace.forwards for r in drafted)
sampled_distinct = sum(text_statistics(r.text)["distinct_8"] for r in drafted) / seeds
print(f"ON CORPUS-LIKE TEXT (sampled at temperature 1, {seeds} seeds): {sampled_tpf:.2f} tokens per forward, "
      f"{spent['sample'] / spent['speculative-sample']:.2f}x the speed of plain sampling; "
      f"{sampled_distinct:.0%} of its 8-character pieces distinct")
print(f"ON GREEDY'S TEXT: {summary['tokens_per_forward']:.2f} tokens per forward, "
      f"{greedy_seconds / speculative_seconds:.2f}x greedy; {stats['distinct_8']:.0%} of its 8-character pieces "
      f"distinct, " + ("no loop" if stats["loop_start"] is None else
                       f"a loop from new character {stats['loop_start']}: {before_tokens / before_forwards:.2f} "
                       f"tokens per forward before it"))
print(f"acceptance length on greedy's text: {summary['acceptance_length']:.2f} tokens per verifying round (the bonus "
      f"or corrected token included)")

# %% [markdown]
# The first line is the figure to quote: it measures how well the heads guess text like the text
# the model learned from. The second mostly measures the loop. Whenever you meet a tokens-per-forward
# figure (here, in the app, in a paper), ask what text it was measured on.
#
# The wall-clock gain is smaller than the tokens per forward. A speculative round's forward feeds 4
# tokens and runs 4 heads instead of 1 token and 1 head, and that costs more: the **forward cost
# ratio**, a verifying forward over a greedy (one-token) forward. So
#
# > speed-up ≈ tokens per forward / forward cost ratio
#
# and the decoding loop's own bookkeeping lowers it a little more (notebook 06 measures the **round
# cost ratio**, a whole verifying round over a greedy step, which includes it). The cell below times
# both kinds of forward on this machine, the model alone:

# %%
costs = forward_costs(model, heads=model.config.n_heads, calls=20 if FAST else 100, repeats=3 if FAST else 5)
print(f"one-token forward: {costs['greedy_forward_ms']:.2f} ms; verifying forward: {costs['verify_forward_ms']:.2f} ms: "
      f"forward cost ratio {costs['model_cost_ratio']:.2f}")
print(f"on corpus-like text, expected speed-up ≈ {sampled_tpf:.2f} / {costs['model_cost_ratio']:.2f} = "
      f"{sampled_tpf / costs['model_cost_ratio']:.2f}x; measured once above: "
      f"{spent['sample'] / spent['speculative-sample']:.2f}x")

# %% [markdown]
# On a big model on a GPU at batch size 1, a forward pass is bound by reading the weights from memory,
# so by the roofline's bound feeding 4 tokens costs about what feeding 1 does and the ratio comes
# close to 1 (notebook 10 works it out; real kernels pay something per extra token, so the bound is
# not the measurement). Gloeckle et al. 2024 (section 3.2; per data set, Table S2) report up to 3x with
# 4 heads, measured on real code and text; the like-for-like figure here is the one on corpus-like
# text, not greedy's looping text, and on this tiny CPU model the forward cost ratio is well above 1.
# Notebook 06 measures the speed-up properly (repeated, interleaved, medians) and notebook 10 builds
# the cost model.
#
# ## 5. Where each idea is explained
#
# | notebook | what it explains |
# |---|---|
# | **00_tour** | this tour: every head's guesses, one speculative round, the speed-up and its cost model in one line |
# | **01_corpus_and_tokenizer** | the built-in corpora, characters as tokens, the train/val split, and how one batch carries a target for every head (the shift picture); you write the targets |
# | **02_trunk** | embeddings, causal self-attention written out with every shape, the block, the trunk; you write the attention weights |
# | **03_heads_and_loss** | the head types and which designs share the unembedding, the combined loss and its weights (you write it), the memory-saving backward pass |
# | **04_training** | training your own small MTP model with a live loss plot and text samples as it learns; the loop written by you; per-head loss and accuracy; why heads further ahead are worse |
# | **05_what_the_heads_know** | per-head predictions on real text; accuracy against distance; "matches the text" versus "matches head 1", and why the second predicts the speed-up |
# | **06_self_speculative_decoding** | draft, verify, accept and cache rollback; the whole decoding loop written by you; the repetition trap; tokens per forward and the speed-up on corpus-like text first |
# | **07_speculative_sampling** | why min(1, p/q) and the residual keep sampling exact (Leviathan et al.'s Algorithm 1 beside the code), the sampled round written by you, a decisive check on your model, acceptance against temperature |
# | **08_related_ideas** | next-token vs multi-token training, self-speculation vs a separate draft model, the experiments' findings (a curriculum of heads included), why predicting two tokens can teach more, and when MTP is worth it |
# | **09_trees_and_causal_heads** | causal (DeepSeek-V3) and sequential (Hydra) heads that read the drafts, why a parallel head can only aim at the marginal, Medusa tree decoding with its attention mask, and what each buys on a CPU |
# | **10_mtp_at_scale** | MTP at scale and the cost model: DeepSeek-V3, models that ship MTP layers, EAGLE, Medusa; tokens per round from acceptance (Leviathan et al.'s Theorem 3.8); speed-up = acceptance length / round cost ratio; a roofline drawn beside this CPU's measured costs |
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
# - Quote drafting on **corpus-like text** (exact speculative sampling at temperature 1) first: greedy
#   text of a model this small loops, and inside a loop every draft is easy.
# - Speed-up ≈ tokens per forward / forward cost ratio (a verifying forward over a greedy one): close
#   to the tokens per forward where that ratio is near 1 (a big model on a GPU), less on a small CPU model.
#
# ## Next
#
# Notebook **01_corpus_and_tokenizer** starts at the beginning: where the text comes from, how it
# becomes tokens, and how one batch carries a target for every head.
