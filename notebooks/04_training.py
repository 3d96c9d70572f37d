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
# Time to train one: **your own**. This notebook trains a small 4-head model on the `python-stdlib`
# corpus in a few minutes on a laptop CPU, draws every head's loss while it learns, shows what it
# writes as it learns, has you write the training loop yourself, and saves the model. Notebooks 05, 06, 07 and 09 then study *your*
# model (and say how it differs from the shipped one), so by notebook 09 you will have watched the
# model you trained here speculate.
#
# **At the end of this notebook you will be able to**
# - train an MTP model from Python with `tinymtp.training.train.train`, drive a live loss plot with its
#   `on_step` callback, and pause and resume a run to read what the model writes;
# - write the training loop yourself (batches, AdamW, warm-up and cosine schedule, clipping) and get
#   exactly `train()`'s losses;
# - read each head's validation loss and accuracy, and explain why they get worse with distance;
# - save your model as a checkpoint (`runs/my-model`) and load it back.
#
# The code behind this notebook is `tinymtp/training/train.py`, `tinymtp/training/evaluate.py` and
# `tinymtp/files/checkpoint.py`.

# %%
import os
import tempfile
import time

import torch
from IPython.display import clear_output, display

from tinymtp import viz
from tinymtp.analysis.information import entropy_ahead
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.data.corpora import load_corpus, make_batch
from tinymtp.decoding.decode import generate
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.exercises import check
from tinymtp.files.checkpoint import Checkpoint, load_checkpoint, read_metadata, save_checkpoint
from tinymtp.files.paths import (
    LEARNER_MODEL_NAME,
    SHIPPED_MODEL_NAME,
    checkpoints_dir,
    learner_model,
    runs_dir,
)
from tinymtp.training.loop import learning_rate
from tinymtp.training.train import TrainConfig, build_optimizer, train, training_metadata

FAST = os.environ.get("TINYMTP_FAST") == "1"  # the tests set this: a much shorter run

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
#
# **Exercise 1 (predict, then run).** With a peak learning rate of 3e-3 and 50 warm-up steps, what
# learning rate does the very first step (step 0) use? Write your prediction, then run the cell after
# the check: it prints the schedule.

# %%
answer = None  # a number
check("04.first_learning_rate", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Warm-up is linear: step s uses peak x (s + 1) / 50, so step 0 uses 3e-3 / 50 = 6e-5 (not 0: a
# step with learning rate 0 would be wasted). The first line printed below says the same.
# </details>

# %%
demo = TrainConfig(steps=1000)
for step in (0, 1, 25, 49, 50, 250, 500, 750, 999):
    print(f"step {step:>3}: learning rate {learning_rate(demo, step, step / demo.steps):.6f}")

# %% [markdown]
# ## 2. Train, and watch
#
# The model is smaller than the shipped checkpoint (2 layers of width 64 and a context of 64
# characters instead of 4 layers of width 128 and 128 characters) so that it trains in a few minutes
# on two CPU cores (the training cell prints how long it took on yours). Everything else is the same
# recipe.
#
# The training config asks PyTorch for **one thread** (`threads=1`). A model this small does too
# little work per operation to gain from splitting it across cores, and on a machine busy with other
# work PyTorch's threads can spend more time waiting for each other than computing. For big models,
# leave the default (`threads=None`).
#
# `train()` calls `on_step` after every step with a `StepInfo` (step, losses of every head, and the
# evaluation when there was one). The callback below keeps the history and redraws the loss curves
# every few steps; returning `True` from it stops training early (so would the stop button of
# Jupyter: the model trained so far is kept).
#
# A loss curve says *that* the model learns, not *what*. So the run below stops a few times on the
# way, samples a line of text from head 1 (at temperature 1, always with the same seed, after the same
# prompt), and goes on. Pausing changes nothing: a stopped run returns its model, its optimizer's
# state and its batch generator's state, and `train(..., resume=...)` continues from exactly there
# (the resumed run is bit for bit the run that never stopped; `tests/test_train.py` checks it). The
# learning-rate schedule knows the whole run's length, so it does not restart either.

# %%
corpus = load_corpus("python-stdlib")
V = corpus.tokenizer.vocab_size
if FAST:  # a few seconds: enough to run every cell
    model_config = ModelConfig.from_preset("micro", vocab_size=V, n_heads=4)
    train_config = TrainConfig(steps=40, batch_size=16, warmup_steps=10, eval_every=20, eval_batches=2, seed=0,
                               threads=1)
else:
    model_config = ModelConfig(vocab_size=V, context_length=64, d_model=64, n_layers=2, attn_heads=4, n_heads=4)
    train_config = TrainConfig(steps=2000, batch_size=32, eval_every=250, eval_batches=4, seed=0, threads=1)
print(model_config)
print(train_config)

# %%
history = {"train": [], "eval": []}
samples = []  # what head 1 writes at each pause, shown under the plot
sample_prompt = "def "
stops = (20, 40) if FAST else (50, 200, 500, 1000, 2000)  # where to pause and sample


def on_step(info):
    history["train"].append([info.step] + info.head_losses)
    if info.eval is not None:
        history["eval"].append(info.eval)
    if info.step % 25 == 0 or info.step == info.total_steps:
        clear_output(wait=True)  # the next drawing replaces this cell's previous one
        display(viz.loss_curves(history))
        print("\n".join(samples))
    return False  # True would stop training here


def until(stop):
    """on_step, and stop once `stop` steps are done (the next stage resumes from there)."""
    return lambda info: on_step(info) or info.step >= stop


paused = None
started = time.perf_counter()
for stop in stops:
    result = train(model_config, train_config, corpus, on_step=until(stop), resume=paused)
    text = generate(result.model, corpus.tokenizer, sample_prompt,
                    DecodeSettings("sample", 120, temperature=1.0, seed=0)).text
    samples.append(f"step {result.steps:>4}, head-1 val loss {result.final_eval['next_token_val_loss']:.2f}: "
                   f"{sample_prompt + text!r}")
    print(samples[-1])
    paused = Checkpoint(result.model, corpus.tokenizer, training_metadata(result, corpus, train_config),
                        result.optimizer_tensors)
training_seconds = time.perf_counter() - started
print(f"{result.steps} steps in {training_seconds:.0f} s ({training_seconds / 60:.1f} minutes) on this machine")

# %% [markdown]
# The thin lines are the training losses (smoothed), the dots the validation losses. All heads start
# together near ln V (ln 161 ≈ 5.08), as notebook 03 showed: the heads start as the identity and the
# model guesses uniformly. They fall fast while the model learns which characters are common, then
# separate: **head 1 ends lowest, head 4 highest**.
#
# Now read the samples from top to bottom, as Karpathy's lecture on building GPT does with its
# Shakespeare: first characters in the right proportions, then words and indentation, then lines
# that look like Python (and are not: a model this size has no idea what the code means). Each sample
# is a draw at temperature 1, text with the statistics the model learned, which is why later
# notebooks quote drafting figures on text like it.
#
# ## 3. The loop, written by you
#
# `train()` and its named steps in `tinymtp/training/train.py` (`check_training`, `restore`, `train_step`, ...)
# are about 100 lines, but most of them are bookkeeping (checks, time budgets, evaluation, resuming,
# the callback). The loop itself is short, and you have every piece it needs:
#
# | piece | what it does |
# |---|---|
# | `torch.manual_seed(cfg.seed)` then `MTPModel(model_config)` | the same initial weights as `train()` |
# | `build_optimizer(model, cfg)` | AdamW, weight decay on matrices only, betas (0.9, 0.99) |
# | `torch.Generator().manual_seed(cfg.seed)` | the generator the batches are drawn with |
# | `corpus.tokens("train")` | the training text as token ids, shape (N,) |
# | `make_batch(data, cfg.batch_size, T, n, generator)` | inputs (B, T) and every head's targets (B, T, n) |
# | `learning_rate(cfg, step, step / cfg.steps)` | the warm-up then cosine schedule; set it on every `optimizer.param_groups` entry before the step |
# | `model.train()`, `model(x, targets).loss` | training mode; the weighted mean of the heads' losses (notebook 03) |
# | `torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)` | clipping, between `backward()` and `optimizer.step()` |
#
# **Exercise 2 (code).** Write `my_train(model_config, train_config, corpus)`: `train()`'s loop,
# returning the list of every step's loss (a float per step, `cfg.steps` of them). About 15 lines.
# The check runs your function and `train()` on small hidden runs of 30 steps with the same seed, and
# compares the 30 losses: with the same seed, batches and updates they agree to float rounding.

# %%
def my_train(model_config, train_config, corpus):
    raise NotImplementedError  # replace this line with your code


check("04.training_loop", my_train)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def my_train(model_config, train_config, corpus):
#     cfg = train_config
#     torch.manual_seed(cfg.seed)  # the same initial weights as train()
#     model = MTPModel(model_config)
#     optimizer = build_optimizer(model, cfg)
#     generator = torch.Generator().manual_seed(cfg.seed)  # the same batches as train()
#     data = corpus.tokens("train")
#     losses = []
#     model.train()
#     for step in range(cfg.steps):
#         for group in optimizer.param_groups:
#             group["lr"] = learning_rate(cfg, step, step / cfg.steps)
#         x, targets = make_batch(data, cfg.batch_size, model_config.context_length, model_config.n_heads,
#                                 generator)  # (B, T), (B, T, n)
#         optimizer.zero_grad()
#         loss = model(x, targets).loss
#         loss.backward()
#         torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
#         optimizer.step()
#         losses.append(loss.item())
#     return losses
# ```
#
# Forget the warm-up (keep the peak rate from step 0) and the losses part ways from `train()`'s
# within a few steps; so does drawing the batches from an unseeded generator.
# </details>
#
# ## 4. How good is each head?
#
# `result.final_eval` holds each head's validation loss and **top-1 accuracy**: how often its most
# probable character equals the real character k places ahead.

# %%
for h in result.final_eval["heads"]:
    print(f"head {h['head']} (predicts x[t+{h['head']}]): val loss {h['val_loss']:.3f}   "
          f"accuracy {h['val_accuracy']:.1%}")

# %% [markdown]
# The shipped `mtp-4head` checkpoint is the same kind of model, bigger and trained longer with the
# command in the README (then its heads were distilled: notebook 06). Its training metadata records
# the same numbers, so we can draw both:

# %%
shipped = read_metadata(str(checkpoints_dir() / SHIPPED_MODEL_NAME))
print(f"shipped {SHIPPED_MODEL_NAME}: {shipped['steps']} steps, {shipped['seconds'] / 60:.1f} minutes of training")
viz.model_comparison({"your run": result.final_eval, f"shipped {SHIPPED_MODEL_NAME}": shipped},
                     title="Your run and the shipped checkpoint")


# %% [markdown]
# ## 5. Why are the heads further ahead worse?
#
# Head 1 at position t knows everything up to x[t] and guesses x[t+1]. Head 3 knows exactly the same
# and must guess x[t+3], *without knowing x[t+1] and x[t+2]*. Every character in between is a fork
# in the road it cannot see, so the further ahead, the more possible futures, and the less any single
# guess can be right. This is a property of the text, not a weakness of the model: even a perfect
# model would do worse further ahead.
#
# We can see it without any neural network. Count, in the corpus, how uncertain the character k
# places after a 2-character context is: the *conditional entropy* H(x[t+k] | the 2 characters up to
# x[t]), estimated by counting pairs (context, character) (`entropy_ahead` in
# `tinymtp/analysis/information.py`). Lower means more predictable.

# %%
sample = corpus.tokens("train")[: 100_000 if FAST else 400_000]  # (N,) token ids
for k in range(1, 5):
    print(f"k = {k}: H(x[t+{k}] | 2 characters) = {entropy_ahead(sample, context=2, k=k):.2f} nats")

# %% [markdown]
# The uncertainty grows with k, and the heads' losses grow the same way. (Counting is a rough
# estimate: it sees only 2 characters where the model sees up to 64, and a context seen only a few
# times looks more predictable than it is. Compare the rows with each other, not with the model's
# losses.)
#
# This is why multi-token prediction is *not* about the far heads being good predictors of the text.
# At inference, a far head only has to agree with what head 1 *would* generate, which is much
# easier than matching the real text (notebook 05), and that agreement is what speeds up decoding
# (notebook 06). What the far heads do to the trunk *during training* is notebook 08's subject.
#
# ## 6. Save your model, load it back
#
# A checkpoint is a directory with `config.json` (the model config, the tokenizer's vocabulary, and
# training metadata) and `model.safetensors` (the weights; loading runs no code), plus, when given,
# `optimizer.safetensors` (what `--resume` needs to continue training). It is written to a temporary
# name and renamed into place, so an interrupted save never leaves half a checkpoint.
#
# Your model goes to `runs/my-model`: the folder notebooks 05, 06, 07 and 09 look in first
# (`tinymtp.files.paths.learner_model()`). Running this notebook again replaces it (`overwrite=True`: it is
# this notebook's own output; `save_checkpoint` refuses to replace anything else). In fast mode (what
# the tests run) the 40-step model is saved to a temporary folder instead, so it never replaces a
# model you trained for real.

# %%
if FAST:
    scratch = tempfile.TemporaryDirectory()  # deleted when the kernel stops
    my_model_path = os.path.join(scratch.name, LEARNER_MODEL_NAME)
else:
    my_model_path = str(runs_dir() / LEARNER_MODEL_NAME)
path = save_checkpoint(my_model_path, result.model, corpus.tokenizer,
                       training_metadata(result, corpus, train_config), result.optimizer_tensors, overwrite=True)
print(sorted(os.listdir(path)))
loaded = load_checkpoint(path)
x = corpus.tokens("val")[None, : model_config.context_length]  # (1, T)
with torch.no_grad():
    assert torch.equal(loaded.model(x).logits, result.model.eval()(x).logits)
print("the loaded model gives the same logits:", loaded.model.config.n_heads, "heads,", loaded.tokenizer)
print("notebooks 05-07 and 09 will study", learner_model().describe())

# %% [markdown]
# From the command line, the same recipe trains a model of one of the preset sizes (`micro`,
# `draft`, `tiny` (the default, the shipped size) or `small`), shows a progress bar and writes the
# checkpoint:
#
#     python -m tinymtp train --corpus python-stdlib --heads 4 --preset tiny --steps 1000 --out runs/my-mtp
#
# and `python -m tinymtp eval --checkpoint runs/my-mtp` prints each head's validation loss and
# accuracy. (To make such a model the one notebooks 05-09 study, train it with
# `--out runs/my-model --overwrite`.)
#
# ## Exercises
#
# Exercise 1 (the first learning rate) and Exercise 2 (the training loop) are in sections 1 and 3.
#
# **Exercise 3.** With a batch of 32 windows and a context of 128 characters, how many targets does
# one training step of a 4-head model learn from, all heads together?

# %%
answer = None  # a whole number
check("04.targets_per_step", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Every position of every window has a target for every head (`make_batch` cuts T + n characters
# per window): 32 x 128 x 4 = 16,384, four times as many as a next-token model's 4,096 from the
# same text.
# </details>
#
# ## Recap
#
# - One step: `x, targets = make_batch(...)` gives x (B, T) and targets (B, T, n); the model gives
#   logits (B, T, n, V) and `loss` = the weighted mean of the n heads' cross-entropies (notebook 03).
# - Learning rate at step s: peak x (s + 1) / warmup while s < warmup, then
#   floor + ½ (peak − floor)(1 + cos(π s / steps)), floor = 10% of the peak.
# - Order inside a step: set the learning rate, zero the gradients, forward, `backward()`, clip to
#   norm 1.0, `optimizer.step()`.
# - Same seed, same machine: same initial weights, same batches, same losses, same model; a run
#   stopped and resumed (`train(..., resume=...)`) is bit for bit the run that never stopped.
# - Head k's loss grows with k because x[t+k] is less predictable from x[..t] the larger k is
#   (H(x[t+k] | context) grows with k): a property of the text, not of the model.
# - A checkpoint = `config.json` + `model.safetensors` (+ `optimizer.safetensors`), written
#   atomically; yours is `runs/my-model`, and notebooks 05-09 use it.
#
# ## Next
#
# Notebook **05_what_the_heads_know** opens your model (or the shipped one if you have not trained
# yet) and looks at the heads' guesses character by character, and at the kind of accuracy that
# predicts the speed-up.
