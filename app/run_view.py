"""What the Train page shows of one run in the server's queue, whether it trains a model or
distills one's heads: its place in line with Cancel, a Stop button and a progress bar while it
runs, and the buttons that use or save the finished model.

The Train page's two live views (training and distilling) draw with these, each from its own
fragment; the run itself is app/training.py's TrainingJob, kept in st.session_state under a key
of models.JOB_KEYS.
"""

from __future__ import annotations

from pathlib import Path

import models
import streamlit as st
import training
import ui

from tinymtp.core.errors import TinyMTPError


def _stop(session_key: str) -> None:
    if st.session_state.get(session_key) is not None:
        st.session_state[session_key].stop_requested = True


def _cancel(session_key: str) -> None:
    if st.session_state.get(session_key) is not None:
        st.session_state[session_key].cancel()


def notice_the_end(job) -> None:
    """A run that just ended: one full rerun stops the fragment's timer and redraws the sidebar."""
    if not job.running and not job.announced:
        job.announced = True
        st.rerun()


def show_place_in_line(job, session_key: str, cancel_key: str) -> None:
    """A waiting run: its place in the server's queue, refreshed every second, and Cancel."""
    place, waiting, training_now = job.position()
    if place is None:  # promoted (or cancelled) since the last look: the next refresh shows it
        st.progress(0.0, text=f"Starting '{job.name}'…")
        return
    st.info(f"**Queued: position {place} of {waiting}.** '{job.name}' starts when a run ahead of it finishes "
            f"({training_now} training now; this server trains at most {job.queue.slots} at once, so every "
            "visitor's pages stay quick).", icon=":material/hourglass_top:")
    st.button("Cancel", on_click=_cancel, args=(session_key,), key=cancel_key, type="secondary",
              icon=":material/cancel:", help="Leave the queue; nothing has run yet.")


def show_progress(job, session_key: str, stop_key: str, verb: str, loss_name: str, first_head: int) -> None:
    """A running run: Stop, and a progress bar with each head's latest loss (heads first_head..n)."""
    st.button("Stop", on_click=_stop, args=(session_key,), key=stop_key, type="secondary",
              icon=":material/stop_circle:", help="Stops after the current step; the model so far is kept.")
    info, cfg = job.last, job.config
    if info is None:
        st.progress(0.0, text=f"Starting '{job.name}'…")
        return
    if cfg.steps is not None:
        text = f"step {info.step} of {cfg.steps} · {info.seconds:.0f} s"
    else:
        text = f"step {info.step} · {info.seconds:.0f} of {cfg.minutes * 60:.0f} s"
    losses = " · ".join(f"head {k}: {v:.3f}" for k, v in enumerate(info.head_losses, start=first_head))
    st.progress(min(1.0, info.progress), text=f"{verb} '{job.name}': {text} · {loss_name} {losses}")


def show_use_and_save(job, use_key: str, save_key: str) -> None:
    """'Use it on every page' and 'Save to runs/' for a finished run's model (already collected)."""
    b1, b2, _ = st.columns([1, 1, 2])
    if b1.button("Use it on every page", key=use_key, type="primary"):
        models.choose_model(job.name)  # a full rerun, so the sidebar's picker shows the choice
    if b2.button("Save to runs/", key=save_key):
        try:
            path = training.save_trained(models.session_models()[job.name])
            taken = "" if Path(path).name == models.safe_name(job.name) else (
                f" (runs/{models.safe_name(job.name)} already holds another model, so this one got its own name)")
            st.success(f"Saved as a checkpoint: {path}{taken}")
        except (TinyMTPError, OSError) as exc:
            ui.show_error(exc)
