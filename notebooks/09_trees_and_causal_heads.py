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
# # 09 · Heads that read the drafts, and trees
#
# Notebook 06 drafted with a *fan* of heads: heads 2, 3, 4 all read the trunk's state at one
# position and guess independently, and one chain of their best guesses is checked. This notebook
# tries three changes to that recipe, each from a well-known system, and measures what they buy on
# this machine:
#
# - **Causal heads** (DeepSeek-V3, 2024): head k also reads the *token before the one it
#   predicts*, so the heads form a chain, each building on the previous head's guess. DeepSeek-V3
#   trained ONE such module (MTP depth D = 1: it predicts only the token after next; report
#   section 2.2, depth set in section 4.2); the chain of three used here is this project's extension
#   of that recipe, not something the report measured.
# - **Sequential heads** (Hydra, Ankner et al. 2024): each head reads the trunk's state and the
#   tokens in between through a small MLP, grown on a trained trunk. Why reading the drafts helps at
#   all is the lesson of section 3: a parallel head can only learn the *marginal* over the tokens it
#   cannot see, and the checker compares its draft with the *conditional*.
# - **Tree decoding** (Medusa, Cai et al. 2024): check several guesses per head at once, every
#   combination in one forward pass, with an attention mask that keeps the branches apart.
#
# **At the end of this notebook you will be able to**
# - read DeepSeek-V3's MTP equations beside the code that computes them, and show by experiment which
#   tokens can change a causal head's prediction;
# - explain why a parallel head can only aim at the marginal p(x[t+k] | x[..t]), compute on your model
#   how much acceptance that costs, and what heads that read the drafts buy back;
# - write the tree attention mask from parent links yourself, checked against the library's;
# - run tree decoding, check it equals greedy decoding, and weigh its extra tokens per forward
#   against the cost of a bigger forward pass; quote each drafter on corpus-like text first.
#
# The code behind this notebook is `tinymtp/core/heads.py` (`CausalHead`, `SequentialHead`),
# `tinymtp/decoding/causal_drafts.py`, `tinymtp/decoding/sequential_drafts.py`,
# `tinymtp/analysis/marginal.py`, `tinymtp/decoding/tree.py`, `tinymtp/decoding/tree_decode.py` and
# `tinymtp/viz/tree.py`.
#
# The fan of heads studied here is **your own model** from notebook 04 when you saved one
# (`runs/my-model`), else the shipped `mtp-4head`; the first cell says which. The causal model is
# always the shipped `causal-4head`, trained with `mtp-4head`'s training command (not distilled
# afterwards); the first cell prints how long each was trained, so expect your model, trained for
# minutes, to draft less than the shipped ones.

# %%
import os

import torch

from tinymtp import viz
from tinymtp.analysis.marginal import head2_acceptance
from tinymtp.analysis.speedup import BenchPlan, heldout_prompts, measure_decoding
from tinymtp.data.corpora import load_corpus, make_batch, shift_targets
from tinymtp.decoding.decode import generate
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.decoding.tree import parse_tree
from tinymtp.exercises import check
from tinymtp.experiments import describe, load_results
from tinymtp.files.checkpoint import load_checkpoint
from tinymtp.files.paths import checkpoints_dir, learner_model
from tinymtp.training.distill import DistillConfig, distill
from tinymtp.training.distill_targets import sampling_agreement

FAST = os.environ.get("TINYMTP_FAST") == "1"  # the tests set this: fewer prompts, tokens and steps
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
# **DeepSeek-V3's equations** (report, section 2.2), beside the lines of tinymtp that compute them.
# Their token i is our position t, their module k is our head k + 1, $h^0_i$ is the main model's
# last hidden state, $M_k$ a $d \times 2d$ projection, $\mathrm{TRM}_k$ one transformer block:
#
# | DeepSeek-V3, section 2.2 | tinymtp |
# |---|---|
# | $h'^{k}_i = M_k\,[\mathrm{RMSNorm}(h^{k-1}_i);\ \mathrm{RMSNorm}(\mathrm{Emb}(t_{i+k}))]$ | `both = torch.cat([self.hidden_norm(previous), self.embedding_norm(embedded)], dim=-1)`, then `self.mix(both)` (`CausalHead.forward`, `core/heads.py`) |
# | $h^{k}_{1:T-k} = \mathrm{TRM}_k(h'^{k}_{1:T-k})$ | `self.block(self.mix(both), cache, layer, mask)`: the head's own transformer layer |
# | $P^{k}_{i+k+1} = \mathrm{OutHead}(h^{k}_i)$ | `self.unembedding(self.final_norm(z))` in `MTPModel.forward`: the norm and unembedding every head shares |
# | $\mathcal{L}^{k}_{\mathrm{MTP}} = -\frac{1}{T}\sum_{i=2+k}^{T+1} \log P^{k}_i[t_i]$ | `head_losses(logits, targets)` (`core/loss.py`): head k's cross-entropy against the text shifted by k |
# | $\mathcal{L}_{\mathrm{MTP}} = \frac{\lambda}{D}\sum_{k=1}^{D} \mathcal{L}^{k}_{\mathrm{MTP}}$, added to the main loss | `combine_head_losses(losses, weights)`: weights `[1, λ/D, ...]`, a weighted mean (notebook 03) |
#
# In training the tokens ahead come from the text (the targets hold them already: `ahead=targets`).
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
# Run both models on held-out prompts, on corpus-like text first (exact speculative sampling at
# temperature 1 against plain sampling), then greedily (each checked by its own head 1, so each
# equals its own model's greedy output; its text's repetition beside it):

# %%
prompts = heldout_prompts(tokenizer, count=2 if FAST else 3, length=48)
plan = BenchPlan(max_new_tokens=32 if FAST else 100, repeats=1 if FAST else 2, temperatures=(1.0,), seeds=2,
                 draft_lens=(n - 1,))
show = lambda rates: " / ".join("-" if r is None else f"{r:.2f}" for r in rates)  # noqa: E731
speed = {}


def drafting_lines(name, m):
    s, g = m["sampled"], m["modes"]["speculative"]
    return (f"{name:11} T=1: {s['tokens_per_forward']:.2f} ± {s['standard_error']:.2f} tokens/forward, "
            f"conditional acceptance {show(s['acceptance_conditional'])}, round cost ratio {s['round_cost_ratio']:.2f}, "
            f"{s['speedup']:.2f}x plain sampling\n"
            f"{'':11} greedy: {g['tokens_per_forward']:.2f} tokens/forward ({g['tokens_per_forward_before_loop']:.2f} "
            f"before the loops; {g['distinct_8']:.0%} distinct 8-character pieces), conditional "
            f"{show(g['acceptance_conditional'])}, round cost ratio {g['round_cost_ratio']:.2f}, {g['speedup']:.2f}x "
            f"greedy, identical to greedy: {g['identical']}")


for name, ckpt in (("fan", fan), ("causal", causal)):
    speed[name] = measure_decoding(ckpt.model, tokenizer, prompts, plan)
    print(drafting_lines(name, speed[name]))

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
# Tokens per forward counts the main model's forwards; the causal drafts' own small forwards do not
# count there, but they cost wall-clock time, which the **round cost ratio** shows (a whole verifying
# round, drafting included, over a greedy step, both timed in the decoding loop): speed-up ≈
# acceptance length / round cost ratio.
#
# ## 3. The marginal and the conditional: what reading the drafts buys
#
# Why should reading the drafts help at all? Look at what each head is asked. At position t, a
# parallel head 2 sees x[..t] and must guess x[t+2] without knowing x[t+1]. Trained with
# cross-entropy (or distilled toward head 1), the best it can learn is the **marginal**
#
# $$q^*(x_{t+2}) \;=\; p(x_{t+2} \mid x_{\le t}) \;=\; \sum_{c} p(x_{t+1} = c \mid x_{\le t})\; p(x_{t+2} \mid x_{\le t}, c),$$
#
# an average over every possible next token. But the checker does not compare the draft with that
# average: in the round, the sure token c has already been chosen, and head 1 at c's position gives
# the **conditional** $p(x_{t+2} \mid x_{\le t}, c)$. Exact sampling keeps the draft with probability
# $\sum_x \min(p(x \mid c), q(x))$ (notebook 07). When the next token matters for the one after (after
# `def` comes a name, after `(` a parameter), the marginal spreads its mass over the futures of every
# c, and the conditional is sharp: acceptance is lost by construction, however well the head is
# trained. (A parallel head could gamble on the likeliest continuation instead, and win when one c
# dominates; but cross-entropy does not train it to, and where the next token is a real choice no
# parallel guess can be right for every c.) A head that reads c (causal, sequential) can learn the
# conditional itself.
#
# In loss the gap is exactly notebook 08's quantity: a 2-token loss pays $H(Y \mid C)$ where a
# next-token model pays $H(Y \mid X, C)$, and the difference is $I(X; Y \mid C)$, what the next token
# tells about the one after. On your model, head 2's validation loss minus head 1's estimates it.
#
# **Exercise 3 (predict, then run).** Head 1 makes the sure token c = 'a' or 'b', each with
# probability 0.5; after 'a' head 1 always writes 'x', after 'b' always 'y'. A parallel head 2 that
# learned the marginal drafts 'x' or 'y', each 0.5. What is the chance that exact speculative
# sampling keeps its draft?

# %%
answer = None  # a number between 0 and 1
check("09.marginal_acceptance", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# 0.5. Given c = 'a', the verifier's p puts all its mass on 'x', and $\sum_x \min(p, q) = \min(1, 0.5)
# + \min(0, 0.5) = 0.5$; the same for c = 'b'. Here no parallel head can do better (any q gives
# $0.5\,q(x) + 0.5\,q(y) \le 0.5$), while a head that reads c could draft 'x' after 'a' and 'y' after
# 'b', and would always be kept.
# </details>
#
# Now on your model, at every position of some windows of validation text
# (`analysis.marginal.head2_acceptance`): the expected acceptance of your head 2's draft, with c
# drawn from head 1 as in a real round, against what a parallel head 2 that learned its target
# exactly would earn (drafting from the marginal $q^*$, computed from head 1 itself). A head that
# reads c and matches the conditional would score 1.

# %%
corpus = load_corpus("python-stdlib")
T = fan.model.config.context_length
windows, _ = make_batch(corpus.tokens("val"), 2 if FAST else 6, min(T, 32 if FAST else 64), n,
                        torch.Generator().manual_seed(0))  # (B, L): real text
ceiling = head2_acceptance(fan.model, windows)
losses = [h["val_loss"] for h in fan.metadata["heads"]]
print(f"the fan's head 2 is kept {ceiling['head 2']:.1%} of the time; the marginal q* would be kept "
      f"{ceiling['marginal']:.1%}; a head that reads the sure token: up to 100% "
      f"({ceiling['positions']} positions, c over {ceiling['covered']:.0%} of head 1's mass)")
print(f"in loss: head 2 - head 1 = {losses[1]:.3f} - {losses[0]:.3f} = {losses[1] - losses[0]:.3f} nats, what x[t+1] "
      f"tells about x[t+2] with this model's context (notebook 08's I(X; Y | C))")

# %% [markdown]
# **Sequential heads** (Hydra, Ankner et al. 2024): keep the trunk and head 1, and give each head
# k >= 2 the trunk's state at t *and* the embeddings of the tokens in between, x[t+1] .. x[t+k-1],
# through a small two-layer MLP added to the hidden state (`SequentialHead`, `core/heads.py`). When
# drafting, those tokens are the sure token and the drafts made so far, so the drafts come one after
# the other, like the causal chain's, but each costs one small MLP on one row instead of a
# transformer layer with its own cache (`decoding/sequential_drafts.py`).
#
# Grow them on your trunk: `model.with_heads(n, "sequential")` keeps the trunk and head 1 and starts
# heads 2..n fresh, and self-distillation trains them alone (`train_trunk=False`) to match head 1's
# distribution a step later on the corpus's own windows (`follow="text"`: the text exact sampling
# drafts on; the CLI's `distill --heads 4 --head-type sequential --follow text`). A short run here:

# %%
grown = fan.model.with_heads(n, "sequential")
sequential = distill(grown, corpus, DistillConfig(steps=10 if FAST else 100, follow="text", train_trunk=False,
                                                  window=min(T, 64), batch_size=16, eval_every=1000,
                                                  threads=1)).model
seq_ceiling = head2_acceptance(sequential, windows)
print(f"head 2 kept: fan {ceiling['head 2']:.1%}, sequential {seq_ceiling['head 2']:.1%}; "
      f"the marginal q*: {ceiling['marginal']:.1%}")
for name, m in (("fan", fan.model), ("sequential", sequential)):
    rates = ", ".join(f"head {r['head']} {r['sampling_agreement']:.0%}" for r in sampling_agreement(m, windows))
    print(f"{name:10} teacher-forced acceptance at T=1 (each head given that the earlier drafts were kept): {rates}")
speed["sequential"] = measure_decoding(sequential, tokenizer, prompts, plan)
print(drafting_lines("sequential", speed["sequential"]))

# %% [markdown]
# Read it against the marginal: where the sequential head 2 passes what the marginal earns, it does
# what no parallel head trained toward its target can, on this very trunk and head 1. The further
# heads stand to gain more, since a parallel head k must average over k - 1 unseen tokens. Whether that turns into speed is the round
# cost ratio's question: each sequential draft costs a small MLP, far less than a causal head's
# transformer layer. `python -m tinymtp experiment drafters` compares every drafter (parallel, causal
# and sequential heads, a draft model, lookup) at equal training time, on sampled text beside greedy's:

# %%
saved, _ = load_results()
drafters = [r for r in saved.values() if r.get("experiment") == "drafters"]
if not drafters:
    print("no saved drafters result in results/ yet: `python -m tinymtp experiment drafters` writes "
          "results/drafters.json; run this cell again after it")
for result in drafters:
    print(describe(result))
    viz.experiment_figure(result).show()

# %% [markdown]
# ## 4. Trees: many guesses, one forward
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
# ## 5. Does the tree pay off here?
#
# The tree can only *add* accepted tokens (the chain is one of its branches), but every node is
# one more token in the forward pass. Tree decoding here is greedy only (tinymtp has no tree
# sampling), so its figures are greedy's and carry greedy's repetition. The default shape was
# chosen by measurement on held-out prompts (`python -m tinymtp bench tree`): the most often right
# branches first.

# %%
tree_plan = BenchPlan(max_new_tokens=48 if FAST else 100, repeats=1 if FAST else 2, draft_lens=(n - 1,),
                      trees=(None, widths))  # None: the default shape
result = measure_decoding(fan.model, tokenizer, prompts, tree_plan)
chain = result["modes"]["speculative"]
print(f"{f'chain (K={n})':24} {chain['tokens_per_forward']:.2f} tokens per forward "
      f"({chain['tokens_per_forward_before_loop']:.2f} before the loops), {chain['speedup']:.2f}x greedy, "
      f"round cost ratio {chain['round_cost_ratio']:.2f}")
for entry in result["tree_sweep"]:
    gain = entry["tokens_per_forward"] / chain["tokens_per_forward"] - 1
    print(f"{'tree of ' + str(entry['nodes']) + ' nodes':24} {entry['tokens_per_forward']:.2f} tokens per forward "
          f"({gain:+.0%} over the chain; {entry['tokens_per_forward_before_loop']:.2f} before the loops), "
          f"{entry['speedup']:.2f}x greedy, round cost ratio {entry['round_cost_ratio']:.2f}, "
          f"identical to greedy: {entry['identical']}")
print(f"greedy's text: {chain['distinct_8']:.0%} of its 8-character pieces distinct, "
      f"{chain['looping']:.0%} of the continuations end in a loop")

# %% [markdown]
# What to take away (read each against the lines above):
#
# - **Tokens per forward has a hard ceiling**: with n - 1 drafting heads a round commits at most n
#   tokens. The tree's gain over the chain (printed) is what the heads' second and third guesses add;
#   `python -m tinymtp bench tree` (docs/measurements.md) gives how often each rank is right.
# - **Every node costs.** The round cost ratio grows with the nodes fed, and the speed-up is
#   acceptance length / round cost ratio: the tree pays only where its extra tokens per forward
#   outgrow its extra cost. Here the arithmetic of every node is paid on a CPU.
# - **On a GPU the cost of a node is smaller, not zero.** The roofline (notebook 10) bounds a
#   forward's time below by the time to read the weights, which feeding more tokens does not change
#   until far past a few dozen; but that is a bound. Medusa's own measurements (Cai et al. 2024,
#   section 3.3.1 and Figure 4(b)) show the speed falling as the tree's candidate tokens grow, which
#   is why their trees are sparse (64 nodes for Vicuna-7B) and chosen by measurement, as here.
# - **Reading the drafts** (causal and sequential heads) buys conditional acceptance that parallel
#   heads, aiming at the marginal, cannot reach (section 3), at the price of drafting in turn; the causal chain pays a transformer
#   layer per draft, the sequential heads a small MLP.
#
# ## Recap
#
# - Causal head k (k >= 2) at position t reads head k-1's state and the embedding of x[t+k-1], and
#   predicts x[t+k] (DeepSeek-V3, section 2.2: $h'^k_i = M_k[\mathrm{RMSNorm}(h^{k-1}_i);
#   \mathrm{RMSNorm}(\mathrm{Emb}(t_{i+k}))]$, then one block, then the shared output head); its
#   output first changes at t = s - (k - 1) when x[s] changes. DeepSeek-V3 trained one such module
#   (depth 1); deeper chains are this project's extension.
# - A parallel head k can only learn the marginal p(x[t+k] | x[..t]); the checker compares its draft
#   with the conditional given the sure token and earlier drafts. The marginal's acceptance is
#   $\mathbb{E}_c \sum_x \min(p(x \mid c), q^*(x))$; its gap in loss is I(X; Y | C) (notebook 08).
#   Heads that read the drafts (causal, sequential) can pass it.
# - Acceptance: conditional P(head k kept | heads 2..k-1 kept); share of rounds = the product of the
#   conditional rates up to k; acceptance length = tokens per verifying round, bonus included.
# - A tree shape is a list of rank paths; node i's parent is its path without the last rank.
# - Tree mask (N, N): row i is True at i and at its ancestors (the root included); every node also
#   sees the prefix; position id = prefix length + depth.
# - Nodes of widths w1, w2, w3: w1 + w1 w2 + w1 w2 w3 below the root; the forward feeds one more.
# - Speed-up ≈ acceptance length / round cost ratio: a tree raises the first and, on a CPU, the second more.
#
# ## Next
#
# Notebook `10_mtp_at_scale` leaves this laptop: how DeepSeek-V3 and other large models ship MTP
# layers and use them as drafters, the cost model that turns your measured acceptance length and
# round cost ratio into a predicted speed-up, and a roofline that shows why a GPU's forward cost ratio
# is close to 1 where this CPU's is not.
