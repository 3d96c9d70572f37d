"""Plotly figures of tinymtp's ideas, shared by the app and the notebooks.

Every function takes plain library objects (a training history dict, a `Trace`, a
`HeadPredictions`, a `measure_decoding` result, an experiment's result) and returns a plotly
`Figure`, except `committed_text_html`, which returns an HTML string with every character escaped.

The same colours mean the same things everywhere (style.py): each head keeps its colour (the
Okabe-Ito palette, readable by colour-blind viewers), accepted drafts are green with a check
mark and rejected ones vermillion with a cross (colour AND symbol). One module per topic:

    style.py        colours, fonts, visible characters, the shared layout
    training.py     loss curves, distilling heads 2..n, next-token vs multi-token models
    predictions.py  per-head guesses, accuracies, attention weights, distributions
    decoding.py     speculative rounds, acceptance, tokens per forward, speed-ups
    decision.py     the sampling decision drawn: u against min(1, p/q), the residual
    stage.py        the Speculative page's figures for one round, and where a run starts looping
    sampled_vs_greedy.py  greedy and sampled text side by side: drafting and repetition
    exactness.py    speculative sampling's distance to the exact law as runs grow; acceptance by temperature
    roofline.py     what feeding more tokens costs: a GPU's roofline beside this machine's measurement
    tree.py         candidate trees and their attention mask
    results.py      the experiments' figures
"""

from .decision import round_table, sampling_decision
from .decoding import (
    acceptance_per_head,
    committed_text_html,
    decoding_comparison,
    drafter_name,
    lanes,
    round_rows,
    speculative_round,
    speedup_vs_heads,
    tokens_per_forward,
    wall_clock,
)
from .exactness import acceptance_by_temperature, exactness_figure
from .predictions import (
    attention_map,
    distributions,
    head_accuracy,
    head_grid,
    topk_bars,
)
from .results import (
    FIGURES,
    N_COLOURS,
    TYPE_COLOURS,
    addition_figure,
    curves_figure,
    experiment_figure,
    head_types_figure,
    how_many_heads_figure,
    induction_figure,
    n_colour,
    ntp_vs_mtp_figure,
    type_colour,
)
from .roofline import roofline_figure
from .sampled_vs_greedy import trap_figure, trap_rows
from .stage import Trap, round_view, trap
from .style import (
    ACCEPT_MARK,
    ACCEPTED,
    FONT,
    HEAD_COLOURS,
    MARK_EDGE,
    MONO,
    REJECT_MARK,
    REJECTED,
    ROUND_COLOURS,
    TEMPLATE,
    TITLE_CHARS,
    UNUSED,
    contrast_ratio,
    fit_title,
    head_colour,
    layout,
    plot_text,
    projector,
    show_char,
)
from .training import (
    distill_curves,
    loss_curves,
    model_comparison,
)
from .tree import (
    candidate_tree,
    tree_attention_mask,
)

__all__ = [
    "acceptance_per_head",
    "committed_text_html",
    "decoding_comparison",
    "drafter_name",
    "lanes",
    "round_rows",
    "round_table",
    "sampling_decision",
    "Trap",
    "round_view",
    "trap",
    "trap_figure",
    "trap_rows",
    "acceptance_by_temperature",
    "exactness_figure",
    "roofline_figure",
    "MARK_EDGE",
    "contrast_ratio",
    "projector",
    "fit_title",
    "TITLE_CHARS",
    "speculative_round",
    "speedup_vs_heads",
    "tokens_per_forward",
    "wall_clock",
    "attention_map",
    "distributions",
    "head_accuracy",
    "head_grid",
    "topk_bars",
    "FIGURES",
    "N_COLOURS",
    "TYPE_COLOURS",
    "addition_figure",
    "curves_figure",
    "experiment_figure",
    "head_types_figure",
    "how_many_heads_figure",
    "induction_figure",
    "n_colour",
    "ntp_vs_mtp_figure",
    "type_colour",
    "ACCEPTED",
    "ACCEPT_MARK",
    "FONT",
    "HEAD_COLOURS",
    "MONO",
    "REJECTED",
    "REJECT_MARK",
    "ROUND_COLOURS",
    "TEMPLATE",
    "UNUSED",
    "head_colour",
    "layout",
    "plot_text",
    "show_char",
    "distill_curves",
    "loss_curves",
    "model_comparison",
    "candidate_tree",
    "tree_attention_mask",
]
