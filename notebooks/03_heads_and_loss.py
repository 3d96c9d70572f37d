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
# # 03 · Heads and the loss
#
# The trunk gives one hidden vector per position. An MTP model turns each of those vectors into n
# predictions, one per head: head k guesses the token k places ahead. This notebook shows the small
# pieces that do it (the heads and the shared unembedding), the loss that trains all heads at once,
# and an order of work that saves memory without changing a single gradient.
#
# **At the end of this notebook you will be able to**
# - name tinymtp's head types, say where each comes from, what each costs in parameters, and which
#   designs share the unembedding (tinymtp, Meta, DeepSeek-V3) and which do not (Medusa);
# - read Gloeckle et al.'s MTP loss as an equation, write it yourself from the logits and targets,
#   with any loss weights, and match the library;
# - explain the memory-saving backward pass and check that it gives the same gradients as the plain one.
#
# The code behind this notebook is `tinymtp/core/heads.py`, `tinymtp/core/loss.py` and `MTPModel` in
# `tinymtp/core/model.py`.

# %%
import torch
import torch.nn.functional as F

from tinymtp.core.config import HEAD_TYPES
from tinymtp.core.loss import combine_head_losses, head_losses, head_weights, memory_saving_backward
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.data.corpora import IGNORE, load_corpus, make_batch, shift_targets
from tinymtp.exercises import check

torch.manual_seed(0)

# %% [markdown]
# ## 1. From one hidden state to n predictions
#
# The path from the trunk's hidden state to the logits is
#
#     hidden (B, T, C) -> head k -> (B, T, C) -> final norm -> unembedding -> (B, T, V)
#
# and the n heads' results are stacked into logits of shape **(B, T, n, V)**: `logits[:, t, k-1]` is
# head k's guess for token t+k. The trunk runs once; the heads fan out from its hidden state; one final
# norm and one unembedding serve them all:
#
# ![the fan of heads over a shared unembedding](../docs/fan-of-heads.svg)
#
# We use the small `micro` preset here (one layer, C = 32) so every cell runs in a blink; the pieces
# are the same at every size.

# %%
corpus = load_corpus("python-stdlib")
V = corpus.tokenizer.vocab_size
model = MTPModel(ModelConfig.from_preset("micro", vocab_size=V, n_heads=4))
generator = torch.Generator().manual_seed(0)
x, targets = make_batch(corpus.tokens("train"), 8, 32, 4, generator)  # (B, T), (B, T, n)
x.shape, targets.shape

# %%
with torch.no_grad():
    hidden = model.trunk(x)  # (B, T, C)
    per_head = [head(hidden) for head in model.heads]  # n x (B, T, C)
    logits = torch.stack([model.unembedding(model.final_norm(z)) for z in per_head], dim=2)  # (B, T, n, V)
    assert torch.allclose(logits, model(x).logits, atol=1e-6)
print("hidden", tuple(hidden.shape), "-> logits", tuple(logits.shape), "== model(x).logits")

# %% [markdown]
# ## 2. The head types
#
# All n heads of a model have the same type, head 1 included (one exception below). So a 1-head
# model is exactly "trunk + head 1", and an MTP model with heads 2..n dropped has the same shape as
# the next-token baseline.
#
# | type | what the head is (in tinymtp, before the shared unembedding) | from |
# |---|---|---|
# | `linear` | one C x C linear map, started as the identity | the simplest baseline |
# | `mlp` | a residual block x + SiLU(W x + b), W and b started at zero, so it starts as x | Medusa's head (Cai et al. 2024, section 2.1.1), without Medusa's own output layer |
# | `block` | one full transformer layer per head, with its own attention | Gloeckle et al. 2024 (Meta), section 2 |
# | `causal` | head k mixes head k-1's hidden state with the embedding of token x[t+k-1], then one transformer layer: a causal chain | DeepSeek-V3 (2024), section 2.2 |
# | `sequential` | head k reads the trunk's hidden state at t and the embeddings of x[t+1] .. x[t+k-1] through a small two-layer MLP, added to the hidden state | Hydra (Ankner et al. 2024) |
#
# The `causal` chain is the exception (and `sequential`, below). Its head k also reads the embedding of
# token x[t+k-1], the token just before the one it predicts (in training the targets provide it:
# `model(x, ahead=targets)`). Its head 1 is a plain linear head (the main model's own output, where the
# chain starts). And when decoding, its drafts come one after the other, since head k needs head
# k-1's draft as its token:
#
# ![the causal chain of heads](../docs/causal-chain.svg)
#
# tinymtp's head k is DeepSeek-V3's MTP module k - 1 (their module 1 predicts the token two ahead).
# Inside a module DeepSeek-V3 normalises both inputs with RMSNorm, concatenates them, projects 2C -> C
# and runs one transformer block, as drawn. Note the depth: DeepSeek-V3 trains **one** such module
# (D = 1, section 4.2); tinymtp's chain of n - 1 modules (3 in a 4-head model) extrapolates the
# design beyond what the report measured. Notebook 09 decodes with it. The `sequential` heads (Hydra)
# read the tokens in between too, but through a small MLP on the trunk's state instead of a
# transformer layer; notebook 09 grows them on a trained trunk and shows what reading those tokens
# buys. The cell below builds every type the library has.

# %%
print("head types in this tinymtp:", HEAD_TYPES)
xs = x[:2]  # (2, T): a small batch is enough to look at the heads
for head_type in HEAD_TYPES:
    m = MTPModel(ModelConfig.from_preset("tiny", vocab_size=V, n_heads=4, head_type=head_type)).eval()
    with torch.no_grad():
        h = m.trunk(xs)  # (2, T, C)
        # a causal head reads two inputs (head k-1's state and a token), so "the identity" has no meaning there
        starts_as_identity = not m.chained and all(torch.allclose(head(h), h) for head in m.heads)
        logits = m(xs, ahead=shift_targets(xs, 4)).logits  # (2, T, 4, V); only causal heads read `ahead`
        all_agree = torch.allclose(logits[:, :, 0], logits[:, :, 3], atol=1e-6)
    per_head = sum(p.numel() for p in m.heads[-1].parameters())
    print(f"{head_type:7} {per_head:>8,} parameters per head ({per_head / m.num_parameters():5.1%} of the model)  "
          f"starts as identity: {starts_as_identity!s:5}  heads 1 and 4 agree before training: {all_agree}")

# %% [markdown]
# Two things to notice.
#
# **Cost.** At the `tiny` size a linear head is 16,384 parameters and a `block` head about as many as
# one layer of the trunk. Gloeckle et al. 2024 give each head a full transformer layer, and all heads
# feed one shared unembedding. Medusa's heads (Cai et al. 2024) are a single residual block each, but
# each then ends in **its own** output layer, a Linear(hidden, vocab) initialised from the base
# model's LM head: Medusa does not share the unembedding (section 3 below counts what that costs).
# tinymtp's `mlp` head keeps Medusa's residual block and shares the one unembedding instead.
#
# **The start.** The `linear` and `mlp` heads start as the identity, so *before training every head
# makes the same guess*: head 4 says exactly what head 1 says. Training then pulls them apart, each
# towards its own target. (The `block` and `causal` heads start as freshly initialised transformer
# layers.)
#
# ## 3. One unembedding for all heads, or one each?
#
# In tinymtp the unembedding (C -> V) and the final norm are shared by every head. The designs this
# project draws on chose differently:
#
# | design | what each extra head has of its own | unembedding (hidden -> vocabulary) |
# |---|---|---|
# | tinymtp (every head type) | the piece in the table above | **one, shared** by all heads |
# | Gloeckle et al. 2024 (Meta) | one transformer layer | **shared** by all heads (section 2) |
# | DeepSeek-V3 | one MTP module: two RMSNorms, a 2C -> C projection, one transformer block | **shared** with the main model, and so is the embedding (section 2.2) |
# | Medusa (Cai et al. 2024) | one residual block **and its own output layer** Linear(hidden, vocab), initialised from the base model's LM head (section 2.1.1) | **not shared**: one per head |
#
# Separate unembeddings cost (n - 1) x C x V more parameters. That is small here, but the unembedding
# grows with the vocabulary: the cell prints what it would be for a vocabulary of 100,000 tokens and
# C = 4,096.

# %%
C = model.config.d_model
print(f"shared unembedding: {model.unembedding.weight.numel():,} parameters (C x V = {C} x {V})")
print(f"separate ones for heads 2..4 would add {3 * C * V:,}")
print(f"with V = 100,000 and C = 4,096, each extra unembedding is {4_096 * 100_000 / 1e6:.1f} million parameters")

# %% [markdown]
# ## 4. The loss of each head
#
# Head k's loss is an ordinary cross-entropy between its logits and its targets (the text shifted by
# k; positions marked `IGNORE` are skipped). The training loss combines the n head losses. The
# library reports each head's loss on its own, and **head 1's loss is always reported separately**:
# it is the number you can compare with an ordinary next-token language model.
#
# **Gloeckle et al.'s loss** (2024, section 2), beside the code. The model predicts the next n tokens
# at once; the shared trunk $f_s$ turns the text $x_{t:1}$ into the latent $z_{t:1}$, and each head
# $f_{h_i}$, followed by the shared unembedding $f_u$, gives token $t+i$ its own softmax, independently
# of the others given $z$:
#
# $$L_n \;=\; -\sum_t \log P_	heta(x_{t+n:t+1} \mid x_{t:1})
# \;=\; -\sum_t \sum_{i=1}^{n} \log P_	heta(x_{t+i} \mid z_{t:1}),
# \qquad P_	heta(x_{t+i} \mid z_{t:1}) = \mathrm{softmax}ig(f_u(f_{h_i}(z_{t:1}))ig).$$
#
# | the equation | tinymtp |
# |---|---|
# | $z_{t:1} = f_s(x_{t:1})$ | `hidden = model.trunk(x)`, shape (B, T, C) |
# | $f_u(f_{h_i}(z))$, for every $i$ | `model.unembedding(model.final_norm(head(hidden)))` for each head, stacked: logits (B, T, n, V) |
# | $-\sum_t \log P_	heta(x_{t+i} \mid z_{t:1})$ | head i's `F.cross_entropy(..., ignore_index=IGNORE)` in `head_losses` (`core/loss.py`), a **mean** over the positions with a target |
# | $\sum_{i=1}^{n}$ | `combine_head_losses(losses, "equal")`: the **mean** over the heads |
#
# tinymtp's loss is $L_n$ divided by n and by the number of positions: the same minimum and the same
# gradient directions, on the scale of one head's loss (section 5 says why that scale is kept).
#
# **Exercise 1 (predict, then run).** Our model is untrained: it spreads its probability almost
# evenly over the characters. A model that gives all 161 characters of `python-stdlib` exactly the
# same probability: what is its cross-entropy loss, in nats? Write your prediction, check it, then run
# the cell after, which prints the untrained model's head losses.

# %%
answer = None  # your prediction: a number
check("03.initial_loss", answer)

# %%
out = model(x, targets)  # MTPOutput: logits, loss, head_losses
for k, loss in enumerate(out.head_losses, start=1):
    print(f"head {k}: {loss.item():.4f}")
print(f"combined (equal weights: the mean): {out.loss.item():.4f}   next-token loss: {out.next_token_loss.item():.4f}")
print(f"ln V = ln {V} = {torch.log(torch.tensor(float(V))).item():.4f}")

# %% [markdown]
# <details><summary>Solution</summary>
#
# Every target gets probability 1/161, so the loss is -ln(1/161) = ln 161 ≈ 5.0814. That is where
# every head's loss starts: the untrained model's losses above sit close to ln V.
# </details>

# %% [markdown]
# ## 5. Loss weights
#
# How much should the far heads count? The papers made different choices:
#
# - Gloeckle et al. 2024 (Meta) add the n cross-entropies with **equal weights** (section 2).
# - Medusa-2 (Cai et al. 2024) weights the extra heads less and less: **0.2 x 0.8^k** for its extra
#   head k (which predicts the token k + 1 ahead), on top of the next-token loss. The 0.8^k is the
#   Medusa loss of section 2.2.1, the 0.2 its weight λ0 against the next-token loss (section 2.2.2),
#   set to 0.2 for Vicuna-7B and 13B in the paper's appendix on experiment settings (0.01 for the
#   self-distilled Vicuna-33B and Zephyr-7B).
# - DeepSeek-V3 adds its extra losses scaled by a factor λ divided by their number D (section 2.2),
#   with λ = 0.3 first and 0.1 later in training, and D = 1 (section 4.2).
#
# tinymtp offers `"equal"`, `"decay"` (the Medusa-2 recipe: head 1 weighs 1, head k ≥ 2 weighs
# 0.2 x 0.8^(k-1), since tinymtp's head 2 is Medusa's first extra head) and any explicit list. It
# combines the losses as a **weighted mean**, Σ w_k L_k / Σ w_k, so the training loss stays on the
# scale of one head's loss whatever the weights. (A plain sum is the same up to a constant factor.)
#
# **Exercise 2 (predict, then run).** What are the `"decay"` weights for n = 3 heads, head 1 first?
# Answer with a list, then run the cell after it, which prints the library's weights.

# %%
answer = None  # your prediction: a list of 3 numbers
check("03.decay_weights", answer)

# %%
for scheme in ("equal", "decay"):
    print(f"{scheme:5}  n=3: {[round(w, 4) for w in head_weights(scheme, 3)]}   "
          f"n=4: {[round(w, 4) for w in head_weights(scheme, 4)]}")
print("a list, n=4:", head_weights([1.0, 0.5, 0.5, 0.5], 4))

# %% [markdown]
# <details><summary>Solution</summary>
#
# `[1.0, 0.16, 0.128]`: head 1 weighs 1, and head k ≥ 2 weighs 0.2 x 0.8^(k-1), so head 2 weighs
# 0.2 x 0.8 = 0.16 and head 3 weighs 0.2 x 0.64 = 0.128.
# </details>
#
# ### Your turn: the MTP loss
#
# **Exercise 3.** Write the loss that trains every head at once. `mtp_loss(logits, targets, weights)`
# gets
# - `logits` of shape (B, T, n, V): `logits[:, t, k-1]` is head k's guess for x[t+k];
# - `targets` of shape (B, T, n), with `IGNORE` (-100) wherever there is no target (the end of each
#   sequence for the far heads, and anywhere else a caller chooses);
# - `weights`: `"equal"`, `"decay"` or a list of n numbers (`head_weights(weights, n)` turns any of
#   them into n numbers);
#
# and returns the weighted mean Σ w_k L_k / Σ w_k as a 0-dimensional tensor, where L_k is head k's
# cross-entropy averaged over the positions that have a target. The check calls it on hidden random
# cases (ignored targets scattered around, all three kinds of weights) and compares with the library
# (`tinymtp/core/loss.py`), up to float rounding.

# %%
def mtp_loss(logits, targets, weights):
    raise NotImplementedError  # replace this line with your code


check("03.mtp_loss", mtp_loss)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def mtp_loss(logits, targets, weights):
#     n, V = logits.size(2), logits.size(3)
#     w = head_weights(weights, n)
#     losses = [F.cross_entropy(logits[:, :, k].reshape(-1, V), targets[:, :, k].reshape(-1),
#                               ignore_index=IGNORE)  # (B*T, V) against (B*T,): skips IGNORE
#               for k in range(n)]
#     return sum(w_k * loss for w_k, loss in zip(w, losses)) / sum(w)
# ```
#
# Two slips the check catches: the weighted *sum* without dividing by Σ w (n times too big with equal
# weights), and one cross-entropy over all heads' targets at once, which weighs a head by how many
# targets it has instead of by its weight.
# </details>
#
# The library does it in two steps, `head_losses` (one cross-entropy per head) and
# `combine_head_losses` (the weighted mean), and a model built with `loss_weights="decay"` returns
# exactly that:

# %%
decay = MTPModel(ModelConfig.from_preset("micro", vocab_size=V, n_heads=4, loss_weights="decay"))
out = decay(x, targets)
per_head = head_losses(out.logits, targets)  # n scalars, head 1 first
assert torch.allclose(combine_head_losses(per_head, "decay"), out.loss)
w = torch.tensor(head_weights("decay", 4))  # (n,)
print(f"decay weights: Σ w_k L_k / Σ w_k = {((w * torch.stack(per_head)).sum() / w.sum()).item():.4f} "
      f"== model loss {out.loss.item():.4f}")


# %% [markdown]
# ## 6. The memory-saving backward pass
#
# In the plain order of work, the forward pass computes all n heads' logits, the loss adds them up,
# and `loss.backward()` runs at the end. Until then, **all n logits tensors of shape (B, T, V) are
# kept in memory**, with what the backward pass needs. With a real vocabulary they are the biggest
# tensors in the model.
#
# Gloeckle et al. 2024 reorder the work (section 2, "memory-efficient implementation", and their
# Figure 2):
# 1. run the trunk once and keep its hidden state;
# 2. for each head in turn: its forward, its loss, **and its backward**, down to the hidden state,
#    where the gradients of all heads add up; that head's logits can then be freed;
# 3. one backward pass through the trunk with the summed gradient.
#
# Only one head's logits are alive at a time: the paper puts the peak memory at O(V + d) instead of
# O(nV + d) (d is the hidden size, our C). Because a gradient is a sum over the heads' losses, the
# result is *exactly* the same. Here it is by hand:

# %%
def my_memory_saving_backward(model, x, targets):
    weights = head_weights(model.config.loss_weights, model.n_heads)
    hidden = model.trunk(x)  # (B, T, C)
    leaf = hidden.detach().requires_grad_(True)  # (B, T, C): the heads' gradients pile up here
    for k in range(1, model.n_heads + 1):
        logits = model.head_logits(leaf, k)  # (B, T, V): the only logits alive
        loss = F.cross_entropy(logits.reshape(-1, V), targets[:, :, k - 1].reshape(-1))
        (loss * weights[k - 1] / sum(weights)).backward()  # frees this head's graph
    hidden.backward(leaf.grad)  # once through the trunk


def gradients(run):
    model.zero_grad()
    run()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


# %%
plain = gradients(lambda: model(x, targets).loss.backward())
by_hand = gradients(lambda: my_memory_saving_backward(model, x, targets))
library = gradients(lambda: memory_saving_backward(model, x, targets))
for name in plain:
    assert torch.allclose(plain[name], by_hand[name], rtol=1e-4, atol=1e-7), name
    assert torch.allclose(plain[name], library[name], rtol=1e-4, atol=1e-7), name
print(f"all {len(plain)} parameter gradients agree: plain == by hand == tinymtp.core.loss.memory_saving_backward")

# %% [markdown]
# What does it save? **Exercise 4 (predict, then run).** How many numbers does the logits tensor of
# one batch hold for B = 32, T = 128, n = 4 heads and V = 161 (the batch the shipped checkpoints trained
# with)? Predict, check, then run the cell after it, which counts the numbers in the logits alone, in
# both orders of work.

# %%
answer = None  # your prediction: a whole number
check("03.logit_numbers", answer)

# %%
B, T, n = 32, 128, 4
print(f"plain order: {B * T * n * V:>10,} logit numbers alive ({B * T * n * V * 4 / 1e6:.1f} MB in float32)")
print(f"head by head:{B * T * V:>10,} logit numbers alive ({B * T * V * 4 / 1e6:.1f} MB in float32)")

# %% [markdown]
# <details><summary>Solution</summary>
#
# 32 x 128 x 4 x 161 = 2,637,824, the "plain order" line above when V = 161. Head by head, only a
# quarter of it is alive at once.
# </details>
#
# `train(..., TrainConfig(memory_saving=True))` and `python -m tinymtp train --memory-saving` use this
# order. On a small CPU model it saves little and costs a little time (the trunk's output is kept
# twice); its purpose is large vocabularies on a GPU.
#
# ## Recap
#
# - Shapes: hidden (B, T, C) -> head k -> (B, T, C) -> shared final norm + unembedding -> (B, T, V);
#   stacked, the logits are **(B, T, n, V)**, and `logits[:, t, k-1]` is head k's guess for x[t+k].
# - Head types: `linear` (identity start), `mlp` (Medusa's residual block), `block` (one transformer
#   layer, Meta), `causal` (DeepSeek-V3's chain: head k reads head k-1's state and the embedding of
#   x[t+k-1]; DeepSeek-V3 trains one such module), `sequential` (Hydra: the trunk's state and the
#   tokens in between, through a small MLP).
# - Sharing: tinymtp, Meta and DeepSeek-V3 share one unembedding; Medusa gives every head its own
#   Linear(hidden, vocab), initialised from the LM head. Separate ones cost (n - 1) x C x V parameters.
# - Loss: L_k = cross-entropy of head k against x shifted by k, `IGNORE` skipped;
#   loss = Σ w_k L_k / Σ w_k; head 1's loss is always reported on its own. At the start L_k ≈ ln V.
#   With equal weights it is Gloeckle et al.'s $L_n = -\sum_t \sum_i \log P_\theta(x_{t+i} \mid z_{t:1})$
#   divided by n and by the number of positions.
# - Weights: `equal` (Meta), `decay` = 1, then 0.2 x 0.8^(k-1) (Medusa-2), DeepSeek-V3 λ / D with
#   λ = 0.3 then 0.1.
# - Memory-saving backward: trunk once, then each head's forward and backward in turn; one head's
#   logits alive instead of n, the same gradients.
#
# ## Next
#
# Notebook **04_training** puts the pieces together: you train your own small MTP model with a live
# loss plot, see how good each head gets, and save it; the notebooks after it study that model.
