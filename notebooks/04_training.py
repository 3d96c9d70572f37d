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
# # 04 · Training an MTP model
#
# Time to train one. This notebook trains a small 4-head model on the `python-stdlib` corpus in a
# few minutes on a laptop CPU, draws every head's loss while it learns, and then asks: how good did
# each head get, and why are the heads that look further ahead always worse?
#
# **At the end of this notebook you will be able to**
# - train an MTP model from Python with `tinymtp.train.train`, and drive a live loss plot with its
#   `on_step` callback;
# - read each head's validation loss and accuracy, and explain why they get worse with distance;
# - save a trained model as a checkpoint and load it back.
#
# The code behind this notebook is `tinymtp/train.py`, `tinymtp/evaluate.py` and
# `tinymtp/checkpoint.py`.

# %%
import math
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch
from IPython.display import clear_output, display

import tinymtp
from tinymtp import viz
from tinymtp.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from tinymtp.corpora import load_corpus
from tinymtp.exercises import check
from tinymtp.model import ModelConfig
from tinymtp.train import TrainConfig, learning_rate, train, training_metadata

FAST = os.environ.get("TINYMTP_FAST") == "1"  # the tests set this: a much shorter run
CHECKPOINTS = Path(tinymtp.__file__).resolve().parent.parent / "checkpoints"

# %% [markdown]
# ## 1. The recipe
#
# `train()` runs a standard small-transformer recipe; every number is a field of `TrainConfig`:
#
# - **AdamW** (Adam with weight decay 0.1 on the weight matrices only), peak learning rate 3e-3;
# - the learning rate **warms up** linearly over the first 50 steps, then follows a **cosine** down to
#   10% of the peak at the last step;
# - gradients are **clipped** to norm 1.0, which stops a rare bad batch from wrecking the weights;
# - every `eval_every` steps, each head's **validation loss and accuracy** are measured on fixed,
#   evenly spaced windows of the validation text, so two evaluations are always comparable;
# - a **seed** fixes the initial weights and the batches: the same seed on the same machine gives
#   the same model.

# %%
demo = TrainConfig(steps=1000)
for step in (0, 1, 25, 49, 50, 250, 500, 750, 999):
    print(f"step {step:>3}: learning rate {learning_rate(demo, step, step / demo.steps):.6f}")

# %% [markdown]
# ## 2. Train, and watch
#
# The model is smaller than the shipped checkpoints (2 layers of width 64 and a context of 64
# characters instead of 4 layers of width 128 and 128 characters) so that it trains in a minute or
# two on two CPU cores. Everything else is the same recipe.
#
# The training config asks PyTorch for **one thread** (`threads=1`). A model this small does too
# little work per operation to gain from splitting it across cores, and on a machine busy with other
# work PyTorch's threads can spend more time waiting for each other than computing: on the two-core
# machine this notebook was written on, one thread was steady while two were sometimes ten times
# slower. For big models, leave the default (`threads=None`).
#
# `train()` calls `on_step` after every step with a `StepInfo` (step, losses of every head, and the
# evaluation when there was one). The callback below keeps the history and redraws the loss curves
# every few steps; returning `True` from it would stop training early (so would the stop button of
# Jupyter: the model trained so far is kept).

# %%
corpus = load_corpus("python-stdlib")
V = corpus.tokenizer.vocab_size
if FAST:  # a few seconds: enough to run every cell
    model_config = ModelConfig.from_preset("micro", vocab_size=V, n_heads=4)
    train_config = TrainConfig(steps=40, batch_size=16, warmup_steps=10, eval_every=20, eval_batches=2, seed=0,
                               threads=1)
else:
    model_config = ModelConfig(vocab_size=V, context_length=64, d_model=64, n_layers=2, attn_heads=4, n_heads=4)
    train_config = TrainConfig(steps=1000, batch_size=32, eval_every=200, eval_batches=4, seed=0, threads=1)
print(model_config)
print(train_config)

# %%
history = {"train": [], "eval": []}


def on_step(info):
    history["train"].append([info.step] + info.head_losses)
    if info.eval is not None:
        history["eval"].append(info.eval)
    if info.step % 20 == 0 or info.step == info.total_steps:
        clear_output(wait=True)  # the next drawing replaces this cell's previous one
        display(viz.loss_curves(history))
    return False  # True would stop training here


started = time.perf_counter()
result = train(model_config, train_config, corpus, on_step=on_step)
print(f"{result.steps} steps in {time.perf_counter() - started:.0f} s")

# %% [markdown]
# The thin lines are the training losses (smoothed), the dots the validation losses. All heads start
# together near ln V (ln 161 ≈ 5.08), as notebook 03 showed: the heads start as the identity and the
# model guesses uniformly. They fall fast while the model learns which characters are common, then
# separate: **head 1 ends lowest, head 4 highest**.
#
# ## 3. How good is each head?
#
# `result.final_eval` holds each head's validation loss and **top-1 accuracy**: how often its most
# probable character equals the real character k places ahead.

# %%
for h in result.final_eval["heads"]:
    print(f"head {h['head']} (predicts x[t+{h['head']}]): val loss {h['val_loss']:.3f}   "
          f"accuracy {h['val_accuracy']:.1%}")

# %% [markdown]
# The shipped `mtp-4head` checkpoint is the same kind of model, bigger and trained longer with the
# command in the README. Its training metadata records the same numbers, so we can draw both:

# %%
shipped = read_metadata(str(CHECKPOINTS / "mtp-4head"))
print(f"shipped mtp-4head: {shipped['steps']} steps, {shipped['seconds'] / 60:.1f} minutes of training")
viz.model_comparison({"your run": result.final_eval, "shipped mtp-4head": shipped},
                     title="Your run and the shipped checkpoint")


# %% [markdown]
# ## 4. Why are the heads further ahead worse?
#
# Head 1 at position t knows everything up to x[t] and guesses x[t+1]. Head 3 knows exactly the same
# and must guess x[t+3], *without knowing x[t+1] and x[t+2]*. Every character in between is a fork
# in the road it cannot see, so the further ahead, the more possible futures, and the less any single
# guess can be right. This is a property of the text, not a weakness of the model: even a perfect
# model would do worse further ahead.
#
# We can see it without any neural network. Count, in the corpus, how uncertain the character k
# places after a 2-character context is: the *conditional entropy* H(x[t+k] | the 2 characters up to
# x[t]), estimated by counting pairs (context, character). Lower means more predictable.

# %%
def conditional_entropy(text, context, k):
    """H(x[t+k] | the `context` characters ending at x[t]) in nats, by counting."""
    pairs = Counter((text[t - context + 1 : t + 1], text[t + k]) for t in range(context - 1, len(text) - k))
    contexts = Counter()
    for (ctx, _), count in pairs.items():
        contexts[ctx] += count
    total = sum(pairs.values())
    return -sum(count / total * math.log(count / contexts[ctx]) for (ctx, _), count in pairs.items())


sample = corpus.train_text[: 100_000 if FAST else 400_000]
for k in range(1, 5):
    print(f"k = {k}: H(x[t+{k}] | 2 characters) = {conditional_entropy(sample, 2, k):.2f} nats")

# %% [markdown]
# The uncertainty grows with k, and the heads' losses grow the same way. (Counting is a rough
# estimate: it sees only 2 characters where the model sees up to 128, and a context seen only a few
# times looks more predictable than it is. Compare the rows with each other, not with the model's
# losses.)
#
# This is why multi-token prediction is *not* about the far heads being good predictors of the text.
# Two other things make them useful:
# - **during training**, the far heads ask the trunk to carry information about what is coming
#   later, which can help it learn structure (notebook 08 looks at when that pays off);
# - **at inference**, a far head only has to agree with what head 1 *would* generate, which is much
#   easier than matching the real text (notebook 05), and that agreement is what speeds up decoding
#   (notebook 06).
#
# ## 5. Save it, load it back
#
# A checkpoint is a directory with `config.json` (the model config, the tokenizer's vocabulary, and
# training metadata) and `model.safetensors` (the weights; loading runs no code), plus, when given,
# `optimizer.safetensors` (what `--resume` needs to continue training). It is written to a temporary
# name and renamed into place, so an interrupted save never leaves half a checkpoint.

# %%
with tempfile.TemporaryDirectory() as folder:  # deleted at the end of the block
    path = save_checkpoint(os.path.join(folder, "my-mtp"), result.model, corpus.tokenizer,
                           training_metadata(result, corpus, train_config), result.optimizer_tensors)
    print(sorted(os.listdir(path)))
    loaded = load_checkpoint(path)
x = corpus.tokens("val")[None, : model_config.context_length]  # (1, T)
with torch.no_grad():
    assert torch.equal(loaded.model(x).logits, result.model.eval()(x).logits)
print("the loaded model gives the same logits:", loaded.model.config.n_heads, "heads,", loaded.tokenizer)

# %% [markdown]
# From the command line, the same recipe trains a model of one of the preset sizes (`micro`,
# `draft`, `tiny` (the default, the shipped size) or `small`), shows a progress bar and writes the
# checkpoint:
#
#     python -m tinymtp train --corpus python-stdlib --heads 4 --preset tiny --steps 1000 --out runs/my-mtp
#
# and `python -m tinymtp eval --checkpoint runs/my-mtp` prints each head's validation loss and
# accuracy.
#
# ## Exercises
#
# **Exercise 1.** With a peak learning rate of 3e-3 and 50 warm-up steps, what learning rate does
# the very first step (step 0) use?

# %%
answer = None  # a number
check("04.first_learning_rate", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Warm-up is linear: step s uses peak x (s + 1) / 50, so step 0 uses 3e-3 / 50 = 6e-5. Check with
# `learning_rate(TrainConfig(steps=1000), 0, 0.0)`.
# </details>
#
# **Exercise 2.** In *your* run, which head has the highest validation loss? Answer with its number.

# %%
answer = None  # a head number, 1..4
check("04.worst_head", answer, evaluation=result.final_eval)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Usually head 4, the one that looks furthest ahead: see section 4. (In a very short run the heads
# can still be tied, so the check reads the answer from your own `result.final_eval`.)
# </details>
#
# **Exercise 3.** With a batch of 32 windows and a context of 128 characters, how many targets does
# one training step of a 4-head model learn from, all heads together?

# %%
answer = None  # a whole number
check("04.targets_per_step", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Every position of every window has a target for every head: 32 x 128 x 4 = 16,384, four times
# as many as a next-token model's 4,096 from the same text.
# </details>
#
# ## What's next
#
# Notebook **05_what_the_heads_know** opens the shipped checkpoint and looks at the heads' guesses
# character by character, and at the kind of accuracy that predicts the speed-up.
