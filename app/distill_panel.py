"""The Train page's "Distill heads 2..n" section: pick a model, a budget and a text, press Distill.

The run is tinymtp.training.distill.distill (heads 2..n learn the token greedy decoding itself writes
k steps on; the trunk and head 1 stay frozen, so greedy output does not change). It waits in the
same queue as training runs (app/training.py), since it is as heavy, and shows the same place in
line, Cancel, Stop and progress bar (app/run_view.py), a live chart of the drafting heads'
distillation loss, and at the end each head's greedy agreement before and after. The distilled
copy joins the session's models, like a trained one. docs/usage.md explains the method and what
it measured on mtp-4head before its own distillation (the shipped mtp-4head is the last joint recipe).
"""

from __future__ import annotations

import models
import run_view
import streamlit as st
import training
import ui

from tinymtp import viz
from tinymtp.core.errors import TinyMTPError
from tinymtp.training.distill import DistillConfig, check_distill

JOB = "distill_job"  # its key in st.session_state (one of models.JOB_KEYS)
TEXTS = {"corpus": "the training text", "generated": "greedy's own continuations"}
# the page's recipes: DistillConfig fields (docs/usage.md measures each on mtp-4head before its distillation)
RECIPES = {
    "heads only (greedy's tokens)": dict(target="hard", train_trunk=False),
    "heads only (head 1's distribution, for sampling)": dict(target="soft", train_trunk=False),
    "trunk too, at a tenth of the rate (changes greedy's text)": dict(target="soft", train_trunk=True,
                                                                      trunk_lr_ratio=0.1),
}

EXPLANATION = (
    "Speculative decoding keeps head k's draft only when it equals the token **greedy decoding "
    "itself** writes k steps on, not the token the text has there. Distilling retrains heads "
    "2..n toward that target. The trunk and head 1 are frozen, so greedy output stays the same, "
    "token for token.\n\n"
    "**Greedy agreement** (the table at the end): the share of held-out positions where head k's "
    "top guess is greedy's token. *greedy's own continuations* distills on the text the heads "
    "read while decoding (a short prompt of the corpus, then greedy's tokens).\n\n"
    "Honest expectations: on mtp-4head as training left it, 300 steps raised heads 2/3/4's agreement "
    "from 0.670/0.574/0.553 to 0.713/0.604/0.588, yet tokens per forward only from 3.227 to 3.234 "
    "(`python -m tinymtp distill`, docs/usage.md). Linear heads on a frozen trunk gain little. "
    "The shipped mtp-4head is that model after 1000 steps with the trunk too, at a tenth of the rate, "
    "on head 1's distribution (3.46 tokens per forward), so distilling it again moves little.")


def distill_config(budget: str, steps: int, minutes: float, text: str,
                   recipe: str = next(iter(RECIPES))) -> DistillConfig:
    """The page's settings: about ten evaluations in a run of steps, one thread (like training)."""
    if budget == "steps":
        return DistillConfig(steps=steps, text=text, eval_every=max(1, steps // 10),
                             warmup_steps=min(20, max(1, steps // 10)), threads=1, **RECIPES[recipe])
    return DistillConfig(minutes=minutes, text=text, eval_every=25, threads=1, **RECIPES[recipe])


def distilled_name(source: str) -> str:
    """'<source>-distilled', or -distilled-2, -3, ... when the session already has one."""
    base = f"{models.safe_name(source)}-distilled"
    taken, label, i = set(models.model_labels()), base, 2
    while label in taken:
        label, i = f"{base}-{i}", i + 1
    return label


def build_job(source: models.ModelEntry, config: DistillConfig) -> training.TrainingJob:
    """Every check here, on the page, before the background thread starts (one-line errors)."""
    corpus = models.training_corpus(source)
    check_distill(source.model, corpus, config)
    return training.distill_job(distilled_name(source.label), source, config, corpus, training.training_queue(),
                                training.session_watcher())


def settings(job) -> None:
    """The model picker, budget and text widgets, and the Distill button."""
    labels = models.model_labels()
    if not labels:
        st.info("No model to distill yet: train one above.")
        return
    current = st.session_state.get("model_label")
    choice = st.selectbox("Model to distill", labels, index=labels.index(current) if current in labels else 0,
                          key="train_distill_model", help="Any model with 2 or more heads: shipped or from this session.")
    c1, c2, c3 = st.columns(3)
    budget = c1.radio("Budget", ["steps", "minutes"], horizontal=True, key="train_distill_budget")
    steps = c2.number_input("Steps", 1, 20000, 100, step=50, key="train_distill_steps")
    minutes = c3.number_input("Minutes", 0.05, 30.0, 1.0, step=0.25, key="train_distill_minutes")
    text = st.radio("Distill on", list(TEXTS), format_func=TEXTS.get, horizontal=True, key="train_distill_text",
                    help="greedy's own continuations: each window is a few characters of the text, then what greedy "
                         "decoding writes after them (slower: every window is decoded first).")
    recipe = st.radio("What learns", list(RECIPES), key="train_distill_recipe",
                      help="Heads only: the trunk and head 1 stay frozen, greedy's text is unchanged. Trunk too "
                           "(Medusa-2's joint recipe): head 1 also learns the text, so greedy's text changes "
                           "(needs 'the training text'); docs/usage.md measures all three.")
    try:
        source = models.get_model(choice)
        if source.n_heads < 2:
            raise TinyMTPError(f"'{choice}' has 1 head: nothing to distill (distillation teaches heads 2..n), "
                               "pick a model with 2 or more heads")
    except TinyMTPError as exc:
        ui.show_error(exc)
        return
    if st.button("Distill", type="primary", key="train_distill_start", disabled=bool(job and job.running),
                 icon=":material/school:"):
        try:
            config = distill_config(budget, int(steps), float(minutes), text, recipe)
            st.session_state[JOB] = build_job(source, config).start()
        except TinyMTPError as exc:
            ui.show_error(exc)


def agreement_table(metadata: dict) -> list:
    """Rows of each drafting head's greedy agreement before -> after, from distill_metadata's record."""
    record = metadata.get("distilled") or {}
    before = {h["head"]: h["greedy_agreement"] for h in record.get("greedy_agreement_before") or []}
    return [{"head": h["head"], "greedy agreement before": f"{before[h['head']]:.1%}",
             "after": f"{h['greedy_agreement']:.1%}",
             "change": f"{100 * (h['greedy_agreement'] - before[h['head']]):+.1f} points"}
            for h in record.get("greedy_agreement") or [] if h["head"] in before]


def show_finished(job) -> None:
    models.collect_finished_job()
    meta = job.metadata or {}
    record = meta.get("distilled") or {}
    stopped = " (stopped early)" if record.get("interrupted") else ""
    changed = (record.get("config") or {}).get("train_trunk")
    output = (f"Head 1 trained too: its val loss went {record.get('head1_val_loss_before'):.4f} -> "
              f"{record.get('head1_val_loss'):.4f}, and greedy's text may differ" if changed
              else "Greedy output is unchanged")
    st.success(f"Distilled{stopped}: '{job.name}', {record.get('steps')} steps in {record.get('seconds', 0):.0f} s. "
               f"{output}; it is now in the sidebar's model picker on every page, ready for the "
               "Speculative and Compare pages.", icon=":material/check_circle:")
    run_view.show_use_and_save(job, use_key="train_distill_use", save_key="train_distill_save")
    st.table(agreement_table(meta), hide_index=True, width="content")  # a real HTML table: 1..7 short rows


def live_view() -> None:
    """The run's state, refreshed every second while it runs (show() makes it a fragment)."""
    job = st.session_state.get(JOB)
    if job is None:
        return
    run_view.notice_the_end(job)
    if job.queued:
        run_view.show_place_in_line(job, JOB, cancel_key="train_distill_cancel")
        st.caption("Updates every second. Other pages stay usable while this waits.")
        return
    if job.running:
        run_view.show_progress(job, JOB, stop_key="train_distill_stop", verb="Distilling",
                               loss_name="distillation loss", first_head=2)
    elif job.cancelled:
        st.info(f"Cancelled: '{job.name}' left the queue without distilling.", icon=":material/cancel:")
        return
    elif job.error:
        ui.show_error(TinyMTPError(job.error))
        return
    else:
        show_finished(job)
    history = {"train": list(job.history["train"]), "eval": list(job.history["eval"])}  # a snapshot: it grows
    ui.plot(viz.distill_curves(history, title=f"Distilling heads 2..n: {job.name}", target=job.config.target),
            key="train_distill_chart")


def show() -> None:
    """The section, below the training run's view."""
    st.divider()
    st.header("Distill heads 2..n")
    left, _ = ui.explained(EXPLANATION, notebook="06_self_speculative_decoding.ipynb")
    with left:
        settings(st.session_state.get(JOB))
    job = st.session_state.get(JOB)  # a fragment made on every run: this module is imported only once
    st.fragment(live_view, run_every=1.0 if job is not None and job.running else None)()
