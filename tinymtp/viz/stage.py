"""Everything the app's Speculative page draws for one round, built in time that does not grow with
the run: Step at round 60 costs what Step at round 1 costs.

`round_view(spec, base, tokenizer, shown)` returns the figures of the round being shown (the
round figure: the drafts and verdicts for greedy, the sampling decision for sampling; a tree
round's tree and mask), the run so far (tokens per forward, acceptance per head, the lanes of
forward passes) and the committed text. `trap(spec, base, tokenizer)` finds where each run's text
starts looping (the repetition trap: inside a loop every draft is easy) as the round that wrote
the loop's first token, for the lanes, the text and the page's warning.

Why it stays quick: every figure is built with plotly traces of arrays (one per lane, not a shape
per forward pass: plotly re-checks the whole shape list on every shape added, which made the lanes
quadratic in the run's length) and shapes set once per figure; the lanes show the last
LANES_WINDOW forward passes, so the browser draws as many boxes at round 60 as at round 30.
tests/test_viz_stage.py compares the building time late in a run with early (a ratio).

Left out: widgets and layout (app/app_pages/speculative.py places these on the page).
Explained in notebooks/06_self_speculative_decoding.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..analysis.repetition import loop_round, loop_start
from .decision import sampling_decision
from .decoding import acceptance_per_head, committed_text_html, lanes, speculative_round, tokens_per_forward
from .tree import candidate_tree, tree_attention_mask

LANES_WINDOW = 30  # forward passes the lanes show: a window, so drawing them costs the same at any round


@dataclass(frozen=True)
class Trap:
    """Where the two runs' texts start looping: the continuation's token index (`repetition.loop_start`)
    and the round that committed it (an index into the trace's rounds); None without a loop."""

    spec_token: int | None
    spec_round: int | None
    base_token: int | None
    base_round: int | None

    def reached(self, shown: int) -> bool:
        """Is the speculative run's loop among its first `shown` rounds?"""
        return self.spec_round is not None and self.spec_round < shown


def trap(spec, base, tokenizer) -> Trap:
    """The repetition trap of a speculative run and its plain baseline (decoding results)."""
    spec_token, base_token = loop_start(tokenizer.decode(spec.tokens)), loop_start(tokenizer.decode(base.tokens))
    return Trap(spec_token, loop_round(spec.trace.rounds, spec_token),
                base_token, loop_round(base.trace.rounds, base_token))


def round_view(spec, base, tokenizer, shown: int, prompt: str, draft_len: int, names=("greedy", "speculative"),
               found: Trap | None = None) -> dict:
    """The shown round's figures (see the module docstring): {"round" | "tree" and "mask" (or none,
    for the prefill and rounds without drafts), "tokens_per_forward", "acceptance", "lanes", "text"}."""
    rnd = spec.trace.rounds[shown - 1]
    so_far = spec.trace.upto(shown)
    mode = spec.trace.mode
    view = {}
    if rnd.tree:
        view["tree"], view["mask"] = candidate_tree(rnd, tokenizer), tree_attention_mask(rnd)
    elif rnd.checks and any(c.uniform is not None for c in rnd.checks):
        view["round"] = sampling_decision(rnd, tokenizer, mode=mode)
    elif rnd.checks:
        view["round"] = speculative_round(rnd, tokenizer, mode=mode)
    view["tokens_per_forward"] = tokens_per_forward(so_far, n_heads=draft_len + 1, greedy_trace=base.trace.upto(shown))
    view["acceptance"] = acceptance_per_head(so_far)
    loops = (found.base_round, found.spec_round) if found else None
    view["lanes"] = lanes(base.trace, spec.trace, tokenizer, forwards=shown, names=names, loop_rounds=loops,
                          window=LANES_WINDOW, title=f"Lanes: {names[0]} and {names[1]} decoding, the last "
                                                     f"{LANES_WINDOW} forward passes, one box each")
    view["text"] = committed_text_html(prompt, spec.trace, tokenizer, rounds=shown,
                                       loop_round=found.spec_round if found else None)
    return view
