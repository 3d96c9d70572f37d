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
# # 08 · Related ideas, and when MTP is worth it
#
# You have trained an MTP model and watched it speculate. This last notebook steps back and asks
# three questions a practitioner would ask, with measurements where this machine can make them, and
# the papers' numbers (with their sources) where it cannot.
#
# **At the end of this notebook you will be able to**
# - compare a next-token model with a multi-token model trained the same way, and say honestly what
#   MTP cost or bought at this size;
# - compare self-speculative decoding with a separate draft model, in speed and in what each costs;
# - say when MTP is worth it, according to the published results, and when it is not.

# %%
import os
from pathlib import Path

import torch

import tinymtp
from tinymtp import viz
from tinymtp.checkpoint import load_checkpoint
from tinymtp.corpora import load_corpus
from tinymtp.evaluate import evaluate_on_corpus
from tinymtp.exercises import check
from tinymtp.predictions import measure_decoding

FAST = os.environ.get("TINYMTP_FAST") == "1"  # the tests set this: fewer windows and tokens
torch.set_num_threads(1)  # a model this small runs faster and steadier on one thread (notebook 04)
CHECKPOINTS = Path(tinymtp.__file__).resolve().parent.parent / "checkpoints"
mtp = load_checkpoint(str(CHECKPOINTS / "mtp-4head"))
ntp = load_checkpoint(str(CHECKPOINTS / "ntp-1head"))
draft = load_checkpoint(str(CHECKPOINTS / "draft"))

# %% [markdown]
# ## 1. Next-token vs multi-token training
#
# The shipped `ntp-1head` and `mtp-4head` checkpoints were made by tinymtp's own command line (the
# recipe is in the README): the same kind of trunk on the same corpus, one with 1 head, the other
# with 4. What did their training cost, and how good is their **next-token** prediction (head 1, the
# number comparable with any language model)? We evaluate both on the same validation windows:

# %%
corpus = load_corpus("python-stdlib")
windows = 32 if FAST else 256
results = {}
for name, ckpt in (("next-token (n=1)", ntp), ("multi-token (n=4)", mtp)):
    meta, cfg = ckpt.metadata, ckpt.model.config
    results[name] = evaluate_on_corpus(ckpt.model, ckpt.tokenizer, corpus, n_windows=windows)
    print(f"{name:18} {cfg.n_layers} layers x {cfg.d_model} wide, {ckpt.model.num_parameters():,} parameters, "
          f"{meta['steps']} steps in {meta['seconds'] / 60:.1f} min: next-token val loss "
          f"{results[name]['next_token_val_loss']:.4f}")
viz.model_comparison(results)

# %% [markdown]
# How to read this fairly:
#
# - **Equal steps is not equal compute.** An MTP step computes n heads and n unembeddings where a
#   next-token step computes one, so each step takes longer (the training times above show by how
#   much on this machine). A comparison at equal *time* would give the next-token model more steps.
# - **At this size, expect MTP to cost a little next-token loss.** Part of the trunk's capacity goes
#   to serving heads 2..4. The MTP paper found the same at small scale (section 3 below). If your
#   numbers show the opposite, that is a result too; but one pair of short runs is one sample, and
#   differences of a few hundredths of a nat are within what a different seed can change.
# - **Head 1 of the MTP model is a complete next-token model.** Drop heads 2..4 and it decodes like
#   `ntp-1head`; the extra heads cost nothing at inference unless you use them.
#
# To run your own comparison at equal wall-clock time, train both with the same `--minutes`:
#
#     python -m tinymtp train --heads 1 --minutes 10 --out runs/ntp
#     python -m tinymtp train --heads 4 --minutes 10 --out runs/mtp
#
# ## 2. Self-speculative vs a separate draft model
#
# Speculative decoding needs a drafter. Classic speculative decoding (Leviathan et al. 2023; Chen et
# al. 2023) uses a separate, smaller model with the same vocabulary: it proposes K tokens one by one,
# and the main model verifies them in one forward, with the same accept-and-correct rules as before.
# The shipped `draft` checkpoint is such a model. Compare it with the MTP heads on the same prompts:

# %%
prompts = ["class Queue:\n    def __init__(self", "import os\n\n\ndef main(", "        if self._",
           "    return "][: 2 if FAST else 4]
measurement = measure_decoding(mtp.model, mtp.tokenizer, prompts, max_new_tokens=32 if FAST else 100,
                               drafting_heads=[3], draft_model=draft.model, repeats=1 if FAST else 3)
for name, entry in (("greedy", measurement["greedy"]), ("self-speculative", measurement["speculative"][0]),
                    ("draft model", measurement["draft_model"])):
    print(f"{name:17} {entry['tokens_per_forward']:.2f} tokens per forward of the main model, "
          f"{entry['speedup']:.2f}x wall clock, same text as greedy: {entry['identical']}")
viz.decoding_comparison(measurement)

# %% [markdown]
# What each approach costs:
#
# | | self-speculative (MTP heads) | separate draft model |
# |---|---|---|
# | extra parameters | the extra heads (small for `linear` heads) | a whole second model |
# | drafting cost | none: the drafts come out of the verify forward | K small forwards per round, one after another |
# | extra state | none | the draft model's own KV cache, kept in sync |
# | training | the heads are trained with the model (or added later, like Medusa) | a second model trained on the same tokenizer |
# | quality of drafts | heads read the main model's own hidden state | a smaller model, its own view of the text |

# %%
extra_heads = sum(p.numel() for p in mtp.model.heads[1:].parameters())
print(f"heads 2..4 of mtp-4head: {extra_heads:,} parameters")
print(f"the draft model:         {draft.model.num_parameters():,} parameters")

# %% [markdown]
# ## 3. What tinymtp's own experiments measured
#
# One pair of checkpoints is one sample. The experiments (`python -m tinymtp experiment NAME`, see
# `results/README.md`) repeat each comparison over several seeds at equal compute and report the
# mean and the spread: next-token vs multi-token training on two corpora, learning to copy
# (induction), addition where the first digit depends on the carries, how many drafting heads pay
# off, and the four head types. Here are the saved results, with the findings computed from them
# (a difference counts only when the means differ by more than the seeds' spread):

# %%
from tinymtp.experiments import load_results

saved, problems = load_results()
print(problems or "every saved result read")
for result in saved.values():
    print(f"\n{result['title']}  ({result['command']})")
    for finding in result["findings"]:
        print("  -", finding)

# %%
for result in saved.values():
    viz.experiment_figure(result).show()

# %% [markdown]
# Read them against the papers' numbers in the next section: the papers trained models of 0.3 to
# 13 billion parameters for days; these ran for seconds per seed on a laptop CPU. Where the two
# disagree, scale is the first suspect, and the README's "What we found" section says which way
# each finding went. Each result's `command` regenerates it on your machine.
#
# ## 4. When is MTP worth it? What the papers measured
#
# The headline results, each with its source. These are large models on GPUs, not tiny ones on a
# CPU; they tell you where the idea is going, not what this notebook's numbers should be.
#
# | finding | number | source |
# |---|---|---|
# | 13B model, n = 4 vs n = 1, code benchmarks | +12% HumanEval, +17% MBPP problems solved | Gloeckle et al. 2024, abstract |
# | small models on code | at 0.3B parameters MTP is **worse** on MBPP (1.8 → 1.0); it wins from about 1B up | Gloeckle et al. 2024, scaling table |
# | small models, induction (copying a pattern seen earlier) | induction forms only, or much better, with MTP | Gloeckle et al. 2024, section 4 |
# | self-speculative speed-up, n = 4 | up to 3x: 3.0x on code (2.5 of 3 drafts accepted), 2.7x on text | Gloeckle et al. 2024 |
# | byte-level model, n = 8 | about 6x speed-up (6.4x in the appendix) | Gloeckle et al. 2024 |
# | Medusa heads on an existing model | 2.2x - 3.6x | Cai et al. 2024 |
# | DeepSeek-V3's MTP module as drafter | second token accepted 85-90% of the time, 1.8x tokens/s | DeepSeek-V3 report |
# | blockwise parallel decoding | up to 2x fewer iterations at no loss, up to 4x wall clock | Stern et al. 2018 |
# | speculative sampling with a draft model | 2-3x on T5-XXL; 2-2.5x on Chinchilla 70B | Leviathan et al. 2023; Chen et al. 2023 |
#
# So, putting it together:
#
# - **For decoding speed, MTP heads are close to free.** They come out of the same forward pass, need
#   no second model, and give exact greedy output (notebook 06) or exactly the same sampling
#   distribution (notebook 07). How much faster depends on how often the heads agree with head 1:
#   code, with its predictable stretches, does well.
# - **For the quality of the model itself, it depends on scale.** The MTP paper found the training
#   signal from the extra heads helps large models on code and *hurts* small ones on some metrics,
#   while helping small models learn some skills such as induction. At tinymtp's size, a small loss
#   in next-token quality is the expected, honest outcome.
# - **Heads are optional at inference.** A model trained with MTP can drop its extra heads and run as
#   an ordinary next-token model, or keep them to speculate.
#
# ## Exercises
#
# **Exercise 1.** How many parameters do heads 2..4 add to a 4-head model with `linear` heads and
# d_model = 128? (The unembedding is shared.)

# %%
answer = None  # a whole number
check("08.extra_head_parameters", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Each linear head is one 128 x 128 matrix: 3 x 16,384 = 49,152. Compare with `extra_heads` above.
# </details>
#
# **Exercise 2.** A draft model proposes 3 tokens per round and the main model accepts all of them.
# How many tokens does that one verifying forward of the main model produce?

# %%
answer = None  # a whole number
check("08.draft_rounds", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# 4: the 3 accepted drafts plus the main model's own bonus token after them. (The draft model made
# 3 small forwards for them.)
# </details>
#
# **Exercise 3.** At 0.3B parameters, did the 4-head model solve more or fewer MBPP problems than the
# next-token model, according to Gloeckle et al. 2024? Answer `"better"` or `"worse"`.

# %%
answer = None  # "better" or "worse"
check("08.small_model_mbpp", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# `"worse"`: 1.0 against 1.8 (the scaling table of Gloeckle et al. 2024). MTP's gains on code appear
# from about 1B parameters up.
# </details>
#
# ## Where to go from here
#
# - Train with another head type (`--head-type mlp` or `block`) and compare the heads' agreement with
#   head 1 (notebook 05) and the tokens per forward (notebook 06).
# - Try the `stories` corpus: is English text as predictable several characters ahead as code?
# - Open the Streamlit app (see the README) to watch the same ideas interactively.
