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
# - name tinymtp's head types, say where each comes from, and what each costs in parameters;
# - compute the MTP loss by hand from the logits and targets, with any loss weights, and match the library;
# - explain the memory-saving backward pass and check that it gives the same gradients as the plain one.
#
# The code behind this notebook is `tinymtp/heads.py`, `tinymtp/loss.py` and `MTPModel` in
# `tinymtp/model.py`.

# %%
import torch
import torch.nn.functional as F

from tinymtp.corpora import load_corpus, make_batch, shift_targets
from tinymtp.exercises import check
from tinymtp.heads import HEAD_TYPES
from tinymtp.loss import head_weights, memory_saving_backward
from tinymtp.model import ModelConfig, MTPModel

torch.manual_seed(0)

# %% [markdown]
# ## 1. From one hidden state to n predictions
#
# The path from the trunk's hidden state to the logits is
#
#     hidden (B, T, C) -> head k -> (B, T, C) -> final norm -> unembedding -> (B, T, V)
#
# and the n heads' results are stacked into logits of shape **(B, T, n, V)**: `logits[:, t, k-1]` is
# head k's guess for token t+k. We use the small `micro` preset here (one layer, C = 32) so every
# cell runs in a blink; the pieces are the same at every size.

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
# | type | what the head is | from |
# |---|---|---|
# | `linear` | one C x C linear map, started as the identity | the simplest baseline |
# | `mlp` | a residual block x + SiLU(W x + b), W and b started at zero, so it starts as x | Medusa (Cai et al. 2024) |
# | `block` | one full transformer layer per head, with its own attention | Gloeckle et al. 2024 (Meta) |
# | `causal` | head k mixes head k-1's hidden state with the embedding of token x[t+k-1], then one transformer layer: a causal chain | DeepSeek-V3 (2024) |
#
# The `causal` chain is the exception: its head k also reads the embedding of token x[t+k-1] (in
# training the targets provide it: `model(x, ahead=targets)`), its head 1 is a plain linear head
# (the main model's own output, where the chain starts), and when decoding its drafts come one
# after the other. Notebook 09 is about it. The cell below builds every type the library has.

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
# one layer of the trunk. Gloeckle et al. 2024 give each head a full transformer layer; Medusa's
# heads (Cai et al. 2024) are a single residual block each. Both feed the shared unembedding.
#
# **The start.** The `linear` and `mlp` heads start as the identity, so *before training every head
# makes the same guess*: head 4 says exactly what head 1 says. Training then pulls them apart, each
# towards its own target. (The `block` and `causal` heads start as freshly initialised transformer
# layers.)
#
# ## 3. One unembedding for all heads
#
# The unembedding (C -> V) and the final norm are shared by every head. Separate ones would cost
# (n - 1) x C x V more parameters. That is small here, but the unembedding grows with the
# vocabulary: with a vocabulary of 100,000 tokens and C = 4,096 it would be 409.6 million parameters
# per extra head. Gloeckle et al. 2024 and DeepSeek-V3 likewise share the unembedding (and the
# embedding) with the main model.

# %%
C = model.config.d_model
print(f"shared unembedding: {model.unembedding.weight.numel():,} parameters (C x V = {C} x {V})")
print(f"separate ones for heads 2..4 would add {3 * C * V:,}")

# %% [markdown]
# ## 4. The loss, by hand
#
# Head k's loss is an ordinary cross-entropy between its logits and its targets (the text shifted by
# k; positions marked `IGNORE` are skipped). The training loss combines the n head losses. The
# library reports each head's loss on its own, and **head 1's loss is always reported separately**:
# it is the number you can compare with an ordinary next-token language model.

# %%
out = model(x, targets)  # MTPOutput: logits, loss, head_losses
mine = [F.cross_entropy(out.logits[:, :, k].reshape(-1, V), targets[:, :, k].reshape(-1)) for k in range(4)]
for k in range(4):
    assert torch.allclose(mine[k], out.head_losses[k])
    print(f"head {k + 1}: {mine[k].item():.4f}")
assert torch.allclose(torch.stack(mine).mean(), out.loss)
print(f"combined (equal weights: the mean): {out.loss.item():.4f}   next-token loss: {out.next_token_loss.item():.4f}")

# %% [markdown]
# An untrained model spreads its probability almost evenly over the V characters, so each loss
# starts near -ln(1/V) = ln V:

# %%
print(f"ln V = ln {V} = {torch.log(torch.tensor(float(V))).item():.4f}")

# %% [markdown]
# ## 5. Loss weights
#
# How much should the far heads count? The papers made different choices:
#
# - Gloeckle et al. 2024 (Meta) add the n cross-entropies with **equal weights**.
# - Medusa-2 (Cai et al. 2024) weights the extra heads less and less: **0.2 x 0.8^k** for its extra
#   head k, on top of the next-token loss.
# - DeepSeek-V3 adds its extra losses scaled by a factor λ (0.3, later 0.1) divided by their number.
#
# tinymtp offers `"equal"`, `"decay"` (the Medusa-2 recipe: head 1 weighs 1, head k ≥ 2 weighs
# 0.2 x 0.8^(k-1), since tinymtp's head 2 is Medusa's first extra head) and any explicit list. It
# combines the losses as a **weighted mean**, Σ w_k L_k / Σ w_k, so the training loss stays on the
# scale of one head's loss whatever the weights. (A plain sum is the same up to a constant factor.)

# %%
for scheme in ("equal", "decay", [1.0, 0.5, 0.5, 0.5]):
    print(f"{scheme!s:22} -> {[round(w, 4) for w in head_weights(scheme, 4)]}")

# %%
decay = MTPModel(ModelConfig.from_preset("micro", vocab_size=V, n_heads=4, loss_weights="decay"))
out = decay(x, targets)
w = torch.tensor(head_weights("decay", 4))  # (n,)
by_hand = (w * torch.stack(out.head_losses)).sum() / w.sum()
assert torch.allclose(by_hand, out.loss)
print(f"decay weights: {by_hand.item():.4f} == {out.loss.item():.4f}")


# %% [markdown]
# ## 6. The memory-saving backward pass
#
# In the plain order of work, the forward pass computes all n heads' logits, the loss adds them up,
# and `loss.backward()` runs at the end. Until then, **all n logits tensors of shape (B, T, V) are
# kept in memory**, with what the backward pass needs. With a real vocabulary they are the biggest
# tensors in the model.
#
# Gloeckle et al. 2024 reorder the work:
# 1. run the trunk once and keep its hidden state;
# 2. for each head in turn: its forward, its loss, **and its backward**, down to the hidden state,
#    where the gradients of all heads add up; that head's logits can then be freed;
# 3. one backward pass through the trunk with the summed gradient.
#
# Only one head's logits are alive at a time: the peak memory of the logits is O(V) per position
# instead of O(nV). Because a gradient is a sum over the heads' losses, the result is *exactly* the
# same. Here it is by hand:

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
print(f"all {len(plain)} parameter gradients agree: plain == by hand == tinymtp.loss.memory_saving_backward")

# %% [markdown]
# What it saves, for a batch the size the shipped checkpoints trained with (B = 32, T = 128, n = 4,
# and this corpus's V), counting the numbers in the logits alone:

# %%
B, T, n = 32, 128, 4
print(f"plain order: {B * T * n * V:>10,} logit numbers alive ({B * T * n * V * 4 / 1e6:.1f} MB in float32)")
print(f"head by head:{B * T * V:>10,} logit numbers alive ({B * T * V * 4 / 1e6:.1f} MB in float32)")

# %% [markdown]
# `train(..., TrainConfig(memory_saving=True))` and `python -m tinymtp train --memory-saving` use this
# order. On a small CPU model it saves little and costs a little time (the trunk's output is kept
# twice); its purpose is large vocabularies on a GPU.
#
# ## Exercises
#
# **Exercise 1.** What are the `"decay"` loss weights for n = 3 heads, head 1 first? Answer with a list.

# %%
answer = None  # a list of 3 numbers
check("03.decay_weights", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# `[1.0, 0.16, 0.128]`: head 1 weighs 1, and head k ≥ 2 weighs 0.2 x 0.8^(k-1), so head 2 weighs
# 0.2 x 0.8 = 0.16 and head 3 weighs 0.2 x 0.64 = 0.128. Check with `head_weights("decay", 3)`.
# </details>
#
# **Exercise 2.** A model that gives all 161 characters of `python-stdlib` the same probability:
# what is its cross-entropy loss (in nats)?

# %%
answer = None  # a number
check("03.initial_loss", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Every target gets probability 1/161, so the loss is -ln(1/161) = ln 161 ≈ 5.0814. That is where
# every head's loss starts.
# </details>
#
# **Exercise 3.** How many numbers does the logits tensor of one batch hold for B = 32, T = 128,
# n = 4 heads and V = 161?

# %%
answer = None  # a whole number
check("03.logit_numbers", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# 32 x 128 x 4 x 161 = 2,637,824: the "plain order" number above (when V = 161). Head by head, only a quarter of
# it is alive at once.
# </details>
#
# ## What's next
#
# Notebook **04_training** puts the pieces together: it trains a small MTP model with a live loss
# plot, and looks at how good each head gets.
