"""How to decode, in one object: the mode, the length, temperature and top-k, the draft size, the seed.

    settings = DecodeSettings("speculative", max_new_tokens=200).for_model(model)
    generate(model, tokenizer, "def ", settings)

`DecodeSettings` is checked where it is built, once: its own fields when it is made (a mode that
does not exist, a negative temperature, a tree for a mode that draws none), and everything that
depends on the model in `for_model` (how many tokens the model's heads can draft, top-k against
the vocabulary, the tree's shape). `for_model` returns a copy with every default filled in: the
draft size the mode uses, temperature 0 for the greedy-only modes, the tree shape. The CLI, the
app, the benchmarks and a notebook all build one; the decoders take it whole and trust it.

`draft_len` is the one name for "tokens drafted per round", from the CLI's `--draft-len` to the
trace and the benchmark's rows: self-speculation drafts with heads 2..draft_len+1 (at most n - 1
on an n-head model); a draft model or prompt lookup proposes draft_len tokens (default 3); a tree
is draft_len deep. Greedy and sampling draft nothing (draft_len 0 once resolved).

`DecodeHooks` holds what watches a run rather than shaping its text: a callback after every
round, a stop request, and whether the trace keeps its rounds.
Explained in notebooks/06_self_speculative_decoding.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ..core.errors import TinyMTPError
from .sampling import accept_exact
from .tree import TreeShape, resolve_tree

MODES = ("greedy", "sample", "speculative", "speculative-sample", "draft-model", "lookup", "lookup-sample", "tree")
HEAD_MODES = ("speculative", "speculative-sample", "tree")  # the model's own heads draft
GREEDY_ONLY = ("greedy", "speculative", "lookup", "tree")  # temperature is ignored: head 1's argmax
DEFAULT_DRAFT_LEN = 3  # draft-model and lookup modes: tokens proposed per round
MAX_DRAFT_LEN = 16


def _whole(value, name: str, low: int, high: float = math.inf) -> int:
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or int(value) != value or not low <= value <= high):
        bound = "" if low == -math.inf else f" between {low} and {high}" if high != math.inf else f" >= {low}"
        raise TinyMTPError(f"{name} must be a whole number{bound}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class DecodeSettings:
    mode: str = "greedy"
    max_new_tokens: int = 200
    temperature: float = 1.0  # 0 means greedy; ignored (0) by the greedy-only modes
    top_k: int | None = None
    draft_len: int | None = None  # tokens drafted per round; None: the mode's default (see above)
    seed: int = 0
    tree: object = None  # tree mode's shape: a preset, widths "3,2,1", paths, or a TreeShape
    accept_rule: Callable = field(default=accept_exact, compare=False)  # tests swap in a wrong rule
    checked_for: tuple | None = None  # set by for_model: (heads, vocabulary, chained) of the model it fits

    def __post_init__(self):
        if self.mode not in MODES:
            raise TinyMTPError(f"unknown mode '{self.mode}' (choose from {', '.join(MODES)})")
        object.__setattr__(self, "max_new_tokens", _whole(self.max_new_tokens, "max_new_tokens", 1))
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not t >= 0 or t == math.inf:
            raise TinyMTPError(f"temperature must be a number >= 0 (0 means greedy), got {t!r}")
        if self.top_k is not None:
            object.__setattr__(self, "top_k", _whole(self.top_k, "top-k", 1))
        if self.draft_len is not None and self.checked_for is None:
            if self.mode in ("greedy", "sample"):
                raise TinyMTPError(f"{self.mode} decoding drafts nothing: draft_len is for the speculative modes")
            object.__setattr__(self, "draft_len", _whole(self.draft_len, "draft_len", -math.inf))  # range: for_model
        object.__setattr__(self, "seed", _whole(self.seed, "seed", -(2**63)))
        if self.tree is not None and self.mode != "tree":
            raise TinyMTPError(f"a tree shape (--tree) applies only to tree mode (this is --mode {self.mode})")

    @property
    def greedy(self) -> bool:
        """Does this run pick head 1's argmax (temperature 0, or a greedy-only mode)?"""
        return self.temperature == 0 or self.mode in GREEDY_ONLY

    def for_model(self, model) -> DecodeSettings:
        """A copy checked against `model` with the defaults filled in (itself if already done)."""
        cfg = model.config
        fits = (cfg.n_heads, cfg.vocab_size, bool(model.chained))
        if self.checked_for == fits:
            return self
        if self.top_k is not None and self.top_k > model.config.vocab_size:
            raise TinyMTPError(f"top-k {self.top_k} is larger than the vocabulary ({model.config.vocab_size} characters)")
        draft_len = resolve_draft_len(cfg.n_heads, self.mode, self.draft_len)
        tree = resolve_tree(model, self.tree, draft_len) if self.mode == "tree" else None
        temperature = 0.0 if self.greedy else float(self.temperature)
        return replace(self, draft_len=draft_len, tree=tree, temperature=temperature,
                       top_k=None if temperature == 0 else self.top_k, checked_for=fits)

    def describe(self) -> dict:
        """The settings as the trace records them (JSON-safe)."""
        out = {"mode": self.mode, "temperature": self.temperature, "top_k": self.top_k, "draft_len": self.draft_len,
               "seed": self.seed, "max_new_tokens": self.max_new_tokens}
        if isinstance(self.tree, TreeShape):
            out["tree"] = self.tree.text()
        return out


def resolve_draft_len(n_heads: int, mode: str, draft_len: int | None) -> int:
    """The draft size `mode` uses on an n-head model, checked; 0 for greedy and sampling."""
    if mode in ("greedy", "sample"):
        return 0
    if mode in ("draft-model", "lookup", "lookup-sample"):
        draft_len = DEFAULT_DRAFT_LEN if draft_len is None else draft_len
        if not 1 <= draft_len <= MAX_DRAFT_LEN:
            raise TinyMTPError(f"{mode} mode drafts 1 to {MAX_DRAFT_LEN} tokens per round, got draft_len {draft_len}")
        return draft_len
    if n_heads < 2:
        what = "tree decoding" if mode == "tree" else "self-speculative decoding"
        raise TinyMTPError(f"{what} needs a model with at least 2 heads; this one has {n_heads} (use greedy, "
                           "lookup, or draft-model with a separate draft model)")
    draft_len = n_heads - 1 if draft_len is None else draft_len
    if not 1 <= draft_len <= n_heads - 1:
        raise TinyMTPError(f"draft_len must be between 1 and {n_heads - 1} for {mode} on this {n_heads}-head model "
                           f"(heads 2..draft_len+1 draft), got {draft_len}")
    return draft_len


@dataclass
class DecodeHooks:
    """What watches a run: `on_round(round)` after every forward (the CLI prints the text as it
    comes), `should_stop()` polled after every round (True ends the run, stop_reason "stopped"),
    `keep_rounds` (False: the trace keeps running totals only, so memory stays bounded) and `detail`
    (False: sampling rounds skip what only a drawing of the decision reads, p and q at their likeliest
    tokens and the residual, about 0.1 ms a round; the tokens are the same)."""

    on_round: Callable | None = None
    should_stop: Callable | None = None
    keep_rounds: bool = True
    detail: bool = True
