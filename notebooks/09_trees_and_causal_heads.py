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
# # 09 · Trees and causal heads
#
# Notebook 06 drafted with a *fan* of heads: heads 2, 3, 4 all read the trunk's state at one
# position and guess independently, and one chain of their best guesses is checked. This notebook
# tries two changes to that recipe, each from a well-known system, and measures what they buy on
# this machine:
#
# - **Causal heads** (DeepSeek-V3, 2024): head k also reads the *token before the one it
#   predicts*, so the heads form a chain, each building on the previous head's guess.
# - **Tree decoding** (Medusa, Cai et al. 2024): check several guesses per head at once, every
#   combination in one forward pass, with an attention mask that keeps the branches apart.
#
# **At the end of this notebook you will be able to**
# - say what a causal head reads, and show by experiment which tokens can change its prediction;
# - explain why causal heads must draft one after the other, and compare their drafts with linear heads';
# - write the attention mask of a small candidate tree by hand and check it against the library's;
# - run tree decoding, check it equals greedy decoding, and weigh its extra tokens per forward
#   against the cost of a bigger forward pass.
#
# The code behind this notebook is `tinymtp/heads.py` (`CausalHead`), `tinymtp/causal_drafts.py`,
# `tinymtp/tree.py`, `tinymtp/tree_decode.py` and `tinymtp/viz_tree.py`.

# %%
import os
from pathlib import Path

import torch

import tinymtp
from tinymtp import viz
from tinymtp.checkpoint import load_checkpoint
from tinymtp.corpora import shift_targets
from tinymtp.decode import generate
from tinymtp.exercises import check
from tinymtp.speedup import measure_decoding
from tinymtp.tree import parse_tree

FAST = os.environ.get("TINYMTP_FAST") == "1"  # the tests set this: fewer prompts and tokens
torch.set_num_threads(1)  # a model this small runs faster and steadier on one thread (notebook 04)
CHECKPOINTS = Path(tinymtp.__file__).resolve().parent.parent / "checkpoints"
linear = load_checkpoint(str(CHECKPOINTS / "mtp-4head"))  # 4 linear heads
causal = load_checkpoint(str(CHECKPOINTS / "causal-4head"))  # 4 causal heads, same recipe otherwise
tokenizer = linear.tokenizer
prompt = "class Queue:\n    def __init__(self"
for name, ckpt in (("linear", linear), ("causal", causal)):
    losses = ", ".join(f"{h['val_loss']:.3f}" for h in ckpt.metadata["heads"])
    print(f"{name:7} {ckpt.model.num_parameters():,} parameters, {ckpt.metadata['steps']} steps in "
          f"{ckpt.metadata['seconds'] / 60:.0f} min; val loss heads 1-4: {losses}")

# %% [markdown]
# ## 1. Causal heads: a chain instead of a fan
#
# A causal head k (k >= 2) at position t predicts x[t+k], like any head k. What it reads is new:
#
# | head | reads | predicts |
# |---|---|---|
# | 1 | the trunk's state at t | x[t+1] |
# | 2 | head 1's state at t, and the embedding of x[t+1] | x[t+2] |
# | 3 | head 2's state at t, and the embedding of x[t+2] | x[t+3] |
# | 4 | head 3's state at t, and the embedding of x[t+3] | x[t+4] |
#
# Each causal head normalises both inputs, concatenates them, projects back to the model width and
# runs one transformer layer of its own. In training the tokens ahead come from the text (the
# targets hold them already); the embedding and unembedding are shared with the main model.
#
# Look at the validation losses printed above: the causal model's heads 2-4 have *lower* loss
# than its head 1. That is no paradox. Head 4 predicts x[t+4] knowing x[t+1], x[t+2] and x[t+3]
# from the text, so it is nearly a next-token predictor. When drafting, those tokens are not
# the text but the earlier heads' guesses, which can be wrong.
#
# Which tokens can change head k's prediction at position t? Change one token and watch:

# %%
ids = tokenizer.encode(prompt)
x = torch.tensor([ids])  # (1, T)
s = len(ids) - 4  # the position we change
changed = x.clone()
changed[0, s] = tokenizer.encode("#")[0]
with torch.no_grad():
    before = causal.model(x, ahead=shift_targets(x, 4)).logits[0]  # (T, 4, V)
    after = causal.model(changed, ahead=shift_targets(changed, 4)).logits[0]
for k in range(1, 5):
    moved = (before[:, k - 1] - after[:, k - 1]).abs().amax(-1) > 0  # (T,): did head k's output change?
    first = int(moved.nonzero()[0])
    print(f"head {k}: changing x[{s}] first changes its output at position t = {first} (= {s} - {s - first})")

# %% [markdown]
# Head k's output first moves at t = s - (k - 1): head k at position t has read everything up to
# x[t+k-1] and nothing after it. (For linear heads every head first moves at t = s, see notebook 02.)

# %%
answer = None  # head 4 at position t reads the embedding of x[t + ?]: give the offset
check("09.causal_reads", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# 3: head 4 reads the embedding of x[t+3], the token just before the one it predicts (x[t+4]).
# </details>
#
# ## 2. Drafting one after the other
#
# To draft at the last accepted position p, head 2 needs x[p+1]: that is the sure token, known.
# Head 3 needs x[p+2], which is head 2's draft; head 4 needs head 3's. So the drafts come **one
# after the other**, K - 1 small forward passes of one layer each, instead of for free from the
# verifying forward. Each causal head keeps its own small KV cache: its entries that read a
# committed token stay, the ones that read a draft are recomputed next round
# (`causal_drafts.ChainDrafter`). In exchange, each draft *knows* the drafts before it.
#
# Run both models on the same prompt; both are checked by their own head 1, so each equals its own
# model's greedy output:

# %%
new_tokens = 60 if FAST else 200
for name, ckpt in (("linear", linear), ("causal", causal)):
    spec = generate(ckpt.model, tokenizer, prompt, mode="speculative", max_new_tokens=new_tokens)
    greedy = generate(ckpt.model, tokenizer, prompt, mode="greedy", max_new_tokens=new_tokens)
    summary = spec.trace.summary()
    rates = " / ".join(f"{a['rate']:.2f}" for a in summary["acceptance_per_head"])
    print(f"{name:7} {summary['tokens_per_forward']:.2f} tokens per forward, acceptance heads 2/3/4: {rates}, "
          f"identical to greedy: {spec.tokens == greedy.tokens}")

# %% [markdown]
# Acceptance of head k counts only the rounds where heads 2..k-1 were all accepted, so "head 3:
# 0.9" means "when head 2 was right, head 3 was right 90% of the time". That conditional rate is
# where a chain helps: a causal head 3 that sees head 2's (correct) draft is in a much better
# position than a linear head 3 that must guess x[t+3] without knowing x[t+2].
#
# Now the speed. Tokens per forward counts the main model's forwards; the causal drafts' own small
# forwards do not count there, but they do cost wall-clock time:

# %%
prompts = ["class Queue:\n    def __init__(self", "import os\n\n\ndef main(", "        if self._",
           "    return "][: 2 if FAST else 4]
speed = {}
for name, ckpt in (("linear", linear), ("causal", causal)):
    speed[name] = measure_decoding(ckpt.model, tokenizer, prompts, max_new_tokens=48 if FAST else 200,
                                   repeats=1 if FAST else 3, heads_sweep=[4])
    full = speed[name]["modes"]["speculative"]
    print(f"{name:7} {full['tokens_per_forward']:.2f} tokens per forward, {full['speedup']:.2f}x over greedy "
          f"(a verifying round costs {full['forward_cost_ratio']:.2f}x a greedy forward, drafts included)")

# %% [markdown]
# ## 3. Trees: many guesses, one forward
#
# A chain stops at its first wrong guess, even when that head's *second* guess was right. A tree
# puts several guesses per head into the same forward pass. A tree **shape** is a list of paths
# of ranks: `(1, 0)` is the node at depth 2 holding head 3's best guess, below head 2's
# second-best guess. Every node is fed in one forward pass, at position prefix + depth, with a
# **tree attention mask**: a node may look at the prompt, the root (the sure token), its own
# ancestors and itself, never at a sibling or a cousin. So each node is computed exactly as if its
# own branch were the only text, and head 1 at a node gives the greedy next token after that branch.
#
# Here is the library's mask for the tree with paths `[0]`, `[1]`, `[0, 0]` (root = node 0):

# %%
small = parse_tree("[[0],[1],[0,0]]")
print("node parents:", small.parents, " depths:", small.depths)
print(small.mask.int())

# %%
answer = None  # the mask of [[0],[1],[0,0],[1,0]] as a list of 5 rows of 0/1 (root first)
check("09.tree_mask", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Node 1 is (0,), node 2 is (1,), node 3 is (0, 0) below node 1, node 4 is (1, 0) below node 2.
# Each row: the root, the node's ancestors, the node itself:
# `[[1,0,0,0,0], [1,1,0,0,0], [1,0,1,0,0], [1,1,0,1,0], [1,0,1,0,1]]`.
# </details>
#
# One round, drawn. Green ✓ is the kept path; a vermillion ✗ node was checked (its parent was
# kept) and head 1 chose another token there; grey nodes were never checked, because a node
# above them was already rejected:

# %%
tree_run = generate(linear.model, tokenizer, prompt, mode="tree", tree="3,2,1", max_new_tokens=40)
rounds = [r for r in tree_run.trace.rounds if r.tree]
shown = max(rounds, key=lambda r: sum(not n["accepted"] and n["checked"] for n in r.tree["nodes"]))
viz.candidate_tree(shown, tokenizer)

# %%
viz.tree_attention_mask(shown)

# %%
answer = None  # how many nodes below the root has the tree "3,2,1"?
check("09.tree_nodes", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# 3 + 3 x 2 + 3 x 2 x 1 = 15: head 2's top 3; below each, head 3's top 2; below each of those,
# head 4's best guess. The forward pass feeds 16 tokens (the root too).
# </details>
#
# ## 4. Does the tree pay off here?
#
# The tree can only *add* accepted tokens (the chain is one of its branches), but every node is
# one more token in the forward pass, and on a CPU a forward over 16 tokens costs far more than
# over 4. The default shape was chosen by measurement on held-out prompts
# (`python -m tinymtp bench tree`): the most often right branches first.

# %%
trees = ["default", "3,2,1"]
result = measure_decoding(linear.model, tokenizer, prompts, max_new_tokens=48 if FAST else 200,
                          repeats=1 if FAST else 3, heads_sweep=[4], trees=trees)
chain = result["modes"]["speculative"]
print(f"{'chain (K=4)':24} {chain['tokens_per_forward']:.2f} tokens per forward, {chain['speedup']:.2f}x, "
      f"forward cost {chain['forward_cost_ratio']:.2f}x greedy")
for entry in result["tree_sweep"]:
    print(f"{'tree of ' + str(entry['nodes']) + ' nodes':24} {entry['tokens_per_forward']:.2f} tokens per forward, "
          f"{entry['speedup']:.2f}x, forward cost {entry['forward_cost_ratio']:.2f}x greedy, "
          f"identical to greedy: {entry['identical']}")

# %% [markdown]
# What to take away:
#
# - **Tokens per forward has a hard ceiling**: with 3 drafting heads a round commits at most 4
#   tokens, and the chain already gets about 3.2. The second and third guesses of a head are
#   rarely right (the README's tree table: head 2's top guess is right 86% of the time, its second
#   only about 6%), so even a 64-node tree reaches only about 3.7.
# - **On a CPU the bigger forward costs more than it wins.** The papers' tree gains were measured
#   on GPUs, where a forward over 64 tokens costs about the same as over 1 (it is bound by reading
#   the weights). Here the arithmetic grows with the tokens fed.
# - **The chain of causal heads** trades K - 1 small sequential forwards for drafts that see the
#   earlier drafts. Whether that wins depends on how much better its later heads guess; the
#   numbers above and `python -m tinymtp experiment head-types` measure it.
