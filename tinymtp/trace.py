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
the prompt and commits the first token; each later round feeds the token committed last (the
"sure" token) plus any drafts, so a forward commits 1 .. (drafts + 1) tokens and plain greedy
decoding makes exactly one token per forward.

Tree decoding (tree.py) fills `tree` too: every candidate node (token, depth, parent, head,
rank, q), head 1's greedy choice after each node, the tree mask, and the accepted path; its
`checks` hold one DraftCheck per node, and its acceptance is counted per depth ("accepted depth
d": the share of rounds whose accepted path reached depth d).

A draft is only checked while every earlier draft of its round was kept; the drafts after the
first rejection stay in `checks` with `checked=False` (not accepted), so a head's acceptance
rate is "the share of its drafts that were kept", and 1 + the sum of the rates is the tokens
per forward of full rounds. When the context window restarts (see tinymtp/window.py), the
round's forward also re-reads `reread` earlier tokens, and `note` says so.

The `summary()` adds it up: tokens, forward passes (prefill and re-reads included), tokens per
forward, acceptance per head. All of it is plain numbers, strings and lists: `to_dict()` is
JSON-safe.

Explained in notebooks/06_self_speculative_decoding.ipynb.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class DraftCheck:
    offset: int  # 1 = the first drafted token after the sure token, 2 = the next, ...
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
    window_start: int = 0  # absolute position of the KV cache's first slot (see tinymtp/window.py)
    reread: int = 0  # earlier tokens fed again by this forward because the window restarted
    draft_forwards: int = 0  # forwards of the separate draft model in this round (draft-model mode)
    tree: dict | None = None  # tree mode: the candidate tree, its mask and the accepted path (tree_decode.py)


@dataclass
class Trace:
    mode: str
    drafters: list = field(default_factory=list)  # e.g. [2, 3, 4]: the heads (or draft steps) that draft
    rounds: list = field(default_factory=list)
    seconds: float = 0.0
    stop_reason: str = "max_new_tokens"  # or "context_full"
    settings: dict = field(default_factory=dict)  # temperature, top_k, heads, seed, prompt length, ...

    @property
    def tokens(self) -> list:
        return [t for r in self.rounds for t in r.committed]

    @property
    def forwards(self) -> int:
        return len(self.rounds)

    def acceptance_per_head(self) -> list:
        """Per drafter: how many drafts it made, how many were accepted, and the rate."""
        if self.mode == "tree":
            return self.acceptance_per_depth()
        rows = []
        for drafter in self.drafters:
            checks = [c for r in self.rounds for c in r.checks if c.drafter == drafter]
            accepted = sum(c.accepted for c in checks)
            rows.append({"head": drafter, "drafted": len(checks), "accepted": accepted,
                         "rate": round(accepted / len(checks), 4) if checks else None})
        return rows

    def acceptance_per_depth(self) -> list:
        """Tree mode, per depth d (head d+1's guesses): the share of the rounds whose tree reached
        depth d in which the accepted path reached it too. 1 + the sum is the tokens per full round."""
        rows = []
        trees = [r for r in self.rounds if r.tree is not None]
        for head in self.drafters:
            offered = [r for r in trees if r.tree["depth"] >= head - 1]
            reached = sum(r.accepted >= head - 1 for r in offered)
            rows.append({"head": head, "depth": head - 1, "label": f"accepted depth {head - 1}",
                         "drafted": len(offered), "accepted": reached,
                         "rate": round(reached / len(offered), 4) if offered else None})
        return rows

    def summary(self) -> dict:
        tokens, forwards = len(self.tokens), self.forwards
        drafted = sum(len(r.checks) for r in self.rounds)
        accepted = sum(r.accepted for r in self.rounds)
        return {
            "mode": self.mode,
            "tokens": tokens,
            "forwards": forwards,
            "tokens_per_forward": round(tokens / forwards, 4) if forwards else 0.0,
            "acceptance_rate": round(accepted / drafted, 4) if drafted else None,
            "acceptance_per_head": self.acceptance_per_head(),
            "seconds": round(self.seconds, 4),
            "tokens_per_second": round(tokens / self.seconds, 2) if self.seconds > 0 else None,
            "draft_forwards": sum(r.draft_forwards for r in self.rounds),
            "window_restarts": sum(1 for r in self.rounds if r.reread),
            "stop_reason": self.stop_reason,
        }

    def to_dict(self) -> dict:
        return {"mode": self.mode, "drafters": list(self.drafters), "settings": dict(self.settings),
                "summary": self.summary(), "rounds": [asdict(r) for r in self.rounds]}
