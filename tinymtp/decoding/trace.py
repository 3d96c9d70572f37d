"""The record of a decoding run, round by round: what the app and the notebooks draw.

Every decoding mode returns the generated tokens and a `Trace`. A round is one forward pass of
the main model (the prefill of the prompt counts as round 0):

    Round
      fed            tokens fed into this forward (the sure token first, then the drafts)
      checks         one DraftCheck per drafted token: who drafted it (head k, or the draft
                     model), with what probability q, what the verifier chose there and with what
                     probability, p(draft), the uniform draw u (sampling), and the verdict
      accepted       how many drafts were kept (the longest accepted prefix)
      next_token     the token the verifier adds after the accepted drafts: "corrected" (it
                     replaces the first rejected draft) or "bonus" (every draft was accepted)
      committed      the tokens this round added to the output
      cache_before / cache_after   KV-cache length around the round (after rollback)

Plain greedy and sampling produce rounds with no checks and one committed token each (their
`next_token` is simply head 1's choice). Every mode starts with the prefill round, which reads
the prompt and commits the first token; each later round ("verify") feeds the token committed
last (the "sure" token) plus any drafts, so a forward commits 1 .. (drafts + 1) tokens and plain
greedy decoding makes exactly one token per forward. A draft is only checked while every earlier
draft of its round was kept; the drafts after the first rejection stay in `checks` with
`checked=False`. When the context window restarts (see tinymtp/decoding/window.py), the round's forward
also re-reads `reread` earlier tokens, and `note` says so.

Acceptance, two rates per drafter (head k = the (k-1)-th drafter; draft-model step i; tree depth d):
    share of rounds   rounds that kept head k's draft / rounds that drafted      (`rate`)
    conditional       rounds that kept head k's draft / rounds that kept heads 2..k-1
                      = P(head k kept | heads 2..k-1 kept)                        (`conditional`)
A round cut short before head k (at the end of the text or of a context window) counts as not
reaching head k, so both rates count the same rounds and the product of the conditional rates
up to k is exactly the share of rounds at k. Per round: `acceptance_length` = tokens committed
per verifying round, the corrected or bonus token included (EAGLE's and SGLang's "acceptance
length"); `drafts_accepted_per_round` = the same without it (one less). `acceptance_rate` is
kept drafts / every draft made, unchecked ones included. Tree decoding (tree.py) fills `tree`
(every candidate node, the mask, the accepted path) and its rates are per depth: "accepted
depth d" = the accepted path reached depth d.

Sampling rounds also keep, per checked draft, p and q at the TOP_SHOWN (8) likeliest tokens of
each, and on a rejection the residual's mass and the corrected token's residual probability:
enough to draw the decision (tinymtp/viz/decision.py) while a round stays a few dozen numbers;
runs that draw nothing (DecodeHooks(detail=False): bench decode, generate without --trace) skip them.

Memory: `add(round)` updates running totals (`Totals`) that `summary()` reads, then hands the
round to `on_round` (the CLI prints it) and keeps it only if `keep_rounds`; without kept rounds
a run of any length holds a few counters, and its summary is the same. `to_dict()` is JSON-safe.

Explained in notebooks/06_self_speculative_decoding.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from ..core.errors import TinyMTPError

TOP_SHOWN = 8  # characters of p, q and the residual a sampling round keeps per checked draft


@dataclass
class DraftCheck:
    offset: int  # 1 = the first drafted token after the sure token, 2 = the next, ... (tree: the depth)
    drafter: int  # head k that drafted it (2..n); for the draft model, its step 1..K
    token: int
    char: str
    q: float  # the drafter's probability of this token
    verifier_token: int  # the main model's choice at this position (argmax, or its sample)
    verifier_char: str
    verifier_prob: float  # the main model's probability of its own choice
    p: float  # the main model's probability of the drafted token
    uniform: float | None  # the uniform draw u of the sampling rule (None in greedy modes)
    accepted: bool
    rule: str  # "match" (greedy: draft == verifier's argmax) or "u < min(1, p/q)"
    checked: bool = True  # False: an earlier draft of the round was rejected, so this one was not tested
    # Sampling only, on checked drafts (None otherwise): what the app draws of the decision.
    # top: [token, p, q] for the TOP_SHOWN likeliest tokens under p (head 1) and under q (the
    # drafter), likeliest under p first. On the rejected draft: residual_mass = sum max(0, p - q),
    # the normaliser of the residual norm(max(0, p - q)) (so residual(x) = max(0, p - q) / mass),
    # and residual_prob, the corrected token's probability under the residual it was drawn from.
    top: list | None = None
    residual_mass: float | None = None
    residual_prob: float | None = None


@dataclass
class Round:
    index: int
    kind: str  # "prefill" (the prompt) | "decode" (one token) | "verify" (sure token + drafts)
    fed: list  # token ids fed into this forward
    checks: list = field(default_factory=list)  # DraftCheck per drafted token
    accepted: int = 0
    next_token: int | None = None  # the corrected or bonus token (speculative modes)
    next_kind: str | None = None  # "corrected" | "bonus" | None
    next_prob: float | None = None  # its probability under the main model (after temperature/top-k)
    committed: list = field(default_factory=list)  # tokens added to the output by this round
    cache_before: int = 0
    cache_after: int = 0
    seconds: float = 0.0
    note: str | None = None  # e.g. "context window slid: re-read the last 64 tokens"
    window_start: int = 0  # absolute position of the KV cache's first slot (see tinymtp/decoding/window.py)
    reread: int = 0  # earlier tokens fed again by this forward because the window restarted
    draft_forwards: int = 0  # forwards of the separate draft model in this round (draft-model mode)
    tree: dict | None = None  # tree mode: the candidate tree, its mask and the accepted path (tree_decode.py)


@dataclass
class Totals:
    """Running counts over the rounds added so far: everything `Trace.summary()` reads."""

    forwards: int = 0  # every round is one forward of the main model
    tokens: int = 0
    verify_rounds: int = 0  # rounds after the prefill that fed the sure token (with or without drafts)
    verify_tokens: int = 0  # tokens those rounds committed: kept drafts + the corrected or bonus token
    drafting_rounds: int = 0  # verify rounds with at least one draft
    drafts: int = 0  # every draft made, checked or not
    accepted: int = 0  # drafts kept
    draft_forwards: int = 0
    window_restarts: int = 0
    drafted: list = field(default_factory=list)  # [i-1]: rounds in which the i-th drafter drafted
    checked: list = field(default_factory=list)  # [i-1]: rounds in which its draft was checked
    kept: list = field(default_factory=list)  # [i-1]: rounds that kept at least i drafts

    def add(self, r: Round) -> None:
        self.forwards += 1
        self.tokens += len(r.committed)
        self.draft_forwards += r.draft_forwards
        self.window_restarts += bool(r.reread)
        if r.kind != "verify":
            return
        self.verify_rounds += 1
        self.verify_tokens += len(r.committed)
        self.drafts += len(r.checks)
        self.accepted += r.accepted
        if not r.checks:
            return
        self.drafting_rounds += 1
        drafted = {c.offset for c in r.checks}  # a tree has several nodes per depth: count the round once
        checked = {c.offset for c in r.checks if c.checked}
        grow = max(drafted) - len(self.drafted)
        for counts in (self.drafted, self.checked, self.kept):
            counts.extend([0] * grow)
        for i in range(1, max(drafted) + 1):
            self.drafted[i - 1] += i in drafted
            self.checked[i - 1] += i in checked
            self.kept[i - 1] += r.accepted >= i


@dataclass
class Trace:
    mode: str
    drafters: list = field(default_factory=list)  # e.g. [2, 3, 4]: the heads (or draft steps) that draft
    rounds: list = field(default_factory=list)  # empty when keep_rounds is False
    seconds: float = 0.0
    stop_reason: str = "max_new_tokens"  # or "stopped" (asked to stop: Ctrl-C in the CLI)
    settings: dict = field(default_factory=dict)  # DecodeSettings.describe() + prompt length, context length
    keep_rounds: bool = True  # False: totals only, so memory stays bounded however long the run
    on_round: Callable | None = field(default=None, repr=False, compare=False)  # called with each new round
    should_stop: Callable | None = field(default=None, repr=False, compare=False)  # polled after each round
    totals: Totals = field(default_factory=Totals, init=False)

    def __post_init__(self):
        given, self.rounds = list(self.rounds), []
        for r in given:  # a trace built from rounds (e.g. the first rounds of another) counts them
            self.totals.add(r)
            self.rounds.append(r)

    def add(self, r: Round) -> None:
        """Count a finished round, keep it if asked, hand it to `on_round`, then check `should_stop`."""
        self.totals.add(r)
        if self.keep_rounds:
            self.rounds.append(r)
        if self.on_round is not None:
            self.on_round(r)
        if self.should_stop is not None and self.should_stop():
            self.stop_reason = "stopped"

    def upto(self, rounds: int) -> Trace:
        """The trace as it stood after its first `rounds` rounds (the app reveals rounds one by one)."""
        shown = self.rounds[: max(0, rounds)]
        return Trace(mode=self.mode, drafters=list(self.drafters), rounds=list(shown),
                     seconds=sum(r.seconds for r in shown),
                     stop_reason=self.stop_reason if len(shown) == len(self.rounds) else "in progress",
                     settings=dict(self.settings))

    @property
    def stopped(self) -> bool:
        return self.stop_reason == "stopped"

    @property
    def tokens(self) -> list:
        if not self.keep_rounds:
            raise TinyMTPError("this trace kept totals only (keep_rounds=False): the tokens are in the "
                               "decoding result's `tokens`")
        return [t for r in self.rounds for t in r.committed]

    @property
    def forwards(self) -> int:
        return self.totals.forwards

    def acceptance_per_head(self) -> list:
        """Per drafter, counted in rounds: how many drafted, reached it (kept every earlier draft),
        checked and kept its draft, and both rates (see the module docstring). `rate` is the share
        of rounds; tree mode labels each row with its depth."""
        t, rounds = self.totals, self.totals.drafting_rounds
        rows, reached = [], rounds
        counts = zip(self._padded(t.drafted), self._padded(t.checked), self._padded(t.kept))
        for i, (drafter, (drafted, checked, kept)) in enumerate(zip(self.drafters, counts), start=1):
            row = {"head": drafter, "drafted": drafted, "checked": checked, "accepted": kept,
                   "rounds": rounds, "reached": reached, "rate": _rounded(_ratio(kept, rounds)),
                   "conditional": _rounded(_ratio(kept, reached))}
            if self.mode == "tree":  # head d+1's guesses sit at depth d
                row = {"head": drafter, "depth": i, "label": f"accepted depth {i}", **row}
            rows.append(row)
            reached = kept
        return rows

    def acceptance_share_of_rounds(self) -> list:
        """Per drafter: rounds that kept its draft / rounds that drafted (None before any drafting round)."""
        return [_ratio(k, self.totals.drafting_rounds) for k in self._padded(self.totals.kept)]

    def acceptance_conditional(self) -> list:
        """Per drafter: P(its draft kept | every earlier draft of the round kept)."""
        kept = self._padded(self.totals.kept)
        return [_ratio(k, before) for k, before in zip(kept, [self.totals.drafting_rounds] + kept)]

    def acceptance_length(self) -> float | None:
        """Mean tokens committed per verifying round, the corrected or bonus token included."""
        return _ratio(self.totals.verify_tokens, self.totals.verify_rounds)

    def drafts_accepted_per_round(self) -> float | None:
        """Mean drafts kept per verifying round: `acceptance_length` - 1."""
        return _ratio(self.totals.accepted, self.totals.verify_rounds)

    def _padded(self, counts: list) -> list:
        """One count per drafter (a drafter that never drafted has 0)."""
        return [counts[i] if i < len(counts) else 0 for i in range(len(self.drafters))]

    def summary(self) -> dict:
        t = self.totals
        return {
            "mode": self.mode,
            "tokens": t.tokens,
            "forwards": t.forwards,
            "tokens_per_forward": round(t.tokens / t.forwards, 4) if t.forwards else 0.0,
            "verify_rounds": t.verify_rounds,
            "drafting_rounds": t.drafting_rounds,
            "drafters": list(self.drafters),
            "acceptance_share_of_rounds": [_rounded(r) for r in self.acceptance_share_of_rounds()],
            "acceptance_conditional": [_rounded(r) for r in self.acceptance_conditional()],
            "acceptance_length": _rounded(self.acceptance_length()),
            "drafts_accepted_per_round": _rounded(self.drafts_accepted_per_round()),
            "acceptance_rate": _rounded(_ratio(t.accepted, t.drafts)),
            "acceptance_per_head": self.acceptance_per_head(),
            "seconds": round(self.seconds, 4),
            "tokens_per_second": round(t.tokens / self.seconds, 2) if self.seconds > 0 else None,
            "draft_forwards": t.draft_forwards,
            "window_restarts": t.window_restarts,
            "stop_reason": self.stop_reason,
        }

    def to_dict(self) -> dict:
        return {"mode": self.mode, "drafters": list(self.drafters), "settings": dict(self.settings),
                "summary": self.summary(), "rounds_kept": self.keep_rounds,
                "rounds": [asdict(r) for r in self.rounds]}


def _ratio(count: int, total: int) -> float | None:
    return count / total if total else None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
