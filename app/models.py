"""The app's models: the shipped checkpoints, the ones trained in this session, and the
sidebar's model picker that chooses one for every page.

Shipped checkpoints (under tinymtp.files.paths.checkpoints_dir()) are loaded once per server process
(st.cache_resource), shared by every visitor and never changed; models trained or distilled on
the Train page belong to the visitor's session (st.session_state["session_models"]). No model
logic lives here: loading is tinymtp.files.checkpoint.load_checkpoint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from tinymtp.core.errors import TinyMTPError
from tinymtp.files.checkpoint import load_checkpoint, read_metadata
from tinymtp.files.paths import checkpoints_dir

DEFAULT_MODEL = "mtp-4head"
SHIPPED_ORDER = ("mtp-4head", "seq-5head", "ntp-1head", "draft", "causal-4head")


@dataclass
class ModelEntry:
    """A model the pages can use: a shipped checkpoint or one trained in this session."""

    label: str
    model: object
    tokenizer: object
    metadata: dict = field(default_factory=dict)
    source: str = "shipped"  # "shipped" | "session"
    path: str | None = None
    corpus: object = None  # the training Corpus, for models trained in this session

    @property
    def n_heads(self) -> int:
        return self.model.config.n_heads

    def describe(self) -> str:
        cfg = self.model.config
        meta = self.metadata
        parts = [f"{cfg.n_heads} head{'s' if cfg.n_heads > 1 else ''} ({cfg.head_type})",
                 f"{cfg.n_layers} layers × {cfg.d_model} wide", f"context {cfg.context_length}"]
        if meta.get("corpus"):
            parts.append(f"trained on {Path(str(meta['corpus'])).name}")
        if meta.get("steps"):
            parts.append(f"{meta['steps']} steps")
        if meta.get("next_token_val_loss") is not None:
            parts.append(f"next-token val loss {meta['next_token_val_loss']:.3f}")
        if meta.get("distilled"):
            parts.append(f"heads 2..n distilled for {meta['distilled'].get('steps')} steps")
        return " · ".join(parts)


def shipped_checkpoints() -> dict:
    """{name: path} of the checkpoint directories under checkpoints_dir(), the default first."""
    root = checkpoints_dir()
    if not root.is_dir():
        return {}
    found = {p.name: p for p in sorted(root.iterdir()) if (p / "config.json").is_file()}
    ordered = {name: found.pop(name) for name in SHIPPED_ORDER if name in found}
    ordered.update(found)
    return ordered


@st.cache_resource(show_spinner="Loading the model…", max_entries=16)
def load_shipped(path: str):
    """Load a checkpoint once per server process; shared by every visitor and never modified."""
    return load_checkpoint(path)


def session_models() -> dict:
    return st.session_state.setdefault("session_models", {})


def model_labels() -> list:
    """Every model a page can use: shipped checkpoints, then the ones trained in this session."""
    shipped = shipped_checkpoints()
    return list(shipped) + [label for label in session_models() if label not in shipped]


def get_model(label: str) -> ModelEntry:
    """The model behind a picker label; a broken checkpoint raises TinyMTPError."""
    trained = session_models()
    if label in trained:
        return trained[label]
    shipped = shipped_checkpoints()
    if label not in shipped:
        raise TinyMTPError(f"no model named '{label}'")
    ckpt = load_shipped(str(shipped[label]))
    return ModelEntry(label, ckpt.model, ckpt.tokenizer, ckpt.metadata, "shipped", str(shipped[label]))


def sequential_drafter_for(entry: ModelEntry) -> ModelEntry | None:
    """A shipped model whose sequential heads grew on `entry`'s own trunk and head 1 (seq-5head on
    mtp-4head): its heads can draft for `entry` and the text stays `entry`'s. None when there is none."""
    if entry.source != "shipped" or entry.model.config.head_type == "sequential":
        return None
    label = _sequential_sibling(entry.label, str(checkpoints_dir()))
    return get_model(label) if label else None


@st.cache_resource(show_spinner=False, max_entries=16)
def _sequential_sibling(label: str, root: str) -> str | None:
    """The label of the shipped sequential-head model on shipped `label`'s trunk and head 1, or None
    (`root`, the checkpoints' folder, keys the cache)."""
    model = get_model(label).model
    for other, path in shipped_checkpoints().items():
        grown = read_metadata(str(path)).get("distilled", {}).get("config", {}).get("train_trunk") is False
        if other != label and grown:  # only heads grown on a frozen trunk can share one
            candidate = get_model(other).model
            if candidate.config.head_type == "sequential" and model.same_next_token_model(candidate):
                return other
    return None


JOB_KEYS = ("train_job", "distill_job")  # the Train page's runs in st.session_state: training, distilling


def collect_finished_job() -> bool:
    """Move finished runs' models into this session's models (once each); True if it did."""
    collected = False
    for key in JOB_KEYS:
        job = st.session_state.get(key)
        if job is None or job.running or job.collected or job.result is None:
            continue
        session_models()[job.name] = job.entry()
        job.collected = collected = True
    return collected


def training_corpus(entry: ModelEntry):
    """The Corpus `entry` was trained on: this session's own, or the built-in one its metadata names."""
    from tinymtp.data.corpora import BUILT_IN

    if entry.corpus is not None:
        return entry.corpus
    name = entry.metadata.get("corpus")
    if name not in BUILT_IN:
        raise TinyMTPError(f"'{entry.label}' was trained on '{name}', not a built-in corpus: distill it with "
                           "python -m tinymtp distill --checkpoint DIR --corpus PATH")
    corpus = builtin_corpus(name)
    if corpus.tokenizer != entry.tokenizer:
        raise TinyMTPError(f"'{entry.label}' has another vocabulary than the built-in corpus '{name}' today")
    return corpus


def choose_model(label: str) -> None:
    """Make `label` the sidebar's choice from anywhere (a fragment too): set before the picker is
    drawn, in a full rerun, so the browser's copy of the widget cannot overwrite it."""
    st.session_state["pending_model_label"] = label
    st.rerun()


def sidebar_model_picker() -> None:
    """The sidebar's model picker; its choice (st.session_state["model_label"]) holds on every page."""
    collect_finished_job()
    labels = model_labels()
    pending = st.session_state.pop("pending_model_label", None)
    if pending in labels:
        st.session_state["model_label"] = pending
    with st.sidebar:
        st.markdown("### Model")
        if not labels:
            st.warning("No model yet. Train one on the **Train** page, or make the shipped checkpoints "
                       "(see the README's recipe).")
            return
        if st.session_state.get("model_label") not in labels:
            st.session_state["model_label"] = DEFAULT_MODEL if DEFAULT_MODEL in labels else labels[0]
        st.selectbox("Model used on every page", labels, key="model_label",
                     help="Shipped checkpoints, plus the models you trained in this session.")
        try:
            entry = get_model(st.session_state["model_label"])
            where = "Trained in this session · " if entry.source == "session" else ""
            st.caption(where + entry.describe())
        except TinyMTPError as exc:
            st.error(str(exc))
        st.markdown("---")
        st.caption("tinymtp teaches multi-token prediction: one trunk, n heads, head k guesses the token "
                   "k steps ahead. Everything runs on this machine, offline.")


def current_model() -> ModelEntry:
    """The model picked in the sidebar; stops the page with a message when there is none."""
    label = st.session_state.get("model_label")
    if not label or label not in model_labels():
        st.info("No model is available yet. Train one on the **Train** page (it takes about a minute), "
                "or create the shipped checkpoints with the commands in the README.")
        st.stop()
    try:
        return get_model(label)
    except TinyMTPError as exc:
        st.error(f"Could not load model '{label}': {exc}")
        st.stop()


@st.cache_resource(show_spinner="Reading the corpus…", max_entries=4)
def builtin_corpus(name: str):
    from tinymtp.data.corpora import load_corpus

    return load_corpus(name)


def safe_name(text: str) -> str:
    """A file-system-safe name for a trained model (its label and its folder under runs/)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", text.strip()).strip("-.")
    return name[:60] or "my-model"
