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

# %%

# %% [markdown]
# # 10 · MTP at scale, and the cost model
#
# Everything so far ran on a laptop CPU with a model of about a million parameters. This notebook
# looks at multi-token prediction where it is used today, in models of tens to hundreds of billions
# of parameters served on GPUs, and answers the question your own measurements left open: why did
# about 3.5 tokens per forward give only about 2.1x on this machine (docs/measurements.md's `bench decode`
# table), when the papers report close to 3x?
#
# **At the end of this notebook you will be able to**
# - say how DeepSeek-V3 trains and uses its one MTP module, and name other models that ship MTP
#   layers, with the source of each claim;
# - place EAGLE and Medusa-2's self-distillation next to the heads you trained;
# - measure the two numbers of the speed-up cost model on your machine, predict your speed-up from
#   them, and compare with the measured one;
# - write the roofline time of a forward pass, and explain with it why a GPU's verifying forward
#   costs about what a greedy one does.
#
# The code behind this notebook is `tinymtp/analysis/cost_model.py`, with `tinymtp/analysis/speedup.py` for the
# speed-up measurement it is compared with.

# %%
import os

import torch

from tinymtp.analysis.cost_model import measure_step_costs, predicted_speedup, relative_error, roofline_time
from tinymtp.analysis.speedup import BenchPlan, heldout_prompts, measure_decoding
from tinymtp.exercises import check
from tinymtp.files.checkpoint import load_checkpoint
from tinymtp.files.paths import checkpoints_dir, learner_model

FAST = os.environ.get("TINYMTP_FAST") == "1"  # the tests set this: fewer prompts, tokens and repeats
torch.set_num_threads(1)  # a model this small runs faster and steadier on one thread (notebook 04)
mine = learner_model()
ckpt = load_checkpoint(str(mine.path))  # your model from notebook 04, else the shipped mtp-4head
if ckpt.model.config.n_heads < 2:  # a 1-head model has nothing to draft with
    print(f"{mine.path} has one head: using the shipped mtp-4head instead")
    mine = type(mine)(path=checkpoints_dir() / "mtp-4head", is_own=False)
    ckpt = load_checkpoint(str(mine.path))
print("studying", mine.describe())
print(f"{ckpt.model.config.n_heads} {ckpt.model.config.head_type} heads, {ckpt.model.num_parameters():,} parameters")

# %% [markdown]
# ## 1. MTP in large models
#
# **DeepSeek-V3** (DeepSeek-AI, technical report, arXiv 2412.19437) is the model that brought MTP
# into a frontier training run. What it did, with the report's sections:
#
# - **One module, depth 1.** Its MTP modules are *sequential* (section 2.2): module k combines the
#   previous depth's hidden state with the embedding of the token that depth was predicting and runs
#   one transformer block, sharing the embedding and output head with the main model. That is the
#   causal head of notebook 09. But DeepSeek-V3 set the depth D = 1 (section 4.2): ONE module,
#   predicting only the token after next. The chain of 3 modules in `causal-4head` is this
#   project's extension.
# - **A weighted loss.** The training loss is the main next-token loss plus lambda / D times the sum of
#   the D modules' losses, with lambda = 0.3 early in training and 0.1 later (sections 2.2 and 4.2).
#   In tinymtp terms: head 1's loss plus 0.3 x head 2's.
# - **Dropped or used to draft.** After training the module can be thrown away (the model is then an
#   ordinary next-token model) or used for speculative decoding. The second token was accepted
#   85-90% of the time across topics, for 1.8 times the tokens per second (section 5.4.3).
#
# Your model's own number for the same thing, head 2's acceptance with one draft (K = 2):

# %%
prompts = heldout_prompts(ckpt.tokenizer, count=2 if FAST else 4, length=48)
ids = [ckpt.tokenizer.encode(p) for p in prompts]
one_draft = measure_step_costs(ckpt.model, ids, heads=2, max_new_tokens=48 if FAST else 200, repeats=1)
print(f"K = 2: {one_draft.tokens_per_round:.3f} tokens per verifying round, so head 2's draft was kept in "
      f"{one_draft.tokens_per_round - 1:.0%} of rounds (DeepSeek-V3: 85-90%)")

# %% [markdown]
# **Models that ship MTP layers.** Since DeepSeek-V3, several open models include trained MTP layers
# in their released weights, and serving engines use them as drafters. Each claim with its source
# (only what could be checked is listed):
#
# | model | what ships | source |
# |---|---|---|
# | DeepSeek-V3 | the MTP module: of the 685B parameters released, 14B are the MTP module's, 671B the main model's | the numbers: the DeepSeek-V3 repository's README (and its Hugging Face model card); the module: report, section 2.2 |
# | Qwen3-Next-80B-A3B | an MTP layer, extracted and served as a drafter for vLLM | Hugging Face: inference-optimization/Qwen3-Next-80B-A3B-Instruct_mtp_speculator (its model card) |
# | MiMo-7B (Xiaomi) | MTP layers; vLLM's MTP documentation uses `XiaomiMiMo/MiMo-7B-Base` as its example | docs.vllm.ai, "MTP (Multi-Token Prediction)" speculative decoding page |
# | GLM-4.5 (Z.ai) | built-in MTP layers for speculative decoding; the recipe advises 1 speculative token for best throughput, since more raise the acceptance length but lower the acceptance rate | vLLM recipes, zai-org/GLM-4.5 |
#
# Notice the pattern: the MTP layers are trained with the model, and serving starts from **one**
# drafted token (vLLM's MTP page suggests 1 to start with, the GLM-4.5 recipe 1 for best throughput),
# the depth DeepSeek-V3 measured; drafting further means running the layer again on its own draft
# (as the Qwen3-Next speculator does) or adding layers. Notebook 09 showed why deeper chains are
# harder to cash in: each extra draft is kept only if every earlier one was, and each costs its own
# small forward.
#
# **Relatives of the heads you trained.**
#
# - **EAGLE** (Li et al. 2024) drafts at the *feature* level: a small autoregressive head, trained
#   after the fact on a frozen model, predicts the model's next top-layer feature from the current
#   features and the token one step ahead, and the model's own output layer turns it into a token.
#   It is the feature-level relative of causal heads: a chain that reads the previous draft, but
#   added to a finished model instead of trained with it. EAGLE-2 grows the draft tree by the
#   drafter's confidence (speed-ups of 3.05x-4.26x, Li et al. 2024, EAGLE-2 abstract).
# - **Medusa-2** (Cai et al. 2024) trains the heads *together with* the backbone, and when the
#   model's original training data is not at hand, uses **self-distillation**: it trains on text
#   the model itself generated, so the heads learn to predict what the model would write (which is
#   what acceptance measures), not what some other text says. Notebook 05 made the same distinction:
#   "matches the text" versus "matches head 1".
#
# ## 2. The cost model: why 3 tokens per forward is not 3x
#
# Greedy decoding commits one token per step. A verifying round commits `tokens per round` tokens (the
# kept drafts and head 1's own token) but costs more than a greedy step: it feeds K tokens and
# computes K heads. So
#
#     speed-up = tokens per verifying round / cost ratio,   cost ratio = time of a verifying round / time of a greedy step
#
# **Predict, then run.** A verifying round commits 3.2 tokens on average and costs 1.6 greedy steps.
# What speed-up does the model predict?

# %%
answer = None  # the predicted speed-up
check("10.predicted_speedup", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# 3.2 / 1.6 = 2.0. Each round is worth 3.2 greedy steps of text but costs 1.6 of time.
# `tinymtp.analysis.cost_model.predicted_speedup(3.2, 1.6)` computes the same.
# </details>
#
# Now measure both numbers on your machine, from the decoding loop itself: the trace records each
# round's wall time, so the cost of a greedy step and of a verifying round (with the KV cache, all
# heads drafting) are medians over real decoding. Then predict the speed-up, and compare it with the
# speed-up measured separately by `measure_decoding` (notebook 06's measurement: total tokens per
# second, interleaved repeats, median).

# %%
new_tokens, repeats = (48, 1) if FAST else (200, 3)
costs = measure_step_costs(ckpt.model, ids, max_new_tokens=new_tokens, repeats=repeats)
print(f"greedy step {costs.greedy_ms:.3f} ms, verifying round (K = {costs.heads}) {costs.verify_ms:.3f} ms: "
      f"cost ratio {costs.cost_ratio:.2f} (median of {repeats} repeats, {costs.greedy_steps} steps and "
      f"{costs.verify_rounds} rounds timed)")
print(f"tokens per verifying round {costs.tokens_per_round:.2f} -> predicted speed-up "
      f"{costs.tokens_per_round:.2f} / {costs.cost_ratio:.2f} = {costs.predicted_speedup:.2f}x")

# %%
measured = measure_decoding(ckpt.model, ckpt.tokenizer, prompts, BenchPlan(max_new_tokens=new_tokens, repeats=repeats, draft_lens=(ckpt.model.config.n_heads - 1,)))
error = relative_error(costs.predicted_speedup, measured["speedup"])
print(f"measured speed-up {measured['speedup']:.2f}x ({measured['tokens_per_forward']:.2f} tokens per forward, "
      f"prefill included); predicted {costs.predicted_speedup:.2f}x: relative error {error:+.1%}")
print("within 5%" if abs(error) <= 0.05 else
      "not within 5%: the two were measured at different moments, and on a shared or busy machine a "
      "short timing run moves by more than that (run both cells again and compare)")

# %% [markdown]
# On a quiet machine the two agree within a few percent: the cost model explains the speed-up with
# two numbers you can measure separately, one about the model and the text (tokens per round), one
# about the machine (cost ratio). Where they disagree, the usual causes are noise (a 2-core machine
# shared with other work, short runs) and what the medians leave out: the prefill round and the
# occasional slow round (a restarted context window re-reads earlier tokens). On the project's
# 2-core machine, shared with several other jobs while this notebook was written, five runs of these
# two measurements on `mtp-4head` gave errors of +3%, +3%, -2%, -14% and -19%: the cost ratio repeated
# within a few percent (1.65 to 1.75) while the separately measured speed-up moved by up to 20% from
# run to run. On a busy machine, trust the cost ratio more than any single speed-up run.
#
# The cost ratio is the whole story of the gap. With 3 drafting heads a round could commit up to 4
# tokens, and the heads get close; but on this CPU a verifying round costs well over one greedy step,
# because a model this small is bound by fixed per-operation overhead and arithmetic, and 4 tokens
# fed are 4 tokens' arithmetic. On a GPU at batch 1 the ratio is close to 1. Why?
#
# ## 3. A roofline: why extra tokens are free on a GPU
#
# A forward pass at batch 1 must read every weight from memory once, whatever the number of tokens
# fed, and does about 2 floating-point operations (a multiply and an add) per weight per token. So for
# a model of P parameters stored in 2 bytes (bf16), feeding T tokens:
#
#     flops = 2 P T        bytes = 2 P        time >= max(flops / FLOP/s, bytes / bandwidth)
#
# The ratio flops / bytes = T is the **arithmetic intensity**; the chip's FLOP/s / bandwidth is its
# **ridge point**. Below the ridge, reading the weights takes longer than the arithmetic, and feeding
# more tokens costs nothing extra. This leaves out the KV cache's reads (small at short contexts),
# kernel launches and other overhead.
#
# **Write it yourself**: `forward_time(parameters, tokens, flops_per_second, bytes_per_second)`, the
# roofline's seconds for one batch-1 forward with 2-byte weights.

# %%
def forward_time(parameters, tokens, flops_per_second, bytes_per_second):
    raise NotImplementedError  # replace this line with your code


check("10.forward_time", forward_time)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def forward_time(parameters, tokens, flops_per_second, bytes_per_second):
#     flops = 2 * parameters * tokens  # a multiply and an add per weight per token fed
#     weight_bytes = 2 * parameters  # bf16: every weight read once per forward
#     return max(flops / flops_per_second, weight_bytes / bytes_per_second)  # reading and computing overlap
# ```
# `tinymtp.analysis.cost_model.roofline_time` returns the same seconds, with the intensity and the bound.
# </details>
#
# **The numbers of one GPU.** NVIDIA's H200 datasheet (nvidia.com/en-us/data-center/h200) gives
# 4.8 TB/s of HBM3e memory bandwidth and 1,979 TFLOPS of BF16 tensor-core compute *with sparsity*;
# dense matrix products get half, about 989 TFLOPS. Those are peak numbers; real kernels reach less
# of both, but their ratio is what matters here.
#
# **Predict, then run.** From how many tokens fed in one forward does a bf16 model on an H200 stop
# being memory-bound (its intensity, `tokens` flops per byte, reaches the ridge point)?

# %%
answer = None  # a number of tokens
check("10.ridge_tokens", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# 989e12 / 4.8e12 = about 206 tokens. Drafts of 2, 4 or even 64 tokens are far below it.
# </details>

# %%
H200 = dict(flops_per_second=989e12, bytes_per_second=4.8e12)  # dense BF16, HBM3e: the datasheet's numbers
models = {"a 7B model": 7e9, "DeepSeek-V3 (37B of its 671B parameters active per token, report abstract)": 37e9,
          "this notebook's model": ckpt.model.num_parameters()}
for name, parameters in models.items():
    one = roofline_time(parameters, 1, **H200)
    print(f"{name}: a greedy forward takes at least {one['seconds'] * 1e3:.4f} ms ({one['bound']}-bound)")
print("\nthe cost ratio of feeding T tokens, the same for every model size (both times grow with P):")
one = roofline_time(7e9, 1, **H200)
for tokens in (2, 4, 16, 64, 128, 256, 1024):
    t = roofline_time(7e9, tokens, **H200)
    print(f"    T = {tokens:5}: intensity {t['intensity']:6.0f} flops/byte (ridge {t['ridge']:.0f}), "
          f"cost ratio {t['seconds'] / one['seconds']:5.2f}, {t['bound']}-bound")

# %% [markdown]
# Up to about 200 tokens a verifying forward costs what a greedy one does: the weights dominate. (With
# 1-byte FP8 weights, the only ones DeepSeek-V3 releases (its README), the intensity doubles and the
# ridge comes at about 100 tokens: still far above a few drafts.) That is why the papers' GPU
# speed-ups come close to their tokens per forward, and why Medusa's trees of 64 nodes (Cai et al.'s
# Figure 6, for Vicuna-7B; section 3.3.1 compares it with dense trees of 256 nodes) pay there and
# not on this CPU (notebook 09). DeepSeek-V3's 1.8x fits: with one draft kept
# 85-90% of the time a round commits about 1.85-1.9 tokens, and 1.8x leaves a cost ratio of about
# 1.03-1.06 (the MTP module's own forward and the rest of the round):

# %%
for kept in (0.85, 0.90):
    print(f"second token kept {kept:.0%}: {1 + kept:.2f} tokens per round; 1.8x means a cost ratio of "
          f"{(1 + kept) / 1.8:.3f}; at cost ratio 1 the model would predict {predicted_speedup(1 + kept, 1.0):.2f}x")

# %% [markdown]
# For *this notebook's model* the roofline says nothing useful: a million parameters are read in well
# under a microsecond, far less than launching the dozens of small operations of one forward. Tiny
# models are bound by overhead on any chip, which is why its cost ratio had to be measured, not
# computed. Two more caveats: at large batch sizes a server is already closer to compute-bound, so
# drafts are less free (Gloeckle et al. 2024 still report up to 3x "even with large batch sizes",
# abstract; Figure S10 in their appendix A shows the speed-up across batch sizes); and the KV
# cache's reads grow with the context and the batch, moving the balance again.

# %% [markdown]
# ## 4. What you built by hand is one call in Hugging Face transformers
#
# Learners who leave tinymtp usually meet speculative decoding again as two arguments of Hugging
# Face transformers' `model.generate`: `assistant_model=` (a separate draft model, your
# `draft-model` mode, Leviathan et al. 2023) and `prompt_lookup_num_tokens=` (your `lookup` mode,
# Saxena 2023). To call them on your own model, `import tinymtp.files.hf` registers tinymtp's model with
# transformers (model type `tinymtp`, no `trust_remote_code`, no code in the model folder), and
# `python -m tinymtp export-hf --checkpoint DIR --out DIR` writes a folder that
# `AutoModelForCausalLM.from_pretrained` reads. The export keeps every head (its config records the
# head type and count; with `labels` its loss is the MTP loss, so transformers' Trainer trains it),
# and the logits `generate` reads are exactly head 1's (`tests/test_hf.py` compares them, with and
# without transformers' KV cache), so the calls below treat it as the next-token model it contains.
# Self-speculative decoding with heads 2..n inside `generate` is `custom_generate=`, in
# docs/transformers.md. This section uses the shipped `mtp-4head` and `draft` checkpoints, which
# share one vocabulary; it writes its folders to a scratch directory, never to `runs/`.
#
# transformers is optional (`pip install -e .[hf]`); without it the cells below say so and skip.

# %%
import tempfile

from tinymtp.core.errors import TinyMTPError
from tinymtp.decoding import DecodeSettings, generate

try:
    from tinymtp.files.hf import export_hf, generate_and_count, load_hf
except TinyMTPError as exc:  # transformers is not installed
    export_hf = None
    print(f"skipping section 4: {exc}")

if export_hf is not None:
    shipped = {name: load_checkpoint(str(checkpoints_dir() / name)) for name in ("mtp-4head", "draft")}
    with tempfile.TemporaryDirectory() as scratch:
        for name in shipped:
            export_hf(str(checkpoints_dir() / name), os.path.join(scratch, name))
        print("the folder:", sorted(os.listdir(os.path.join(scratch, "mtp-4head"))))
        hf_main, hf_draft = load_hf(os.path.join(scratch, "mtp-4head")), load_hf(os.path.join(scratch, "draft"))
    print(f"{type(hf_main).__name__}: {hf_main.num_parameters():,} parameters (mtp-4head has "
          f"{shipped['mtp-4head'].model.num_parameters():,}: every head kept)")

# %% [markdown]
# Now the three calls, each next to the tinymtp mode it corresponds to. Both sides decode greedily,
# so every pair must produce the same tokens; the figure to compare is the tokens committed per
# forward of the main model (`generate_and_count` counts transformers' forwards with a hook; the
# draft model's own forwards are left out on both sides). The positions are learned up to 128
# tokens and transformers has no sliding window (notebook 06's `window.py`), so prompt plus new
# tokens stay inside the context; asking for more is a one-line error.

# %%
if export_hf is not None:
    main_model, tokenizer = shipped["mtp-4head"].model, shipped["mtp-4head"].tokenizer
    prompt = "import os\nimport sys\n\n\ndef main(args):\n    "
    ids = torch.tensor([tokenizer.encode(prompt)])  # (1, P)
    new_tokens = (60 if FAST else 120) - ids.size(1)  # prompt lookup may read 3 past the end: keep room
    pairs = {  # name: (transformers' generate arguments, tinymtp's mode, its arguments)
        "greedy": ({}, "greedy", {}),
        "draft model": ({"assistant_model": hf_draft}, "draft-model",
                        {"draft_model": shipped["draft"].model, "temperature": 0, "draft_len": 3}),
        "prompt lookup": ({"prompt_lookup_num_tokens": 3}, "lookup", {"draft_len": 3}),
    }
    for name, (hf_arguments, mode, our_arguments) in pairs.items():
        theirs = generate_and_count(hf_main, ids, do_sample=False, max_new_tokens=new_tokens, **hf_arguments)
        draft = our_arguments.pop("draft_model", None)
        ours = generate(main_model, tokenizer, prompt, DecodeSettings(mode, new_tokens, **our_arguments), draft)
        same = "the same tokens" if theirs["tokens"] == ours.tokens else "DIFFERENT tokens"
        print(f"{name:13}: {same}; tokens per main-model forward: transformers {theirs['tokens_per_forward']:.2f} "
              f"({theirs['forwards']} forwards), tinymtp {ours.trace.summary()['tokens_per_forward']:.2f} "
              f"({ours.trace.forwards} forwards)")

# %% [markdown]
# Same tokens, so transformers is an outside reference for your decoders: `tests/test_hf.py` checks
# greedy, assisted and prompt-lookup generation token for token, and transformers' sampling against
# the distribution tinymtp's `probabilities` defines (a chi-square test, as in notebook 07). The
# forward counts differ, and reading transformers' code (version 5.24: `generation/utils.py`,
# `_assisted_decoding`, and `generation/candidate_generator.py`) says why:
#
# - **The first forward.** transformers asks the drafter for candidates before the main model has
#   run at all, so its first forward reads the prompt *and* verifies drafts. tinymtp's prefill
#   commits one token, and drafting starts after it.
# - **How many drafts.** tinymtp drafts a fixed `draft_len`. transformers' assistant drafts up to
#   `num_assistant_tokens` (default 20, schedule "constant" in 5.24) and stops early when the draft
#   model's own probability for its next token falls below `assistant_confidence_threshold` (default
#   0.4, which it tunes as it goes when scikit-learn is installed); the "heuristic" schedule instead adds 2 drafts after a round that kept
#   all of them and removes 1 otherwise.
# - **Which lookup.** tinymtp's lookup takes the *latest* earlier copy of the last 3, 2 or 1 tokens
#   within the context window that has a whole draft after it (else the latest); transformers' takes the *first* (leftmost) copy of the last 2 or 1
#   tokens (`max_matching_ngram_size`, default 2) anywhere in the text.
# - **Acceptance counting.** Each round transformers counts `n_matches`, the leading drafts that equal
#   the main model's own choices, and commits `n_matches + 1` tokens: the kept drafts plus the
#   corrected or bonus token, exactly this project's "acceptance length" (notebook 06). It uses
#   the count only to steer the next round's draft length and does not report it: there is no
#   acceptance per position, no conditional rate, no trace. tokens per main forward, measured as
#   above, is the figure both sides can give.
# - **MTP heads as drafters.** tinymtp's self-speculative modes draft with the model's own heads in
#   the verifying forward itself. transformers 5.24 has a related path, `generate(use_mtp=True)`,
#   for models whose config declares `num_mtp_layers` (DeepSeek-V3, GLM-4.5's `glm4_moe` and a few
#   others): sequential MTP layers like your `causal` head type, each a layer of the main model's own
#   kind, sharing its embedding and output head (`MtpModel` in `modeling_layers.py`). It has no
#   drafter for parallel heads like your linear, mlp or block heads, which is why the export drops them.
#
# ## Recap
#
# - DeepSeek-V3: one sequential MTP module (D = 1), loss = next-token loss + lambda/D x MTP loss
#   (lambda 0.3, then 0.1); used to draft, the second token is kept 85-90% of the time, 1.8x tokens/s.
# - Qwen3-Next, MiMo-7B and GLM-4.5 ship MTP layers that serving engines (vLLM) use as one-token drafters.
# - EAGLE drafts features with a chain added to a frozen model; Medusa-2 trains heads with the backbone
#   and self-distils on the model's own outputs.
# - speed-up = tokens per verifying round / cost ratio; cost ratio = verifying round time / greedy step
#   time, both measurable in the decoding loop.
# - Roofline at batch 1 with 2-byte weights: flops = 2 P T, bytes = 2 P, time = max(flops / FLOP/s,
#   bytes / bandwidth); intensity = T flops per byte; memory-bound while T < FLOP/s / bandwidth
#   (about 206 on an H200).
# - So on a GPU the cost ratio of a few drafted tokens is about 1, and the speed-up approaches the
#   tokens per forward; on a CPU with a tiny model it is well above 1 (measured above), and the
#   speed-up is well below the tokens per forward.
# - transformers' `generate(assistant_model=...)` and `generate(prompt_lookup_num_tokens=...)` are
#   the draft-model and lookup modes you built; on tinymtp's exported model (`python -m tinymtp
#   export-hf`) they give the same tokens. transformers commits kept drafts + 1 per round, as you
#   count, but reports no acceptance rates: count the main model's forwards to compare.
#
# ## Next: where to go from here
#
# This is the last notebook of the path. Some directions to take what you built further:
#
# - **Train another head type** (`python -m tinymtp train --head-type mlp` or `block` or `causal`),
#   then compare its heads' agreement with head 1 (notebook 05) and its tokens per forward and cost
#   ratio (notebooks 06 and this one).
# - **Try the `stories` corpus**: is English as predictable several characters ahead as code? Count
#   its two-token decomposition (notebook 08) and compare.
# - **Self-distil your heads**: generate text with your model and train heads 2..n on it, the
#   Medusa-2 idea; watch the conditional acceptance rates of notebook 09.
# - **Measure on a GPU** if you have one (`--device cuda` when training; move the model with
#   `.to("cuda")` here): the cost ratio should fall toward 1, and the speed-up rise toward the tokens
#   per forward.
# - **Run the experiments** (`python -m tinymtp experiment all`) on your machine and compare your
#   findings with "What we found" in docs/measurements.md.
# - Open the **Streamlit app** (see the README) to watch drafting, trees and the experiments interactively.
