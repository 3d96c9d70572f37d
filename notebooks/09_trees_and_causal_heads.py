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
#   predicts*, so the heads form a chain, each building on the previous head's guess. DeepSeek-V3
#   trained ONE such module (MTP depth D = 1: it predicts only the token after next; report
#   section 2.2, depth set in section 4.2); the chain of three used here is this project's extension
#   of that recipe, not something the report measured.
# - **Tree decoding** (Medusa, Cai et al. 2024): check several guesses per head at once, every
#   combination in one forward pass, with an attention mask that keeps the branches apart.
#
# **At the end of this notebook you will be able to**
# - say what a causal head reads, and show by experiment which tokens can change its prediction;
# - explain why causal heads must draft one after the other, and compare their drafts with a fan of heads';
# - write the tree attention mask from parent links yourself, checked against the library's;
# - run tree decoding, check it equals greedy decoding, and weigh its extra tokens per forward
#   against the cost of a bigger forward pass.
#
# The code behind this notebook is `tinymtp/core/heads.py` (`CausalHead`), `tinymtp/decoding/causal_drafts.py`,
# `tinymtp/decoding/tree.py`, `tinymtp/decoding/tree_decode.py` and `tinymtp/viz/tree.py`.
#
# The fan of heads studied here is **your own model** from notebook 04 when you saved one
# (`runs/my-model`), else the shipped `mtp-4head`; the first cell says which. The causal model is
# always the shipped `causal-4head`, trained with `mtp-4head`'s training command (not distilled
# afterwards). If the fan is yours, it differs from `mtp-4head` in size (notebook 04 trains a smaller preset for a minute or so, where
# `mtp-4head` trained 5000 steps), so expect fewer tokens per forward than the tables in docs/measurements.md.

# %%
import os

import torch

from tinymtp import viz
from tinymtp.analysis.speedup import BenchPlan, measure_decoding
from tinymtp.data.corpora import shift_targets
from tinymtp.decoding.decode import generate
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.decoding.tree import parse_tree
from tinymtp.exercises import check
from tinymtp.files.checkpoint import load_checkpoint
from tinymtp.files.paths import checkpoints_dir, learner_model

FAST = os.environ.get("TINYMTP_FAST") == "1"  # the tests set this: fewer prompts and tokens
torch.set_num_threads(1)  # a model this small runs faster and steadier on one thread (notebook 04)
mine = learner_model()
fan = load_checkpoint(str(mine.path))  # your model from notebook 04, else mtp-4head
causal = load_checkpoint(str(checkpoints_dir() / "causal-4head"))  # 4 causal heads, mtp-4head's recipe otherwise
tokenizer = causal.tokenizer
if fan.tokenizer != tokenizer or fan.model.config.n_heads < 2:  # e.g. trained on another corpus, or 1 head
    print(f"not using {mine.path}: it needs 2+ heads and the python-stdlib characters of causal-4head")
    mine = type(mine)(path=checkpoints_dir() / "mtp-4head", is_own=False)
    fan = load_checkpoint(str(mine.path))
print("the fan of heads:", mine.describe())
n = fan.model.config.n_heads
prompt = "class Queue:\n    def __init__(self"
for name, ckpt in (("fan", fan), ("causal", causal)):
    cfg, losses = ckpt.model.config, ", ".join(f"{h['val_loss']:.3f}" for h in ckpt.metadata["heads"])
    print(f"{name:7} {cfg.n_heads} {cfg.head_type} heads, {ckpt.model.num_parameters():,} parameters, "
          f"{ckpt.metadata['steps']} steps in {ckpt.metadata['seconds'] / 60:.1f} min; val loss head 1 first: {losses}")

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
# Which tokens can change head k's prediction at position t? **Predict first**: head 4 at position t
# reads the embedding of x[t + ?]. Write your answer, then run the experiment below it.

# %%
answer = None  # head 4 at position t reads the embedding of x[t + ?]: give the offset
check("09.causal_reads", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# 3: head 4 reads the embedding of x[t+3], the token just before the one it predicts (x[t+4]).
# </details>
#
# Now change one token and watch which positions of each head move:

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
show = lambda rates: " / ".join("-" if r is None else f"{r:.2f}" for r in rates)  # noqa: E731
for name, ckpt in (("fan", fan), ("causal", causal)):
    spec = generate(ckpt.model, tokenizer, prompt, DecodeSettings("speculative", new_tokens))
    greedy = generate(ckpt.model, tokenizer, prompt, DecodeSettings("greedy", new_tokens))
    summary = spec.trace.summary()
    print(f"{name:7} {summary['tokens_per_forward']:.2f} tokens per forward, acceptance length "
          f"{summary['acceptance_length']:.2f}, identical to greedy: {spec.tokens == greedy.tokens}\n"
          f"        heads {summary['drafters']}: conditional {show(summary['acceptance_conditional'])}, "
          f"share of rounds {show(summary['acceptance_share_of_rounds'])}")

# %% [markdown]
# The trace gives two acceptance rates per head (tinymtp/decoding/trace.py):
#
# - **conditional**: P(head k kept | heads 2..k-1 kept), counted over the rounds that reached head
#   k. "head 3: 0.9" means "when head 2's draft was kept, head 3's was kept 90% of the time";
# - **share of rounds**: the rounds that kept head k's draft, over all rounds that drafted. It is the
#   product of the conditional rates up to k, so it can only fall from head to head.
#
# And the **acceptance length** is the tokens one verifying round commits, the corrected or bonus
# token included (the EAGLE / SGLang convention). The conditional rate is where a chain helps: a
# causal head 3 that sees head 2's (kept) draft is in a much better position than a fan's head 3,
# which must guess x[t+3] without knowing x[t+2].
#
# Now the speed. Tokens per forward counts the main model's forwards; the causal drafts' own small
# forwards do not count there, but they do cost wall-clock time:

# %%
prompts = ["class Queue:\n    def __init__(self", "import os\n\n\ndef main(", "        if self._",
           "    return "][: 2 if FAST else 4]
speed = {}
for name, ckpt in (("fan", fan), ("causal", causal)):
    speed[name] = measure_decoding(ckpt.model, tokenizer, prompts, BenchPlan(max_new_tokens=48 if FAST else 200, repeats=1 if FAST else 3, draft_lens=(ckpt.model.config.n_heads - 1,)))
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
# ![the default candidate tree and its tree attention mask](../docs/tree-with-mask.svg)
#
# The tree is stored as **parent links**: `parents[i]` is the node just above node i, and the root's
# is -1. Here is the library's mask for the tree with paths `[0]`, `[1]`, `[0, 0]` (root = node 0):

# %%
small = parse_tree("[[0],[1],[0,0]]")
print("node parents:", small.parents, " depths:", small.depths)
print(small.mask.int())

# %% [markdown]
# **Write it yourself.** `tree_mask(parents)` takes the parent links of a tree (parents[0] = -1,
# and every parent comes before its children) and returns the (N, N) `torch.bool` mask: row i is
# True at i itself and at every ancestor of i, up to and including the root. The check runs it on
# hidden trees, from a chain to a star to random ones, against `tinymtp.decoding.tree.tree_mask`.

# %%
def tree_mask(parents):
    raise NotImplementedError  # replace this line with your code


check("09.tree_mask", tree_mask)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def tree_mask(parents):
#     N = len(parents)
#     mask = torch.eye(N, dtype=torch.bool)  # (N, N): every node sees itself
#     for i in range(1, N):  # parents come first, so row parents[i] is already complete
#         mask[i] |= mask[parents[i]]  # ... and whatever its parent sees
#     return mask
# ```
# Walking up from each node (`j = parents[j]` until -1) gives the same mask; copying the parent's
# finished row is the library's three-line version.
# </details>
#
# **Predict, then run.** How many nodes below the root has the tree `"3,2,1"` (head 2's top 3, head
# 3's top 2 below each, head 4's best below each of those)? Write your guess; the round drawn next
# uses that tree.

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
# One round, drawn. Green ✓ is the kept path; a vermillion ✗ node was checked (its parent was
# kept) and head 1 chose another token there; grey nodes were never checked, because a node
# above them was already rejected:

# %%
widths = ",".join(str(w) for w in [3, 2, 1][: n - 1])  # "3,2,1" for 4 heads: one depth per drafting head
tree_run = generate(fan.model, tokenizer, prompt, DecodeSettings("tree", 40, tree=widths))
rounds = [r for r in tree_run.trace.rounds if r.tree]
shown = max(rounds, key=lambda r: sum(not n["accepted"] and n["checked"] for n in r.tree["nodes"]))
viz.candidate_tree(shown, tokenizer)

# %%
viz.tree_attention_mask(shown)

# %% [markdown]
# ## 4. Does the tree pay off here?
#
# The tree can only *add* accepted tokens (the chain is one of its branches), but every node is
# one more token in the forward pass, and on a CPU a forward over 16 tokens costs far more than
# over 4. The default shape was chosen by measurement on held-out prompts
# (`python -m tinymtp bench tree`): the most often right branches first.

# %%
result = measure_decoding(fan.model, tokenizer, prompts, BenchPlan(max_new_tokens=48 if FAST else 200, repeats=1 if FAST else 3, draft_lens=(n - 1,), trees=tuple([None, widths])))  # None: the default shape
chain = result["modes"]["speculative"]
print(f"{f'chain (K={n})':24} {chain['tokens_per_forward']:.2f} tokens per forward, {chain['speedup']:.2f}x, "
      f"forward cost {chain['forward_cost_ratio']:.2f}x greedy")
for entry in result["tree_sweep"]:
    print(f"{'tree of ' + str(entry['nodes']) + ' nodes':24} {entry['tokens_per_forward']:.2f} tokens per forward, "
          f"{entry['speedup']:.2f}x, forward cost {entry['forward_cost_ratio']:.2f}x greedy, "
          f"identical to greedy: {entry['identical']}")

# %% [markdown]
# What to take away:
#
# - **Tokens per forward has a hard ceiling**: with n - 1 drafting heads a round commits at most n
#   tokens, and the chain above already comes close. A head's second and third guesses are rarely
#   the right ones, so a tree adds little: compare the trees' tokens per forward with the chain's.
#   The tree table in docs/measurements.md (`python -m tinymtp bench tree` on `mtp-4head`, trees of 4 to 64 nodes)
#   gives the full picture, with how often each rank is right.
# - **On a CPU the bigger forward costs more than it wins.** Look at the forward cost column: every
#   node is one more token fed. The papers' tree gains were measured on GPUs, where a forward over
#   64 tokens costs about the same as over 1 (it is bound by reading the weights; notebook 10 works
#   this out with a roofline). Here the arithmetic grows with the tokens fed.
# - **The chain of causal heads** trades K - 1 small sequential forwards for drafts that see the
#   earlier drafts. Whether that wins depends on how much better its later heads guess; the
#   numbers above and `python -m tinymtp experiment head-types` measure it.
#
# ## Recap
#
# - Causal head k (k >= 2) at position t reads head k-1's state and the embedding of x[t+k-1], and
#   predicts x[t+k]; its output first changes at t = s - (k - 1) when x[s] changes.
# - Causal drafts come one after the other: K - 1 small forwards per round, each with its own KV cache.
#   DeepSeek-V3 trained one such module (depth 1); deeper chains are this project's extension.
# - Acceptance: conditional P(head k kept | heads 2..k-1 kept); share of rounds = the product of the
#   conditional rates up to k; acceptance length = tokens per verifying round, bonus included.
# - A tree shape is a list of rank paths; node i's parent is its path without the last rank.
# - Tree mask (N, N): row i is True at i and at its ancestors (the root included); every node also
#   sees the prefix; position id = prefix length + depth.
# - Nodes of widths w1, w2, w3: w1 + w1 w2 + w1 w2 w3 below the root; the forward feeds one more.
# - Speed-up = tokens per forward / forward cost: a tree raises the first and, on a CPU, the second more.
#
# ## Next
#
# Notebook `10_mtp_at_scale` leaves this laptop: how DeepSeek-V3 and other large models ship MTP
# layers and use them as drafters, the cost model that turns your measured tokens per forward and
# forward cost into a predicted speed-up, and a roofline that shows why a GPU's forward cost ratio
# is close to 1 where this CPU's is not.
