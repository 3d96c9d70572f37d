"""Train: train your own MTP model and watch every head's loss fall, live.

Runs wait in the server's queue (app/training.py): while one waits, the page shows its place in
line and a Cancel button; while it trains, the live chart and a Stop button (app/run_view.py).
Below, "Distill heads 2..n" retrains a model's drafting heads on its own greedy output, through
the same queue (app/distill_panel.py).
"""

import distill_panel
import models
import run_view
import streamlit as st
import training
import ui

from tinymtp import viz
from tinymtp.core.config import HEAD_TYPES, PRESETS, ModelConfig
from tinymtp.core.errors import TinyMTPError
from tinymtp.data.corpora import BUILT_IN, check_long_enough, corpus_from_bytes
from tinymtp.training.train import TrainConfig

UPLOAD = "upload a text file"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
PRESET_HELP = {name: f"{p['n_layers']} layer(s) × {p['d_model']} wide, context {p['context_length']}"
               for name, p in PRESETS.items()}

st.title("Train your own model")
job = st.session_state.get("train_job")

left, right = ui.explained(
    "Training shows the model many windows of text. At every position, **head k is scored "
    "on the character k places ahead**, and the loss adds up all heads. Watch the curves: "
    "head 1 (next character) learns fastest, heads further ahead stay higher, since "
    "guessing further ahead is harder.\n\n"
    "**Try:** 1 head against 4 heads on the same corpus and budget, then compare their "
    "next-token loss (head 1) on the **Compare** page. At this tiny scale MTP usually "
    "costs a little next-token loss; its payoff here is faster decoding.\n\n"
    "A demo run of 30-60 seconds already learns words and indentation. Your model stays in "
    "this browser session: pick it in the sidebar on every page, or save it to `runs/`.",
    notebook="04_training.ipynb")

with left, st.form("train_form", border=True):
    corpus_choice = st.radio("Corpus", list(BUILT_IN) + [UPLOAD], horizontal=True, key="train_corpus",
                             help="python-stdlib: Python's own standard library source. stories: simple "
                                  "English from a small grammar. Or your own UTF-8 text file.")
    upload = st.file_uploader(f"Your text file (UTF-8, at most {MAX_UPLOAD_BYTES // 2**20} MB; used when "
                              f"'{UPLOAD}' is chosen)", type=None, key="train_upload",
                              max_upload_size=MAX_UPLOAD_BYTES // 2**20)
    c1, c2, c3 = st.columns(3)
    heads = c1.number_input("Heads n", 1, 8, 4, key="train_heads", help="1 = the next-token baseline")
    head_type = c2.selectbox("Head type", HEAD_TYPES, key="train_head_type",
                             help="linear: one matrix per head · mlp: Medusa's residual block · "
                                  "block: a full transformer layer per head (Meta)")
    preset = c3.selectbox("Size", list(PRESETS), index=list(PRESETS).index("draft"), key="train_preset",
                          format_func=lambda p: f"{p} ({PRESET_HELP[p]})")
    c4, c5, c6 = st.columns(3)
    budget = c4.radio("Budget", ["minutes", "steps"], horizontal=True, key="train_budget")
    minutes = c5.number_input("Minutes", 0.05, 30.0, 0.75, step=0.25, key="train_minutes")
    steps = c6.number_input("Steps", 1, 20000, 300, step=50, key="train_steps")
    name = st.text_input("Name for the trained model", value="my-model", key="train_name", max_chars=60)
    start = st.form_submit_button("Train", type="primary", disabled=bool(job and job.running))


def build_job():
    """Check every input here, on the page, before the background thread starts."""
    if corpus_choice == UPLOAD:
        if upload is None:
            raise TinyMTPError("choose a text file to upload first (or pick a built-in corpus)")
        if upload.size > MAX_UPLOAD_BYTES:
            raise TinyMTPError(f"the file {upload.name} is {upload.size / 2**20:.1f} MB; the limit here is "
                               f"{MAX_UPLOAD_BYTES // 2**20} MB")
        corpus = corpus_from_bytes(upload.getvalue(), upload.name)
    else:
        corpus = models.builtin_corpus(corpus_choice)
    model_config = ModelConfig.from_preset(preset, vocab_size=corpus.tokenizer.vocab_size, n_heads=int(heads),
                                           head_type=head_type)
    check_long_enough(corpus, model_config.context_length, model_config.n_heads)
    if budget == "steps":
        train_config = TrainConfig(steps=int(steps), eval_every=max(5, int(steps) // 10), batch_size=16,
                                   eval_batches=2, warmup_steps=min(50, max(1, int(steps) // 10)))
    else:
        train_config = TrainConfig(minutes=float(minutes), eval_every=25, batch_size=16, eval_batches=2,
                                   warmup_steps=20)
    queue = training.training_queue()
    label = models.safe_name(name)
    taken = set(models.model_labels())
    base, i = label, 2
    while label in taken:
        label, i = f"{base}-{i}", i + 1
    return training.training_job(label, model_config, train_config, corpus, queue, training.session_watcher())


if start:
    try:
        job = build_job().start()
        st.session_state["train_job"] = job
    except TinyMTPError as exc:
        ui.show_error(exc)


@st.fragment(run_every=1.0 if job is not None and job.running else None)
def live_view():
    job = st.session_state.get("train_job")
    if job is None:
        st.caption("Press **Train** to start. The chart below will follow every head's loss as it trains.")
        return
    run_view.notice_the_end(job)
    if job.queued:
        run_view.show_place_in_line(job, "train_job", cancel_key="train_cancel")
        st.caption("Updates every second. Other pages stay usable while this waits.")
        return
    if job.running:
        run_view.show_progress(job, "train_job", stop_key="train_stop", verb="Training", loss_name="train loss",
                               first_head=1)
    elif job.cancelled:
        st.info(f"Cancelled: '{job.name}' left the queue without training.", icon=":material/cancel:")
        return
    elif job.error:
        ui.show_error(TinyMTPError(job.error))
    else:
        models.collect_finished_job()
        meta = job.metadata or {}
        stopped = " (stopped early)" if meta.get("interrupted") else ""
        st.success(f"Training finished{stopped}: '{job.name}', {meta.get('steps')} steps in "
                   f"{meta.get('seconds', 0):.0f} s, next-token val loss {meta.get('next_token_val_loss', 0):.3f}. "
                   "It is now in the sidebar's model picker on every page.", icon=":material/check_circle:")
        run_view.show_use_and_save(job, use_key="train_use", save_key="train_save")
    history = {"train": list(job.history["train"]), "eval": list(job.history["eval"])}  # a snapshot: it grows
    ui.plot(viz.loss_curves(history, title=f"Loss per head: {job.name}"), key="train_loss")
    if job.metadata and job.metadata.get("heads"):
        st.dataframe([{"head": h["head"], "val loss": h["val_loss"], "val accuracy": f"{h['val_accuracy']:.1%}"}
                      for h in job.metadata["heads"]], hide_index=True)
    if job.running:
        st.caption("Updates every second. Other pages stay usable while this trains.")


live_view()
distill_panel.show()
