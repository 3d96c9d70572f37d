"""Tour: a guided walk for the projector, from "what does head k predict" to trees.

Eight steps, each a few sentences beside a live figure of the model picked in the sidebar (the
shipped mtp-4head, or one the class trained on the Train page). Next / Back move one step; the
sidebar's Presentation mode (app/ui.py, the same on every page) enlarges the text and the figures
and puts the words under the figure. The numbers come from
tinymtp.analysis.tour_material.tour_material, computed once per model and prompt and kept in the session, so
stepping runs no forward pass.
"""

import re

import models
import streamlit as st
import ui

from tinymtp import viz
from tinymtp.analysis.tour_material import tour_material
from tinymtp.core.errors import TinyMTPError

SHARE = 0.55  # the figures' column: 3 of 5 of the page's width, less the gap
KEPT = 4  # tour materials kept per session (a few models to switch between)

st.title("Tour: multi-token prediction, step by step")
entry = models.current_model()
model, tokenizer, n = entry.model, entry.tokenizer, entry.n_heads
st.caption(":material/slideshow: For a projector, switch on **Presentation mode** in the sidebar: larger text "
           "and figures on every page, the navigation still there.")


def material():
    """The tour's numbers for the picked model, from this session's store when it has them."""
    store = st.session_state.setdefault("tour_material", {})
    key = (entry.label, id(model))
    if key not in store:
        prompts = ui.examples_for(tokenizer) or ui.corpus_examples(entry, length=48) or [""]
        with st.spinner("Running the model for the tour…"):
            store[key] = tour_material(model, tokenizer, prompts[0])
        while len(store) > KEPT:
            store.pop(next(iter(store)))
    return store[key]


try:
    tour = material()
except TinyMTPError as exc:
    ui.show_error(exc)
    st.stop()


def needs_heads() -> bool:
    if tour.speculative is not None:
        return False
    st.warning(f"'{entry.label}' has a single head, so nothing drafts and this step has nothing to show. "
               "Pick a model with several heads in the sidebar (e.g. mtp-4head).")
    return True


def step_heads():
    last = 24 if ui.presenting() else None  # a projector: the prompt's last characters, in cells wide enough
    ui.plot(viz.head_grid(tour.predictions, title=f"Each head's top guess · {entry.label}", last=last),
            key="tour_grid", share=SHARE)
    return (f"The model reads the prompt once. At every position t, **head k guesses the character k places "
            f"ahead**, x[t+k]. This model has **{n} head{'s' if n > 1 else ''}**; head 1 is the usual "
            "next-character head.\n\nColumns are the prompt's characters, rows the heads. "
            "**● green**: the guess matches the real text. **◆ orange**: it matches what head 1 itself would "
            "write from there.")


def step_accuracies():
    ui.plot(viz.head_accuracy(tour.predictions.accuracy()), key="tour_accuracy", share=SHARE)
    return ("Two meanings of \"right\". **Matches the real text** is the usual accuracy. **Matches what head 1 "
            "would generate** is what speculative decoding needs: a draft is kept when it equals head 1's own "
            "choice.\n\nBoth usually fall as k grows: guessing further ahead is harder.")


def step_round():
    if needs_heads():
        return "One speculative round needs drafting heads."
    rnd = tour.first_round()
    ui.plot(viz.speculative_round(rnd, tokenizer, mode="speculative"), key="tour_round", share=SHARE)
    return (f"**Round {rnd.index}.** Head 1's last choice is sure. Heads 2..{n} drafted the characters after it. "
            f"ONE forward pass reads the sure character and all {len(rnd.checks)} drafts, and head 1 checks each "
            f"draft against its own choice. Kept here: **{rnd.accepted}**, then head 1 adds one more "
            f"({rnd.next_kind}). This round wrote **{ui.plural(len(rnd.committed), 'character')}** for one forward "
            "pass.")


def step_rollback():
    if needs_heads():
        return "Rollback happens only when drafts are rejected."
    rnd = tour.first_round(rejected=True)
    ui.plot(viz.speculative_round(rnd, tokenizer, mode="speculative"), key="tour_rollback", share=SHARE)
    fed = rnd.cache_before + len(rnd.fed)
    return (f"**Round {rnd.index}** kept {rnd.accepted} of {len(rnd.checks)} drafts. The forward pass wrote keys "
            f"and values for every fed character into the KV cache ({rnd.cache_before} → {fed} positions). "
            f"The rejected drafts' entries are then **rolled back**: the cache keeps {rnd.cache_after}. Head 1's "
            "corrected character is fed, like any sure character, in the next round.")


def step_speedup():
    if needs_heads():
        return "Without drafts every forward pass writes one character."
    spec, base = tour.speculative.trace, tour.greedy.trace
    ui.plot(viz.tokens_per_forward(spec, n_heads=n, greedy_trace=base), key="tour_tpf", share=SHARE)
    s = spec.summary()
    return (f"Plain greedy decoding: **1 character per forward pass** ({base.forwards} passes). Self-speculative: "
            f"**{s['tokens_per_forward']:.2f}** ({s['forwards']} passes) for **the same text**"
            f"{' (checked: identical)' if tour.speculative.tokens == tour.greedy.tokens else ''}.\n\n"
            "Fewer passes is not yet time saved: each pass reads more positions. The Speculative page and "
            "`python -m tinymtp bench decode` measure the wall clock.")


def step_sampling():
    if needs_heads():
        return "The sampling rule judges a head's draft."
    ex = tour.sampling
    shown = [viz.show_char(c) for c in ex["labels"]]
    fig = viz.distributions({"p: head 1, after the sure character": ex["p"], "q: head 2's draft": ex["q"],
                             "norm(max(0, p − q)): the replacement": ex["residual"]}, shown,
                            title="The sampling rule on this model")
    ui.plot(fig, key="tour_sampling", share=SHARE)
    return (f"When sampling, a draft x drawn from head 2's q is kept when a uniform draw **u < min(1, p(x)/q(x))**. "
            f"Here head 1's sure character is {viz.show_char(ex['sure'])!r} and head 2's likeliest draft "
            f"{viz.show_char(ex['draft'])!r}: p = {ex['p_x']:.2f}, q = {ex['q_x']:.2f}, so it is kept with "
            f"chance **{ex['keep']:.2f}**. A rejected draft is replaced by a draw from **norm(max(0, p − q))**; "
            f"together the text is distributed **exactly** like plain sampling from p (a draft is rejected with "
            f"probability {ex['rejection']:.2f} here).")


def step_trees():
    if needs_heads():
        return "Trees need drafting heads."
    rnd = tour.first_tree_round()
    if rnd is None:
        st.info("This model could not decode with a tree.")
        return "Trees put several guesses per head into one pass."
    ui.plot(viz.candidate_tree(rnd, tokenizer), key="tour_tree", share=SHARE)
    ui.plot(viz.tree_attention_mask(rnd), key="tour_mask", share=SHARE)
    kept = f"{rnd.accepted} drafted character{'s' if rnd.accepted != 1 else ''}"
    return (f"A **tree** (Medusa) checks several guesses per head at once: the sure character and "
            f"{len(rnd.fed) - 1} candidates in ONE forward pass. The **attention mask** lets each candidate see "
            "the prompt and its own ancestors only, so branches do not mix. The longest branch head 1 agrees "
            f"with is kept: here {kept}, then head 1's own next one ({viz.ACCEPT_MARK} accepted, "
            f"{viz.REJECT_MARK} rejected, · never checked).")


def step_next():
    if tour.speculative is not None:
        ui.plot(viz.acceptance_per_head(tour.speculative.trace), key="tour_next_accept", share=SHARE)
    return ("**Where next:**\n\n- **Heads** page: your own prompts, every head's top guesses.\n"
            "- **Speculative decoding**: step through rounds, sampling mode, trees; download a run as an offline "
            "replay for slides.\n- **Train**: train your own model in a minute, then rerun this tour on it "
            "(pick it in the sidebar).\n- **Compare**: next-token vs multi-token models.\n"
            "- Notebooks 05, 06, 07 and 09 go deeper into each step.")


STEPS = [("What does head k predict?", step_heads), ("Two accuracies", step_accuracies),
         ("One speculative round", step_round), ("Rollback and the KV cache", step_rollback),
         ("Tokens per forward and the speed-up", step_speedup), ("The sampling rule", step_sampling),
         ("Trees", step_trees), ("Where to go next", step_next)]


def move(by: int) -> None:
    st.session_state["tour_step"] = min(len(STEPS) - 1, max(0, st.session_state.get("tour_step", 0) + by))


def show_step() -> None:
    """The step indicator, Back / Next, then the step: its figure left, its words right."""
    i = min(st.session_state.setdefault("tour_step", 0), len(STEPS) - 1)
    title, draw = STEPS[i]
    nav = st.columns([1.4, 1.4, 5])
    nav[0].button("Back", on_click=move, args=(-1,), key="tour_back", icon=":material/arrow_back:",
                  disabled=i == 0, width="stretch")
    nav[1].button("Next", on_click=move, args=(1,), key="tour_next", icon=":material/arrow_forward:",
                  disabled=i == len(STEPS) - 1, width="stretch")
    nav[2].progress((i + 1) / len(STEPS), text=f"Step {i + 1} of {len(STEPS)}")
    st.header(f"{i + 1}. {title}")
    left, right = ui.side_by_side([3, 2], gap="large")
    with left:
        words = draw()
    with right:
        st.markdown(words)
        shown = re.sub(r"([\\`*_\[\]<>#~|$])", r"\\\1", repr(tour.prompt[:40]))  # as text, not markdown
        st.caption(f"Model: {entry.label} · prompt: {shown}")


show_step()
