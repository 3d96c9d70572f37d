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
# # 10 · MTP at scale, and the cost model
#
# Everything so far ran on a laptop CPU with a model of about a million parameters. This notebook
# looks at multi-token prediction where it is used today, in models of tens to hundreds of billions
# of parameters served on GPUs, and answers the question your own measurements left open: why is the
# speed-up you measured well below the tokens per forward, when the papers' GPU speed-ups come much
# closer to theirs?
#
# **At the end of this notebook you will be able to**
# - say how DeepSeek-V3 trains and uses its one MTP module, compare its acceptance with your model's
#   like with like, and name other models that ship MTP layers, with the source of each claim;
# - place EAGLE and Medusa's self-distillation next to the heads you trained;
# - predict the tokens per round from acceptance rates (Leviathan et al.'s Theorem 3.8) and the
#   speed-up from the round cost ratio, each beside the code that computes it, and check both against
#   a measurement on your machine;
# - write the roofline time of a forward pass, draw it beside this CPU's measured costs, and say what
#   the bound does and does not promise on a GPU.
#
# The code behind this notebook is `tinymtp/analysis/cost_model.py`, with `tinymtp/analysis/speedup.py` for the
# speed-up measurement it is compared with.

# %%
import os

import torch

from tinymtp import viz
from tinymtp.analysis.cost_model import (
    expected_tokens_per_round,
    fed_token_costs,
    predicted_speedup,
    relative_error,
    roofline_time,
    tokens_per_round_from_rates,
)
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
n = ckpt.model.config.n_heads
print(f"{n} {ckpt.model.config.head_type} heads, {ckpt.model.num_parameters():,} parameters")

# %% [markdown]
# ## 1. MTP in large models
#
# **DeepSeek-V3** (DeepSeek-AI, technical report, arXiv 2412.19437) is the model that brought MTP
# into a frontier training run. What it did, with the report's sections:
#
# - **One module, depth 1.** Its MTP modules are *sequential* (section 2.2): module k combines the
#   previous depth's hidden state with the embedding of the token that depth was predicting and runs
#   one transformer block, sharing the embedding and output head with the main model. That is the
#   causal head of notebook 09 (whose equations it shows). But DeepSeek-V3 set the depth D = 1
#   (section 4.2): ONE module, predicting only the token after next. The chain of 3 modules in
#   `causal-4head` is this project's extension.
# - **A weighted loss.** The training loss is the main next-token loss plus lambda / D times the sum of
#   the D modules' losses, with lambda = 0.3 early in training and 0.1 later (sections 2.2 and 4.2).
#   In tinymtp terms: head 1's loss plus 0.3 x head 2's.
# - **Dropped or used to draft.** After training the module can be thrown away (the model is then an
#   ordinary next-token model) or used for speculative decoding. The second token was accepted
#   85-90% of the time across generation topics, for 1.8 times the tokens per second (section 5.4.3).
#
# **Your model's number for the same thing, like with like.** DeepSeek-V3's figure comes from its
# own generations on real prompts, text that does not collapse into loops. The comparable figure here
# is head 2's acceptance on **corpus-like text** (exact speculative sampling at temperature 1); the
# greedy figure follows, with its text's repetition, because inside a loop every draft is kept. One
# measurement (held-out prompts, `measure_decoding`) serves this whole notebook: sampled and greedy,
# one draft per round (K = 2, DeepSeek-V3's setting) and every head drafting.

# %%
prompts = heldout_prompts(ckpt.tokenizer, count=2 if FAST else 3, length=48)
plan = BenchPlan(max_new_tokens=48 if FAST else 100, repeats=1 if FAST else 2, temperatures=(1.0,), seeds=2,
                 draft_lens=tuple(sorted({1, n - 1})))
measured = measure_decoding(ckpt.model, ckpt.tokenizer, prompts, plan)
sampled = measured["sampled"]  # exact speculative sampling at T=1, heads 2..n drafting
one_draft = next(r for r in measured["rows"] if r["mode"] == "speculative" and r["draft_len"] == 1)
print(f"ON CORPUS-LIKE TEXT: head 2's draft kept {sampled['acceptance_conditional'][0]:.0%} of the rounds "
      f"(exact sampling at T=1; DeepSeek-V3, its own text: 85-90%, section 5.4.3)")
print(f"greedy, K = 2: head 2's draft kept {one_draft['acceptance_conditional'][0]:.0%} of the rounds, on text with "
      f"{one_draft['distinct_8']:.0%} of its 8-character pieces distinct and {one_draft['looping']:.0%} of the "
      f"continuations ending in a loop ({one_draft['tokens_per_forward_before_loop']:.2f} tokens per forward "
      f"before the loops, {one_draft['tokens_per_forward']:.2f} in all)")

# %% [markdown]
# Read the first line as the comparison; the second says how much of greedy's figure is loop. Even
# the first compares a model of about a million parameters on one corpus with a 671B model on
# whatever DeepSeek-V3's topics were: the report gives no more detail than section 5.4.3's range.
#
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
# - **Medusa** (Cai et al. 2024) adds heads to a finished model. Medusa-1 trains the heads alone on
#   a frozen backbone; Medusa-2 trains them *together with* the backbone. When the model's original
#   training data is not at hand, the paper trains on text the model itself generated
#   (**self-distillation**, section 2.3.2): for Medusa-1 that data alone is enough, while Medusa-2
#   adds a KL term to the original model's distribution so the backbone keeps its quality. Notebook 05
#   made the same distinction ("matches the text" versus "matches head 1"), and notebook 06's
#   frozen-trunk distillation is Medusa-1's case.
#
# ## 2. The cost model: why 3 tokens per forward is not 3x
#
# Two numbers make the speed-up. **How many tokens a round commits.** If each of the K - 1 drafts
# of a round were kept with the same probability α, independently, a round would commit on average
# (Leviathan et al. 2023, Theorem 3.8, with γ = K - 1 drafts)
#
# $$\mathbb{E}[\text{tokens per round}] \;=\; \frac{1 - \alpha^{\gamma + 1}}{1 - \alpha}
# \;=\; 1 + \alpha + \alpha^2 + \dots + \alpha^{\gamma},$$
#
# the sure token (or the corrected one) plus each draft that survives every earlier test. Real heads
# have different rates, the conditional acceptance $c_k$ of each position, and the same sum reads
# $1 + c_2 + c_2 c_3 + \dots$: `tokens_per_round_from_rates` in `analysis/cost_model.py`, and the
# theorem is `expected_tokens_per_round`. The trace measures the real thing directly,
# `acceptance_length()` in `decoding/trace.py`: committed tokens over verifying rounds.
#
# **What a round costs.** Greedy decoding commits one token per step. A verifying round feeds K
# tokens, computes the heads, drafts, checks and rolls back: the **round cost ratio** is its time over
# a greedy step's, both timed in the decoding loop (`round_cost_ratio` in `analysis/cost_model.py`,
# medians of the trace's round times). So
#
# $$\text{speed-up} \;\approx\; \frac{\text{acceptance length}}{\text{round cost ratio}}$$
#
# (`predicted_speedup(tokens_per_round, cost_ratio)`: one division). The prefill and the context
# window's re-reads are left out; the measured speed-up includes them.
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
# Now both halves on your machine, from the measurement of section 1, on corpus-like text first:
# the tokens per round three ways (the theorem with the mean acceptance, the sum over the measured
# conditional rates, and the measured acceptance length), then the prediction against the measured
# speed-up (interleaved runs, medians).

# %%
for name, row in (("ON CORPUS-LIKE TEXT, sampled at T=1", sampled), ("greedy (its text loops)", measured["modes"]["speculative"])):
    rates = [r for r in row["acceptance_conditional"] if r is not None]
    mean_rate = sum(rates) / len(rates)
    print(f"{name}: {row['draft_len']} drafts per round, conditional rates "
          + ", ".join(f"{r:.2f}" for r in rates))
    print(f"  tokens per round: Theorem 3.8 with the mean rate {mean_rate:.2f}: "
          f"{expected_tokens_per_round(mean_rate, row['draft_len']):.2f}; 1 + c2 + c2 c3 + ...: "
          f"{tokens_per_round_from_rates(row['acceptance_conditional']):.2f}; measured acceptance length "
          f"{row['acceptance_length']:.2f}")
    prediction = predicted_speedup(row["acceptance_length"], row["round_cost_ratio"])
    print(f"  speed-up: {row['acceptance_length']:.2f} / round cost ratio {row['round_cost_ratio']:.2f} = {prediction:.2f}x "
          f"predicted; measured {row['speedup']:.2f}x ({relative_error(prediction, row['speedup']):+.0%})")

# %% [markdown]
# Where the three tokens-per-round figures differ, the rates are not equal (the theorem's assumption)
# or rounds near the end of a run were shortened. Where the prediction and the measurement differ,
# the usual causes are noise (a 2-core machine shared with other work, short runs) and what the
# medians leave out: the prefill, and the occasional slow round (a restarted context window re-reads
# earlier tokens). Run the cells again: on a busy machine the measured speed-up moves from run to run
# far more than the round cost ratio does.
#
# The round cost ratio is the whole story of the gap between tokens per forward and speed-up. On this
# CPU a verifying round costs well over one greedy step, because a model this small is bound by fixed
# per-operation overhead and arithmetic, and K tokens fed are K tokens' arithmetic. On a GPU at
# batch 1 the ratio can come close to 1. Why?
#
# ## 3. A roofline: why extra tokens are nearly free on a GPU
#
# A forward pass at batch 1 must read every weight from memory once, whatever the number of tokens
# fed, and does about 2 floating-point operations (a multiply and an add) per weight per token. So for
# a model of P parameters stored in 2 bytes (bf16), feeding T tokens:
#
# $$\text{flops} = 2PT, \qquad \text{bytes} = 2P, \qquad
# \text{time} \;\ge\; \max\!\Big(\frac{\text{flops}}{\text{FLOP/s}},\ \frac{\text{bytes}}{\text{bandwidth}}\Big)$$
#
# The ratio flops / bytes = T is the **arithmetic intensity**; the chip's FLOP/s / bandwidth is its
# **ridge point**. Below the ridge, reading the weights takes longer than the arithmetic, and by this
# bound feeding more tokens costs nothing extra. The bound leaves out the KV cache's reads (small at
# short contexts), kernel launches and every other overhead: it says how fast a forward *could* be,
# not how fast it is.
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
print("\nthe roofline's forward cost ratio of feeding T tokens, the same for every model size (both times grow with P):")
one = roofline_time(7e9, 1, **H200)
for tokens in (2, 4, 16, 64, 128, 256, 1024):
    t = roofline_time(7e9, tokens, **H200)
    print(f"    T = {tokens:5}: intensity {t['intensity']:6.0f} flops/byte (ridge {t['ridge']:.0f}), "
          f"forward cost ratio {t['seconds'] / one['seconds']:5.2f}, {t['bound']}-bound")

# %% [markdown]
# And the same ratio *measured* on this machine with this notebook's model (`fed_token_costs`: one
# forward feeding T tokens after a half-full cache, head 1 only, over feeding 1), drawn beside the
# H200's roofline bound:

# %%
fed = fed_token_costs(ckpt.model, tokens=(1, 2, 4, 8, 16, 32), calls=10 if FAST else 40, repeats=3)
print("this machine: " + ", ".join(f"T = {t}: {r:.2f}x" for t, r in fed["ratio"].items()))
viz.roofline_figure(7e9, chip="a 7B model on an H200", measured=fed["ratio"],
                    measured_name="this notebook's model on this machine", **H200)

# %% [markdown]
# By the bound, up to about 200 tokens a verifying forward costs what a greedy one does: the weights
# dominate. (With 1-byte FP8 weights, the only ones DeepSeek-V3 releases (its README), the intensity
# doubles and the ridge comes at about 100 tokens.) The measured curve of this CPU rises from the
# first extra token. On a real GPU the truth lies between: extra tokens cost less than on this CPU
# but not nothing, since kernels do not reach peak and attention over the cache grows with the
# tokens fed. Medusa's measurements show it (Cai et al. 2024, section 3.3.1 and Figure 4(b)): its
# speed falls as the tree's candidate tokens grow, which is why its trees are sparse (64 nodes for
# Vicuna-7B, Figure 6) rather than dense ones of 256. That is also why papers' GPU speed-ups come
# close to, but not up to, their tokens per forward. DeepSeek-V3's 1.8x fits: with one draft kept
# 85-90% of the time a round commits about 1.85-1.9 tokens, and 1.8x leaves a round cost ratio of
# about 1.03-1.06 (the MTP module's own forward and the rest of the round):

# %%
for kept in (0.85, 0.90):
    print(f"second token kept {kept:.0%}: {expected_tokens_per_round(kept, 1):.2f} tokens per round (Theorem 3.8, "
          f"one draft); 1.8x means a round cost ratio of {expected_tokens_per_round(kept, 1) / 1.8:.3f}; at cost "
          f"ratio 1 the model would predict {predicted_speedup(expected_tokens_per_round(kept, 1), 1.0):.2f}x")

# %% [markdown]
# For *this notebook's model* the roofline says nothing useful: a million parameters are read in well
# under a microsecond, far less than launching the dozens of small operations of one forward. Tiny
# models are bound by overhead on any chip, which is why its forward cost ratio had to be measured, not
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
# - EAGLE drafts features with a chain added to a frozen model; Medusa-1 trains heads on a frozen
#   backbone (self-generated data alone when the training data is missing), Medusa-2 trains them with
#   the backbone and adds a KL term to the original model (Cai et al. 2024, section 2.3.2).
# - Tokens per round = 1 + c2 + c2 c3 + ... from the conditional rates; (1 - α^(γ+1)) / (1 - α) when
#   every draft is kept with the same α (Leviathan et al. 2023, Theorem 3.8).
# - speed-up ≈ acceptance length / round cost ratio; round cost ratio = verifying round time / greedy
#   step time, both measured in the decoding loop. Quote both on corpus-like text first.
# - Roofline at batch 1 with 2-byte weights: flops = 2 P T, bytes = 2 P, time = max(flops / FLOP/s,
#   bytes / bandwidth); intensity = T flops per byte; memory-bound while T < FLOP/s / bandwidth
#   (about 206 on an H200).
# - So by the bound, on a GPU the forward cost ratio of a few drafted tokens is near 1 and the
#   speed-up can approach the tokens per forward; the bound is not a measurement (Medusa, section
#   3.3.1 and Figure 4(b): speed falls as candidate tokens grow). On a CPU with a tiny model the ratio
#   is well above 1 (measured above), and the speed-up well below the tokens per forward.
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
#   then compare its heads' agreement with head 1 (notebook 05) and its tokens per forward and round
#   cost ratio (notebooks 06 and this one).
# - **Try the `stories` corpus**: is English as predictable several characters ahead as code? Count
#   its two-token decomposition (notebook 08) and compare.
# - **Self-distil your heads**: generate text with your model and train heads 2..n on it (Medusa's
#   self-distillation, section 2.3.2; `python -m tinymtp distill`), or grow sequential heads on your
#   trunk (notebook 09); watch the conditional acceptance rates on corpus-like text.
# - **Measure on a GPU** if you have one (`--device cuda` when training; move the model with
#   `.to("cuda")` here): the forward and round cost ratios should fall toward 1, and the speed-up rise toward the tokens
#   per forward.
# - **Run the experiments** (`python -m tinymtp experiment all`) on your machine and compare your
#   findings with "What we found" in docs/measurements.md.
# - Open the **Streamlit app** (see the README) to watch drafting, trees and the experiments interactively.
