"""What the app's guided Tour shows, computed once per model: the numbers behind its steps.

The Tour (app/app_pages/tour.py) walks a class from "what does head k predict" to trees, each
step beside a live figure of the model picked in the sidebar. `tour_material` runs everything
those figures need, once: every head's guesses on a prompt, plain greedy and self-speculative
decoding of the same prompt (their rounds kept), a tree run, and one worked example of the
sampling rule. The page then only draws (tinymtp.viz) and explains.

The sampling example is the rule speculative sampling applies to head 2's draft (see
tinymtp/decoding/sampling.py): after the prompt, head 1's choice s is sure; head 2 guessed the
token after s with distribution q; head 1, fed s, gives p for that same token. A draft x drawn
from q is kept with probability min(1, p(x)/q(x)); when it is rejected, the replacement is drawn
from norm(max(0, p - q)), which makes the output distributed exactly as p.

Explained in notebooks/05_what_the_heads_know.ipynb, 06_self_speculative_decoding.ipynb,
07_speculative_sampling.ipynb and 09_trees_and_causal_heads.ipynb (the notebooks the steps follow).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.errors import TinyMTPError
from ..decoding.decode import DecodeResult, generate
from ..decoding.sampling import residual
from ..decoding.settings import DecodeSettings
from .predictions import HeadPredictions, head_predictions, max_prompt_length

SHOWN_OUTCOMES = 8  # bars in the sampling-rule figure: the most probable characters under p or q


@dataclass
class TourMaterial:
    prompt: str
    predictions: HeadPredictions
    greedy: DecodeResult
    speculative: DecodeResult | None  # None for a one-head model: nothing drafts
    tree: DecodeResult | None  # None when the model cannot decode with a tree
    sampling: dict | None  # sampling_rule_example, None for a one-head model

    def first_round(self, rejected: bool = False):
        """The first verifying round with drafts (with a rejected draft, if asked; else any)."""
        rounds = [r for r in self.speculative.trace.rounds if r.checks] if self.speculative else []
        picked = [r for r in rounds if r.accepted < len(r.checks)] if rejected else rounds
        return (picked or rounds or [None])[0]

    def first_tree_round(self):
        rounds = [r for r in self.tree.trace.rounds if r.tree] if self.tree else []
        return rounds[0] if rounds else None


def full_distribution(pred: HeadPredictions, t: int, k: int, vocab_size: int) -> torch.Tensor:
    """Head k's whole distribution at position t, from predictions made with top_k = vocab size; (V,)."""
    probs = torch.zeros(vocab_size, dtype=torch.float64)  # (V,)
    probs[pred.top_tokens[t][k - 1]] = torch.tensor(pred.top_probs[t][k - 1], dtype=torch.float64)
    return probs / probs.sum()


def sampling_rule_example(model, tokenizer, prompt: str, shown: int = SHOWN_OUTCOMES) -> dict:
    """One draft of head 2 through the sampling rule (see the module docstring), on real distributions.

    Returns the sure character, the most likely draft x under q, p(x), q(x), the chance min(1, p/q)
    of keeping it, and p, q and the residual over the `shown` most probable characters."""
    if model.config.n_heads < 2:
        raise TinyMTPError("the sampling rule needs a drafting head: this model has one head")
    vocab = tokenizer.vocab_size
    prompt = prompt[-(max_prompt_length(model) - 1):]  # room for the sure token
    before = head_predictions(model, tokenizer, prompt, top_k=vocab)
    t = before.length - 1
    sure = before.guess(t, 1)
    after = head_predictions(model, tokenizer, prompt + tokenizer.vocab[sure], top_k=vocab)
    q = full_distribution(before, t, 2, vocab)  # (V,): head 2's guess for the token after the sure one
    p = full_distribution(after, t + 1, 1, vocab)  # (V,): head 1's, once it has read the sure token
    left = residual(p, q)  # (V,)
    x = int(q.argmax())
    order = torch.maximum(p, q).argsort(descending=True)[:shown].tolist()
    return {"sure": tokenizer.vocab[sure], "draft": tokenizer.vocab[x], "p_x": float(p[x]), "q_x": float(q[x]),
            "keep": min(1.0, float(p[x] / q[x])), "labels": [tokenizer.vocab[i] for i in order],
            "p": p[order].tolist(), "q": q[order].tolist(), "residual": left[order].tolist(),
            "rejection": float(torch.clamp(q - p, min=0).sum())}


def tour_material(model, tokenizer, prompt: str, new_tokens: int = 48) -> TourMaterial:
    """Everything the Tour's figures show, for one model and prompt (a few forward passes)."""
    if not prompt:
        raise TinyMTPError("the tour needs a prompt: none of the examples fits this model's vocabulary")
    prompt = prompt[: max_prompt_length(model) - 1]
    pred = head_predictions(model, tokenizer, prompt)
    greedy = generate(model, tokenizer, prompt, DecodeSettings("greedy", new_tokens))
    if model.config.n_heads < 2:
        return TourMaterial(prompt, pred, greedy, None, None, None)
    speculative = generate(model, tokenizer, prompt, DecodeSettings("speculative", new_tokens))
    try:
        tree = generate(model, tokenizer, prompt, DecodeSettings("tree", new_tokens))
    except TinyMTPError:  # a model whose heads cannot draft a tree: the tree step says so
        tree = None
    return TourMaterial(prompt, pred, greedy, speculative, tree, sampling_rule_example(model, tokenizer, prompt))
