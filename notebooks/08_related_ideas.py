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
# You have trained an MTP model and watched it speculate. This notebook steps back and asks the
# questions a practitioner would ask, with measurements where this machine can make them, and the
# papers' numbers (with their sources) where it cannot. Notebook 09 then tries two refinements of the
# drafting recipe (trees and causal heads), and notebook 10 looks at MTP in today's large models.
#
# **At the end of this notebook you will be able to**
# - compare a next-token model with a multi-token model trained the same way, and say honestly what
#   MTP cost or bought at this size;
# - compare self-speculative decoding with a separate draft model, in speed and in what each costs,
#   on corpus-like text first;
# - explain Gloeckle et al.'s argument for why predicting two tokens can teach more, compute both
#   sides of its information decomposition on the real corpus, and write the mutual information
#   yourself;
# - say when MTP is worth it, according to the published results, and when it is not.

# %%
import os
from pathlib import Path

import torch

import tinymtp
from tinymtp import viz
from tinymtp.analysis.information import bits, two_token_decomposition
from tinymtp.analysis.speedup import BenchPlan, heldout_prompts, measure_decoding
from tinymtp.data.corpora import load_corpus
from tinymtp.exercises import check
from tinymtp.experiments import describe, load_results
from tinymtp.files.checkpoint import load_checkpoint
from tinymtp.files.paths import checkpoints_dir
from tinymtp.training.evaluate import evaluate_on_corpus

FAST = os.environ.get("TINYMTP_FAST") == "1"  # the tests set this: fewer windows and tokens
torch.set_num_threads(1)  # a model this small runs faster and steadier on one thread (notebook 04)
CHECKPOINTS = checkpoints_dir()
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
# - **At this size, MTP often costs a little next-token loss.** Part of the trunk's capacity goes to
#   serving heads 2..4. This is *our* measurement, not the paper's: Gloeckle et al. 2024 report the
#   cost of MTP for small models on code benchmarks (MBPP and HumanEval problems solved, Figure 3),
#   not on next-token loss (section 5 below). If your numbers show the opposite, that is a result
#   too; but one pair of short runs is one sample, and differences of a few hundredths of a nat are
#   within what a different seed can change.
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
prompts = heldout_prompts(mtp.tokenizer, count=2 if FAST else 3, length=48)
plan = BenchPlan(max_new_tokens=32 if FAST else 80, repeats=1 if FAST else 2, temperatures=(1.0,), seeds=2,
                 draft_lens=(mtp.model.config.n_heads - 1,), draft_tokens=3)
measurement = measure_decoding(mtp.model, mtp.tokenizer, prompts, plan, draft_model=draft.model)
rows = {r["name"]: r for r in measurement["rows"]}
print("ON CORPUS-LIKE TEXT (sampled at temperature 1, exact speculative sampling against plain sampling):")
for name, row in (("self-speculative", rows["speculative-sample T=1"]), ("draft model", rows["draft-model T=1"])):
    print(f"  {name:17} {row['tokens_per_forward']:.2f} ± {row['standard_error']:.2f} tokens per forward of the main "
          f"model, {row['speedup']:.2f}x plain sampling")
print("GREEDY (its text loops: every greedy-exact mode writes greedy's text, whose repetition is shown):")
for name, row in (("self-speculative", measurement["modes"]["speculative"]), ("draft model", measurement["modes"]["draft-model"])):
    print(f"  {name:17} {row['tokens_per_forward']:.2f} tokens per forward ({row['tokens_per_forward_before_loop']:.2f} "
          f"before the loops), {row['speedup']:.2f}x greedy, same text as greedy: {row['identical']}")
greedy_text = measurement["modes"]["greedy"]
print(f"  greedy's text: {greedy_text['distinct_8']:.0%} of its 8-character pieces distinct, "
      f"{greedy_text['looping']:.0%} of the continuations end in a loop")
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
#
# **Predict, then run.** How many parameters do heads 2..4 add to `mtp-4head`, a 4-head model with
# `linear` heads and d_model = 128 (the unembedding is shared)? Write your guess, then run the cell
# after it, which counts them.

# %%
answer = None  # a whole number
check("08.extra_head_parameters", answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Each linear head is one 128 x 128 matrix: 3 x 16,384 = 49,152. The next cell counts them.
# </details>

# %%
extra_heads = sum(p.numel() for p in mtp.model.heads[1:].parameters())
print(f"heads 2..4 of mtp-4head: {extra_heads:,} parameters")
print(f"the draft model:         {draft.model.num_parameters():,} parameters")

# %% [markdown]
# **Exercise.** A draft model proposes 3 tokens per round and the main model accepts all of them.
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
saved, problems = load_results()
print(problems or "every saved result read")
later = ("curriculum", "drafters")  # section 4 and notebook 09 show these
for result in saved.values():
    if result.get("experiment") not in later:
        print("\n" + describe(result))

# %%
for result in saved.values():
    if result.get("experiment") not in later:
        viz.experiment_figure(result).show()

# %% [markdown]
# Read them against the papers' numbers in section 5: Gloeckle et al. 2024 trained code models of
# 0.3 to 13 billion parameters (their section 3.1) and, for induction, models of 1M to 1B
# non-embedding parameters (section 4.1), on GPUs; these ran for seconds per seed on a laptop CPU.
# Where the two disagree, scale is the first suspect, and the "What we found" section of docs/measurements.md says
# which way each finding went. Each result's `command` regenerates it on your machine.
#
# ## 4. Why can predicting further ahead help learning?
#
# Gloeckle et al. 2024 offer two arguments (section 5, "Why does it work? Some speculation"):
#
# - **Choice points** (section 5.1). Most tokens are easy and change little of what follows; a few
#   are *choice points* that decide the rest (which branch a program takes, which digit carries).
#   A mistake at a choice point derails every later token. With n heads, a token that decides the
#   next ones is a target of head 1 *and* shapes what heads 2..n must predict, so it weighs more in
#   the loss: counting loss terms on their Figure 9, the paper gives a choice point a weight of
#   n(n+1)/2 through its correlates, against n for an inconsequential token (details in their
#   appendix L.3).
# - **Information theory** (section 5.2). Take the next two tokens, X (at t+1) and Y (at t+2),
#   given the text so far. Next-token training teaches Y *with the real X given*, so its loss is
#   H(X) + H(Y | X). A 2-token model predicts Y without X: H(X) + H(Y). Split both with
#   H(X) = H(X | Y) + I(X; Y) and H(Y) = H(Y | X) + I(X; Y):
#
#   | objective | loss | = | | | |
#   |---|---|---|---|---|---|
#   | next-token | H(X) + H(Y \| X) | = | H(X \| Y) | + **1** x I(X; Y) | + H(Y \| X) |
#   | 2-token | H(X) + H(Y) | = | H(X \| Y) | + **2** x I(X; Y) | + H(Y \| X) |
#
#   The mutual information I(X; Y), the part of X that tells about what comes next, counts twice
#   in the 2-token loss: the model is pushed hardest on the tokens that matter for the continuation.
#   (The paper writes the next-token side as H(X) = H(X | Y) + I(X; Y), leaving out H(Y | X), which
#   both objectives pay when the model moves on to the next position; the factor 2 is the same.)
#
# These are identities, but they are about *distributions*, and a corpus has one. Count them on the
# python-stdlib training text: every probability is a frequency, conditioned on the last 0, 1 or 2
# characters C (the entropies come from counts of (C, X), (C, Y), (C, X, Y); I(X; Y | C) from its own
# formula, so agreement is a real check). In nats, like the training losses:

# %%
ids = mtp.tokenizer.encode(corpus.train_text[: 300_000 if FAST else None])
print(f"{len(ids):,} characters counted")
print(f"{'context':>8} {'H(X)':>7} {'H(Y)':>7} {'H(X|Y)':>7} {'H(Y|X)':>7} {'I(X;Y)':>7} |"
      f" {'next-token':>10} {'= parts':>8} | {'2-token':>8} {'= parts':>8} | 2-token - next-token")
decompositions = {}
for context in (0, 1, 2):
    d = decompositions[context] = two_token_decomposition(ids, context=context)
    print(f"{context:>8} {d['H(X)']:7.4f} {d['H(Y)']:7.4f} {d['H(X|Y)']:7.4f} {d['H(Y|X)']:7.4f} {d['I(X;Y)']:7.4f} |"
          f" {d['next_token_loss']:10.4f} {d['next_token_parts']:8.4f} | {d['two_token_loss']:8.4f}"
          f" {d['two_token_parts']:8.4f} | {d['two_token_loss'] - d['next_token_loss']:.4f}")

# %% [markdown]
# Each loss equals the sum of its parts to the last digit, and the 2-token loss exceeds the
# next-token loss by exactly I(X; Y | C): read off the table how much the character after next
# shares with the next one, at each context length. (All entropies are conditioned on C;
# H(X) at context 1 equals H(Y | X) at context 0, since both are "one character given the one before".)
#
# **Write it yourself.** `mutual_information(counts)` takes a table of joint counts, rows the values
# of X and columns the values of Y, and returns I(X; Y) in nats:
# I = sum over cells of p(x, y) log( p(x, y) / (p(x) p(y)) ), leaving out cells with no count.

# %%
def mutual_information(counts):
    raise NotImplementedError  # replace this line with your code


check("08.mutual_information", mutual_information)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def mutual_information(counts):
#     p = counts.double() / counts.sum()  # (Vx, Vy): joint probabilities
#     px = p.sum(dim=1, keepdim=True)  # (Vx, 1)
#     py = p.sum(dim=0, keepdim=True)  # (1, Vy)
#     seen = p > 0  # 0 log 0 counts as 0
#     return float((p[seen] * (p[seen] / (px * py).expand_as(p)[seen]).log()).sum())
# ```
# The library's `tinymtp.analysis.information.mutual_information` is the same formula.
# </details>
#
# **The model measures it too.** Head 1 of `mtp-4head` predicts x[t+1] from its whole context (the
# cell prints how long); head 2 predicts x[t+2] from the same context, without x[t+1]. Their validation losses are
# cross-entropies of a trained model, so estimates (not exact entropies), but their difference is the
# same quantity with a long context: what the next character tells about the one after it.

# %%
losses = [h["val_loss"] for h in mtp.metadata["heads"]]
print(f"context: {mtp.model.config.context_length} characters")
print(f"head 2 loss - head 1 loss = {losses[1]:.3f} - {losses[0]:.3f} = {losses[1] - losses[0]:.3f} nats "
      f"({bits(losses[1] - losses[0]):.2f} bits), against I(X;Y|C) counted with 2 characters of context: "
      f"{decompositions[2]['I(X;Y)']:.3f} nats")

# %% [markdown]
# With a long context the next character is easier to guess from the context alone, so knowing it
# usually tells less about the one after than with 1 or 2 characters of context. That difference is
# the extra weight a 2-token loss puts on the next character, position by position. Read it the other
# way round too: it is what a head predicting x[t+2] *without* x[t+1] (a parallel head, head 2 here)
# cannot know and a head that reads x[t+1] could. Notebook 09 builds such heads.
#
# **Does it show in tinymtp's own experiments?** Two of them ask exactly where the argument points:
# addition written most significant digit first, where each answer digit depends on carries from the
# digits after it (choice points), and induction, where the second copy of a string is decided by its
# first copy. From the saved results (how many seeds reached the threshold, at which step, and the
# final score, mean ± spread over seeds):

# %%
for name in ("addition", "induction"):
    result = saved[name]
    print(f"{result['title']}  ({result['settings']['metric']}; threshold {result['settings']['threshold']})")
    for row in result["summary"]:
        step = row["formed_median_step"]
        print(f"  {row['size']:15} n={row['n_heads']}: reached it in {row['formed_seeds']} of {row['seeds']} seeds"
              f"{f' (median step {step:g})' if step else ''}; final {row['final']['mean']:.3f} ± {row['final']['std']:.3f}")

# %% [markdown]
# Those lines say how many seeds learned the task. The verdicts, n = 2 and n = 4 against n = 1 (a
# difference counts only beyond the seeds' spread; "equal time" reads the n > 1 curve at the compute
# the n = 1 run used), are the findings of each experiment:

# %%
for name in ("addition", "induction"):
    print(saved[name]["title"])
    for finding in saved[name]["findings"]:
        if " vs n=1" in finding:
            print("  -", finding)

# %% [markdown]
# Read them with care, verdict by verdict, and with the sizes in mind. The argument predicts that a
# 2-token loss rewards learning what the next token says about the one after; a verdict "better"
# fits it, "no difference beyond the seed spread" neither confirms nor refutes it at this number of
# seeds, and "worse" (where it appears) says that at this size extra heads can take more of a tiny
# trunk than the extra signal gives back, especially at equal time, where each n > 1 step costs more.
# The paper's own induction result is also a small-model one: the benefit is large for models of 30M
# non-embedding parameters and below, and disappears from 100M up (section 4.1, Figure 7).
#
# **A curriculum of heads.** Aynetdinov & Akbik (ACL 2025, arXiv 2505.22757) report that small models
# can use MTP after all with a *curriculum*: a forward curriculum (next-token prediction first, one
# head more per stage) keeps self-speculative decoding while helping next-token quality, and a reverse
# one (every head first, next-token prediction at the end) gives the best next-token loss but no
# speed-up. tinymtp's `curriculum` experiment (`python -m tinymtp experiment curriculum`,
# `tinymtp/experiments/curriculum.py`) tries both at equal time against n = 1 and against loss weights,
# and measures drafting on corpus-like text. Its saved result, when there is one:

# %%
curricula = [r for name, r in saved.items() if r.get("experiment") == "curriculum"]
if not curricula:
    print("no saved curriculum result in results/ yet: run `python -m tinymtp experiment curriculum` "
          "(it writes results/curriculum.json) and run this cell again")
for result in curricula:
    print(describe(result))
    viz.experiment_figure(result).show()

# %% [markdown]
# Read the findings against the paper's claim: does the forward curriculum keep head 1 within the
# target of n = 1 while its heads still draft on corpus-like text, and does the reverse one lose the
# drafts? The result says which held at this size, and its `command` reruns it on your machine.
#
# ## 5. When is MTP worth it? What the papers measured
#
# The headline results, each with its source. These are large models on GPUs or TPUs (Leviathan et
# al. timed T5-XXL on a TPU-v4), not tiny ones on a CPU; they tell you where the idea is going, not
# what this notebook's numbers should be.
#
# | finding | number | source |
# |---|---|---|
# | 13B model, n = 4 vs n = 1, code benchmarks | +12% HumanEval, +17% MBPP problems solved | Gloeckle et al. 2024, abstract |
# | small models on code | MTP helps more the larger the model: at 0.3B parameters the 4-token model solves **fewer** MBPP problems than the next-token one (pass@1 1.0 vs 1.8), and at 0.6B it is still behind on all six MBPP and HumanEval pass@k; 1.3B is mixed (ahead at MBPP pass@1, 7.4 vs 6.8, behind at MBPP pass@100 and HumanEval pass@10 and @100); from 3B up it is ahead or level on all six | Gloeckle et al. 2024, section 3.1 and Figure 3 (MBPP, HumanEval pass@1/10/100 by size); the numbers quoted here are Table S7 (appendix E) |
# | small models, induction (copying a pattern seen earlier) | 2-token prediction makes induction form much better in **small** models only (30M non-embedding parameters and below); from 100M up the advantage disappears | Gloeckle et al. 2024, section 4.1, Figure 7 (and Figure S14: on better data only the smallest keep it) |
# | self-speculative speed-up, n = 4 | up to 3x: 3.0x on code (2.5 of 3 drafts accepted), 2.7x on text | Gloeckle et al. 2024, section 3.2 (per data set: Table S2) |
# | byte-level model, n = 8 | 6.4x speed-up (section 3.3 rounds it to 6x) | Gloeckle et al. 2024, section 3.2 and Table S3 (appendix A) |
# | Medusa heads on an existing model | over 2.2x (Medusa-1) and 2.3-2.8x (Medusa-2); 3.62x on MT-Bench's best category | Cai et al. 2024, abstract of the ICML version (the first arXiv version said 2.3-3.6x for Medusa-2); per category: section 3.1 |
# | DeepSeek-V3's MTP module as drafter | second token accepted 85-90% of the time, 1.8x tokens/s | DeepSeek-V3 report, section 5.4.3 |
# | blockwise parallel decoding | up to 2x fewer iterations with no loss in quality (up to 7x with a slight loss); up to 4x wall clock for the fastest models | Stern et al. 2018, abstract |
# | speculative sampling with a draft model | 2-3x on T5-XXL; 2-2.5x on Chinchilla 70B | Leviathan et al. 2023; Chen et al. 2023, abstracts |
#
# So, putting it together:
#
# - **For decoding speed, MTP heads are close to free.** They come out of the same forward pass, need
#   no second model, and give exact greedy output (notebook 06) or exactly the same sampling
#   distribution (notebook 07). How much faster depends on how often the heads agree with head 1:
#   code, with its predictable stretches, does well.
# - **For the quality of the model itself, it depends on scale.** The MTP paper found the extra heads
#   help large models on code benchmarks and *cost* the smallest ones there (Figure 3), while helping
#   small models form induction. At tinymtp's size our own measurements add: a small loss in
#   next-token quality at equal time (section 3), and a task (addition) that 2 heads learned and 1
#   did not.
# - **Heads are optional at inference.** A model trained with MTP can drop its extra heads and run as
#   an ordinary next-token model, or keep them to speculate.
#
# ## Recap
#
# - Equal steps are not equal compute: an n-head step computes n heads; compare at equal time.
# - Head 1 of an MTP model is a complete next-token model; heads 2..n are optional at inference.
# - Self-speculation drafts for free from the verifying forward; a draft model pays K small forwards
#   per round and keeps its own KV cache. Compare them on corpus-like text first: greedy's text loops.
# - X = x[t+1], Y = x[t+2]: next-token loss H(X) + H(Y|X) = H(X|Y) + I(X;Y) + H(Y|X);
#   2-token loss H(X) + H(Y) = H(X|Y) + 2 I(X;Y) + H(Y|X) (Gloeckle et al. 2024, section 5.2, which
#   writes the next-token side without H(Y|X): H(X) = H(X|Y) + I(X;Y)).
# - 2-token loss - next-token loss = I(X; Y | C), counted exactly on the corpus for short contexts C;
#   head 2's val loss - head 1's estimates it for the model's whole context: what a head that reads
#   x[t+1] could know and a parallel head 2 cannot (notebook 09).
# - I(X; Y) = sum p(x, y) log( p(x, y) / (p(x) p(y)) ), from a table of counts, in nats.
# - Scale decides: MTP's benchmark gains grow with model size (Figure 3); its induction help is a
#   small-model effect (Figure 7).
#
# ## Next
#
# Notebook `09_trees_and_causal_heads` changes how the drafts are made: causal heads (DeepSeek-V3)
# that read the previous draft, and Medusa's trees that check several guesses per head in one
# forward, with the attention mask you will build yourself. Notebook `10_mtp_at_scale` then looks at
# the large models that ship MTP layers, and explains with a cost model and a roofline why the
# speed-up you measured here is smaller than a GPU's.
