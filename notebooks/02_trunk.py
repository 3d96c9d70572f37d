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
# - write causal self-attention from scratch and show it equals the library's (both its written-out
#   path and PyTorch's fused one);
# - explain why no position can see the future, and test it.
#
# The code behind this notebook is `tinymtp/layers.py` (attention, MLP, block) and the `Trunk` class
# in `tinymtp/model.py`.
#
# **Names.** In tinymtp, "heads" always means *prediction* heads (`n_heads`). The heads inside
# attention are always called **attention heads** (`attn_heads`). If you come from nanoGPT, where
# `n_head` counts attention heads, watch out for this.

# %%
import math
from pathlib import Path

import torch
import torch.nn.functional as F

import tinymtp
from tinymtp import viz
from tinymtp.checkpoint import load_checkpoint
from tinymtp.corpora import load_corpus
from tinymtp.exercises import check
from tinymtp.model import ModelConfig, MTPModel

torch.manual_seed(0)
CHECKPOINTS = Path(tinymtp.__file__).resolve().parent.parent / "checkpoints"

# %% [markdown]
# ## 1. The model at a glance
#
# We build an untrained model with the `tiny` preset, the size of the shipped checkpoints: 4 layers,
# hidden size `d_model` = 128, 4 attention heads per layer, a context of 128 characters, and 4
# prediction heads. The vocabulary is the set of characters of the `python-stdlib` corpus (161 of
# them on Python 3.11).

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
# sits. Without the position vector, attention could not tell `ab` from `ba`: it treats its inputs
# as a set.

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
# each attention head does all of this on its own group, in parallel.
#
# We take the first block's attention module and feed it what the block feeds it: `x` after the
# block's first LayerNorm.

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

# %%
scores = q @ k.transpose(-2, -1) / math.sqrt(hs)  # (B, H, T, T): query t against key s
mask = torch.ones(T, T, dtype=torch.bool).tril()  # (T, T): True where s <= t
scores = scores.masked_fill(~mask, float("-inf"))  # (B, H, T, T): no looking ahead
weights = torch.softmax(scores, dim=-1)  # (B, H, T, T): each row sums to 1
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
# PyTorch's fused `scaled_dot_product_attention`. Ours must equal both (up to float rounding).

# %%
attn.fast = False
library_out = attn(h)  # (B, T, C)
assert torch.allclose(out, library_out, atol=1e-6)
assert torch.allclose(weights, attn.weights, atol=1e-6)
attn.fast = True
assert torch.allclose(out, attn(h), atol=1e-5)
print("hand-written attention == tinymtp's written-out path == PyTorch's fused path")

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
trained = load_checkpoint(str(CHECKPOINTS / "mtp-4head")).model
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
# **Exercise 1.** For a batch with B = 2, T = 5, 4 attention heads and d_model = 32, what is the
# shape of `scores`? Answer with a tuple.

# %%
answer = None  # a tuple, e.g. (1, 2, 3)
check("02.scores_shape", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# `(2, 4, 5, 5)`: one T x T table of query-against-key scores per sequence and per attention head.
# The head size (32 / 4 = 8) is summed away by the dot product.
# </details>
#
# **Exercise 2.** How many parameters does `attn.qkv` hold when d_model = 128 (it has no bias)?

# %%
answer = None  # a whole number
check("02.qkv_parameters", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# It maps 128 numbers to 3 x 128 (queries, keys and values): 128 x 384 = 49,152. Check with
# `attn.qkv.weight.numel()`.
# </details>
#
# **Exercise 3.** With T = 6, how many (query, key) pairs does the causal mask allow?

# %%
answer = None  # a whole number
check("02.allowed_pairs", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Query t sees keys 0..t, so 1 + 2 + 3 + 4 + 5 + 6 = 21 (the lower triangle with its diagonal).
# Check with `torch.ones(6, 6).tril().sum()`.
# </details>
#
# ## What's next
#
# Notebook **03_heads_and_loss** picks up the hidden state here and turns it into n predictions: the
# head types, the shared unembedding, and the loss that trains them all at once.
