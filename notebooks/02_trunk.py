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
# # 02 · The trunk: embeddings, attention, blocks
#
# Every head of an MTP model reads the same thing: the *hidden state* the trunk computes at each
# position. The trunk is a small GPT-style transformer, and this notebook takes it apart. We follow
# one batch through it, write causal self-attention by hand with every shape printed, and check each
# piece we write against tinymtp's own.
#
# **At the end of this notebook you will be able to**
# - follow a batch of token ids through the embeddings, the blocks and the trunk, naming every
#   tensor's shape;
# - write the attention weights (scores, causal mask, softmax) yourself, and show that attention built
#   on them equals the library's (both its written-out path and PyTorch's fused one);
# - explain why no position can see the future, and test it;
# - say precisely when attention "sees a set" and when it can tell the order of its inputs.
#
# The code behind this notebook is `tinymtp/core/layers.py` (attention, MLP, block) and the `Trunk` class
# in `tinymtp/core/model.py`.
#
# **Names.** In tinymtp, "heads" always means *prediction* heads (`n_heads`). The heads inside
# attention are always called **attention heads** (`attn_heads`). If you come from nanoGPT, where
# `n_head` counts attention heads, watch out for this.

# %%
import math

import torch
import torch.nn.functional as F

from tinymtp import viz
from tinymtp.core import layers
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.data.corpora import load_corpus
from tinymtp.exercises import check
from tinymtp.files.checkpoint import load_checkpoint
from tinymtp.files.paths import checkpoints_dir

torch.manual_seed(0)

# %% [markdown]
# ## 1. The model at a glance
#
# We build an untrained model with the `tiny` preset, the size of the shipped checkpoints: 4 layers,
# hidden size `d_model` = 128, 4 attention heads per layer, a context of 128 characters, and 4
# prediction heads. The vocabulary is the set of characters of the `python-stdlib` corpus (the
# config below shows how many: it depends a little on your Python version, whose source it is).

# %%
tokenizer = load_corpus("python-stdlib").tokenizer
config = ModelConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size, n_heads=4)
model = MTPModel(config).eval()
config

# %%
print(model)


# %%
def count(module):
    return sum(p.numel() for p in module.parameters())


parts = {
    "token embedding": model.trunk.token_embedding,
    "position embedding": model.trunk.position_embedding,
    "4 blocks": model.trunk.blocks,
    "4 prediction heads": model.heads,
    "final norm + unembedding": torch.nn.ModuleList([model.final_norm, model.unembedding]),
}
for name, module in parts.items():
    print(f"{name:26} {count(module):>9,}")
print(f"{'total':26} {model.num_parameters():>9,}")

# %% [markdown]
# Most parameters live in the blocks. Keep the numbers in mind: notebook 03 shows what the
# prediction heads cost and why the unembedding is shared between them.
#
# ## 2. Embeddings: ids become vectors
#
# A batch is a tensor of token ids of shape `(B, T)`: B sequences of T tokens. The trunk first turns
# each id into a vector of size C = `d_model`, and adds a second vector that says *where* the token
# sits. Why the second vector? Attention on its own, *without* the causal mask, treats its inputs as
# a set: shuffle the inputs and the outputs come out shuffled the same way, each one unchanged. The
# causal mask already breaks that symmetry (section 3 shows how far), but the position vector tells
# every layer directly where each token sits.

# %%
idx = torch.tensor([tokenizer.encode("def f(x)"), tokenizer.encode("return x")])  # (B, T) = (2, 8)
B, T = idx.shape
tok = model.trunk.token_embedding(idx)  # (B, T, C)
pos = model.trunk.position_embedding(torch.arange(T))  # (T, C)
x = tok + pos  # (B, T, C): broadcasting adds the same position vectors to both sequences
print("idx", tuple(idx.shape), " tok", tuple(tok.shape), " pos", tuple(pos.shape), " x", tuple(x.shape))

# %% [markdown]
# ## 3. Causal self-attention, by hand
#
# Attention lets each position gather information from other positions. Every position makes three
# vectors from its input:
# - a **query** (what am I looking for?),
# - a **key** (what do I contain?),
# - a **value** (what do I pass on if someone attends to me?).
#
# The score of query t against key s is their dot product: a high score means "position s is
# relevant to position t". A softmax turns each query's scores into weights that sum to 1, and the
# output at t is the weighted sum of the values. **Causal** means position t may only look at
# positions s ≤ t: the scores of later positions are set to minus infinity before the softmax, so
# their weights are exactly 0.
#
# The C numbers of each vector are split into `attn_heads` groups of size hs = C / attn_heads, and
# each attention head does all of this on its own group, in parallel. The whole arithmetic of one
# attention head, with the shape of every piece:
#
# ![causal self-attention for one attention head: q times k transposed over the square root of hs gives the scores; the causal mask sets the scores of later keys to minus infinity; a softmax over each row gives the weights; the weights times v give y](../docs/attention-arithmetic.svg)
#
# We take the first block's attention module and feed it what the block feeds it: `x` after the
# block's first LayerNorm. (All shapes are printed; B, T, C, H and hs are the names used below.)

# %%
block = model.trunk.blocks[0]
attn = block.attn
h = block.norm1(x)  # (B, T, C): the block normalises before attention ("pre-norm")
C = h.size(-1)
H = config.attn_heads
hs = C // H  # the head size
print(f"B={B} T={T} C={C} attention heads H={H} head size hs={hs}")

# %%
q, k, v = attn.qkv(h).split(C, dim=2)  # one linear map makes all three: 3 x (B, T, C)
print("q, k, v before the split into attention heads:", tuple(q.shape))
q = q.view(B, T, H, hs).transpose(1, 2)  # (B, H, T, hs)
k = k.view(B, T, H, hs).transpose(1, 2)  # (B, H, T, hs)
v = v.view(B, T, H, hs).transpose(1, 2)  # (B, H, T, hs)
print("q, k, v per attention head:", tuple(q.shape))

# %% [markdown]
# ### Your turn: the attention weights
#
# The heart of attention is three lines: the scores, the causal mask, the softmax. Write them.
# `causal_attention_weights(q, k)` gets queries and keys of shape `(B, H, T, hs)` and returns the
# weights, shape `(B, H, T, T)`, where row t says how much query t draws from each key s:
#
# 1. scores: the dot product of query t and key s, divided by √hs (why: see below);
# 2. the causal mask: every score with s > t becomes minus infinity;
# 3. a softmax over the keys (the last dimension), so each row sums to 1 and the masked keys get
#    exactly 0.
#
# The check calls your function on hidden random queries and keys (several batch sizes, attention
# heads, lengths and head sizes, one position alone) and compares the result with the library's
# hand-written attention in `tinymtp/core/layers.py` (`causal_attention_weights`), up to float rounding.

# %%
def causal_attention_weights(q, k):
    raise NotImplementedError  # replace this line with your code


check("02.attention_weights", causal_attention_weights)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def causal_attention_weights(q, k):
#     T, hs = q.size(-2), q.size(-1)
#     scores = q @ k.transpose(-2, -1) / math.sqrt(hs)  # (B, H, T, T): query t against key s
#     allowed = torch.ones(T, T, dtype=torch.bool).tril()  # (T, T): True where s <= t
#     scores = scores.masked_fill(~allowed, float("-inf"))  # no looking ahead
#     return torch.softmax(scores, dim=-1)  # (B, H, T, T): each row sums to 1
# ```
#
# A common slip is to forget the √hs: the weights then come out too sharp (section "Why divide by
# √hs?" below). Another is the mask the wrong way round (`triu`): each query would see only the
# future.
# </details>
#
# The rest of the notebook uses the library's function (`layers.causal_attention_weights`), so it runs
# whether or not you have written yours. Here are its pieces on our batch, with the mask printed:

# %%
scores = q @ k.transpose(-2, -1) / math.sqrt(hs)  # (B, H, T, T): query t against key s
mask = layers.causal_mask(T, T)  # (T, T): True where s <= t
weights = layers.causal_attention_weights(q, k)  # (B, H, T, T): masked, softmaxed, each row sums to 1
print("scores", tuple(scores.shape), " weights", tuple(weights.shape))
print(mask.int())

# %%
y = weights @ v  # (B, H, T, hs): each query's weighted sum of values
y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C): the attention heads side by side again
out = attn.proj(y)  # (B, T, C): one more linear map mixes the attention heads
print("y", tuple(y.shape), " out", tuple(out.shape))

# %% [markdown]
# Now the check against the library. tinymtp's attention has two paths: the written-out one
# (`fast=False`), which keeps its weights so they can be drawn, and the default fast one, which calls
# PyTorch's fused `scaled_dot_product_attention`. The attention assembled above, step by step from
# the weights, must equal both (up to float rounding). Once your `causal_attention_weights` passes its
# check, you can put it in place of `layers.causal_attention_weights` above and run these cells again.

# %%
attn.fast = False
library_out = attn(h)  # (B, T, C)
assert torch.allclose(out, library_out, atol=1e-6)
assert torch.allclose(weights, attn.weights, atol=1e-6)
attn.fast = True
assert torch.allclose(out, attn(h), atol=1e-5)
print("attention assembled by hand == tinymtp's written-out path == PyTorch's fused path")

# %% [markdown]
# ### Why divide by √hs?
#
# The dot product of two random vectors of size hs with unit-variance entries has variance hs. Large
# scores make the softmax pick one position and give all the others a weight near 0 (and a gradient
# near 0). Dividing by √hs brings the scores back to unit variance:

# %%
a, b = torch.randn(10_000, hs), torch.randn(10_000, hs)  # (N, hs) each
dots = (a * b).sum(-1)  # (N,)
print(f"std of raw dot products: {dots.std():.2f}   after dividing by sqrt({hs}): {(dots / math.sqrt(hs)).std():.2f}")

# %% [markdown]
# ### The weights, drawn
#
# Row t shows where query t looks. The upper triangle is empty: that is the causal mask. In an
# untrained model every row is close to uniform over the positions it may see (row t ≈ 1/(t+1)).

# %%
viz.attention_map(weights[0, 0], list("def f(x)"), title="untrained model, layer 1, attention head 1")

# %% [markdown]
# ### A set, or a sequence?
#
# Section 2 said attention *without the mask* treats its inputs as a set. Here is the test, on token
# embeddings with **no position vectors**: shuffle the inputs, run attention, and un-shuffle the
# outputs. The library's attention takes a `mask` argument (tree decoding uses it); an all-`True` mask
# lets every query see every key, which is attention without the causal mask.

# %%
with torch.no_grad():
    plain = model.trunk.token_embedding(idx)  # (B, T, C): tokens only, no position vectors
    shuffle = torch.randperm(T)  # (T,)
    everyone = torch.ones(T, T, dtype=torch.bool)  # (T, T): no causal mask
    unmasked = attn(plain, mask=everyone)  # (B, T, C)
    unmasked_shuffled = attn(plain[:, shuffle], mask=everyone)  # (B, T, C)
    causal = attn(plain)  # (B, T, C): the causal mask, as in the model
    causal_shuffled = attn(plain[:, shuffle])  # (B, T, C)
print("no mask:     shuffling the inputs only shuffles the outputs:",
      torch.allclose(unmasked_shuffled, unmasked[:, shuffle], atol=1e-6))
print("causal mask: shuffling the inputs only shuffles the outputs:",
      torch.allclose(causal_shuffled, causal[:, shuffle], atol=1e-6))

# %% [markdown]
# With the causal mask, order leaks in even without position vectors: query t sees exactly t + 1 keys,
# so what it gets depends on how many tokens came before it. A query can, in effect, count. The
# clearest case: one `#` followed by the same character again and again. Every `x` is the same input
# vector, yet each gets a different output: the x at position t sees the `#` and t copies of itself,
# so the `#`'s share of its attention shrinks as t grows (1/(t+1) if all scores were equal). Without
# the mask, every `x` sees the same set and comes out identical.

# %%
attn.fast = False  # the written-out path keeps the weights
with torch.no_grad():
    same = model.trunk.token_embedding(torch.tensor([tokenizer.encode("#xxxxxxx")]))  # (1, 8, C): no positions
    out_causal = attn(same)[0, 1:]  # (7, C): the outputs at the seven x's
    share_causal = attn.weights[0, 0, 1:, 0]  # (7,): attention head 1's weight on the '#', per x
    out_unmasked = attn(same, mask=torch.ones(8, 8, dtype=torch.bool))[0, 1:]  # (7, C)
    share_unmasked = attn.weights[0, 0, 1:, 0]  # (7,)
attn.fast = True
print("weight on '#' at x number 1..7, causal mask:", share_causal.numpy().round(3))
print("                               no mask:     ", share_unmasked.numpy().round(3))
for name, out in (("causal mask", out_causal), ("no mask", out_unmasked)):
    distance = (out - out[0]).norm(dim=-1) / out[0].norm()  # (7,): each x's output against the first x's
    print(f"{name:11}: each x's output differs from the first x's by", (100 * distance).numpy().round(1), "%")

# %% [markdown]
# So a causal model *can* learn positions on its own: Haviv et al. 2022 ("Transformer Language Models
# without Positional Encodings Still Learn Positional Information", abstract) train causal language
# models with no position encoding at all, find them competitive with standard ones, and conjecture
# this very mechanism, that causal attention lets a token infer how many predecessors it has. The
# position embedding simply hands the order over, to every layer, from the first step of training.

# %% [markdown]
# ## 4. Causality, tested
#
# The mask is the reason a language model can be trained on all positions at once: the prediction at
# position t cannot peek at the answer. Test it on the whole model, all heads included: change the
# last token, and nothing at the earlier positions may move.

# %%
with torch.no_grad():
    changed = idx.clone()
    changed[:, -1] = tokenizer.encode("?")[0]
    before = model(idx).logits  # (B, T, n, V)
    after = model(changed).logits  # (B, T, n, V)
print("earlier positions unchanged:", torch.equal(before[:, :-1], after[:, :-1]))
print("last position changed:     ", not torch.allclose(before[:, -1], after[:, -1]))

# %% [markdown]
# ## 5. The block
#
# A transformer block is attention followed by a small MLP, each wrapped as a *residual* update: the
# block adds its result to its input instead of replacing it (`x + f(norm(x))`). The LayerNorm sits
# before each part ("pre-norm"), which keeps training stable. The MLP works on each position on its
# own: it widens the vector to 4C, applies GELU, and narrows it back to C.

# %%
with torch.no_grad():
    mid = x + block.attn(block.norm1(x))  # (B, T, C): gather from other positions
    wide = F.gelu(block.mlp.up(block.norm2(mid)))  # (B, T, 4C): think about each position
    out = mid + block.mlp.down(wide)  # (B, T, C)
    assert torch.allclose(out, block(x), atol=1e-6)
print("mid", tuple(mid.shape), " wide", tuple(wide.shape), " out", tuple(out.shape), "== block(x)")

# %% [markdown]
# ## 6. The trunk
#
# The trunk is the embeddings followed by the blocks, one after the other. Its output, one vector of
# size C per position, is the hidden state every prediction head reads.

# %%
with torch.no_grad():
    hidden = x
    for blk in model.trunk.blocks:
        hidden = blk(hidden)  # (B, T, C)
    assert torch.allclose(hidden, model.trunk(idx), atol=1e-6)
print("hidden", tuple(hidden.shape), "== model.trunk(idx)")

# %% [markdown]
# ## 7. What a trained model looks at
#
# The shipped checkpoint `mtp-4head` was trained on `python-stdlib`. Its attention weights are far
# from uniform. Run it on two lines of code and draw one attention head of its last layer. Then
# change `layer` and `head` (both count from 0) and compare: look for attention heads that mostly
# look at the previous character or two, and for others that reach back to a particular earlier
# place, such as the start of the line or the same spot one line up.

# %%
trained = load_checkpoint(str(checkpoints_dir() / "mtp-4head")).model
trained.set_fast_attention(False)  # the written-out path keeps the weights
code = "    def __init__(self, name):\n        self.name = name\n"
with torch.no_grad():
    trained(torch.tensor([tokenizer.encode(code)]))  # (1, T) -> fills each layer's attn.weights
layer, head = trained.config.n_layers - 1, 0
viz.attention_map(trained.trunk.blocks[layer].attn.weights[0, head], list(code),
                  title=f"mtp-4head, layer {layer + 1}, attention head {head + 1}")

# %% [markdown]
# ## Exercises
#
# The first exercise, the attention weights, is in section 3. The three below ask you to **predict**
# a number: write your guess in `answer` and run the check, then run the cell after it, which
# computes the number with the library, and compare.
#
# **Exercise 2.** For a batch with B = 2, T = 5, 4 attention heads and d_model = 32, what is the
# shape of the attention weights? Answer with a tuple.

# %%
answer = None  # your prediction: a tuple, e.g. (1, 2, 3)
check("02.scores_shape", answer)

# %%
q_small = torch.randn(2, 4, 5, 32 // 4)  # (B, H, T, hs)
layers.causal_attention_weights(q_small, q_small).shape

# %% [markdown]
# <details><summary>Solution</summary>
#
# `(2, 4, 5, 5)`: one T x T table of query-against-key weights per sequence and per attention head.
# The head size (32 / 4 = 8) is summed away by the dot product.
# </details>
#
# **Exercise 3.** How many parameters does `attn.qkv` hold when d_model = 128 (it has no bias)?

# %%
answer = None  # your prediction: a whole number
check("02.qkv_parameters", answer)

# %%
print(f"d_model = {config.d_model}: attn.qkv holds {attn.qkv.weight.numel():,} parameters")

# %% [markdown]
# <details><summary>Solution</summary>
#
# It maps 128 numbers to 3 x 128 (queries, keys and values): 128 x 384 = 49,152.
# </details>
#
# **Exercise 4.** With T = 6, how many (query, key) pairs does the causal mask allow?

# %%
answer = None  # your prediction: a whole number
check("02.allowed_pairs", answer)

# %%
print(layers.causal_mask(6, 6).int())
print("allowed pairs:", int(layers.causal_mask(6, 6).sum()))

# %% [markdown]
# <details><summary>Solution</summary>
#
# Query t sees keys 0..t, so 1 + 2 + 3 + 4 + 5 + 6 = 21 (the lower triangle with its diagonal).
# </details>
#
# ## Recap
#
# | step | shape | formula |
# |---|---|---|
# | token ids | `idx` (B, T) | |
# | embeddings | (B, T, C) | token embedding + position embedding |
# | queries, keys, values | 3 x (B, H, T, hs), hs = C / H | one linear map C -> 3C, split into H attention heads |
# | scores | (B, H, T, T) | q kᵀ / √hs |
# | weights | (B, H, T, T) | softmax over keys of the scores, with s > t set to -∞ |
# | attention output | (B, T, C) | weights @ v, attention heads side by side, then one linear map |
# | block | (B, T, C) | x + attn(LN(x)), then x + MLP(LN(x)); the MLP is C -> 4C -> GELU -> C |
# | trunk | hidden (B, T, C) | embeddings, then n_layers blocks; every prediction head reads it |
#
# - Dividing by √hs keeps the scores at unit variance, so the softmax does not saturate.
# - Causal: changing token t changes nothing at positions before t, for every prediction head.
# - Without the mask (and without positions) attention sees a set; with the causal mask order leaks in
#   (a query can count the keys it sees); position embeddings give every layer the order directly.
# - "Heads" are prediction heads; the heads inside attention are *attention heads*.
#
# ## Next
#
# Notebook **03_heads_and_loss** picks up the hidden state here and turns it into n predictions: the
# head types, the shared unembedding, and the loss that trains them all at once.
