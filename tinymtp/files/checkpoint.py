"""Checkpoints: a directory holding `config.json` and `model.safetensors`, nothing else needed.

    my-model/
      config.json          model config, the tokenizer's vocabulary, training metadata
      model.safetensors    the weights (safetensors: plain tensors, loading runs no code)
      optimizer.safetensors  (optional) AdamW moments and the batch sampler's state, for --resume

The metadata names the corpus and its text's SHA-256 (`corpus_sha256`): a corpus of that name with
other bytes (a file edited since, another Python's library) is refused in one line wherever it
would change what the numbers mean: evaluating, distilling, resuming (`check_same_corpus`).

No pickle anywhere. A checkpoint is written into a temporary directory beside the target and
renamed into place, so an interrupted save never leaves a half-written checkpoint; it replaces
only a tinymtp checkpoint, and only when asked (tinymtp/files/safe_write.py holds the rule). A missing,
truncated, corrupt or mismatched checkpoint raises `TinyMTPError` with one line saying which.

Explained in notebooks/04_training.ipynb.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .. import __version__
from ..core.errors import TinyMTPError
from ..core.model import ModelConfig, MTPModel
from ..data.tokenizer import CharTokenizer
from .safe_write import check_target, recover_folder, write_folder

CONFIG_FILE, WEIGHTS_FILE, OPTIMIZER_FILE = "config.json", "model.safetensors", "optimizer.safetensors"
CHECKPOINT_FILES = {CONFIG_FILE, WEIGHTS_FILE, OPTIMIZER_FILE}


@dataclass
class Checkpoint:
    model: MTPModel
    tokenizer: CharTokenizer
    metadata: dict = field(default_factory=dict)  # corpus, steps, seconds, per-head results, seed...
    optimizer_tensors: dict | None = None  # only when loaded with_optimizer=True


def holds_checkpoint(path: str) -> bool:
    """Does `path` hold a checkpoint written by tinymtp (a config.json that says so)?"""
    try:
        with open(os.path.join(path, CONFIG_FILE), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "tinymtp_version" in config and "model" in config


def check_checkpoint_target(path: str, overwrite: bool = False) -> None:
    """Raise a one-line TinyMTPError unless a checkpoint may be saved at `path`: a new name, an
    empty folder, or (with overwrite) a folder holding a tinymtp checkpoint and nothing else.
    The CLI calls this before training, so a refusal never costs a training run."""
    if os.path.isdir(path) and holds_checkpoint(path):
        others = sorted(set(os.listdir(path)) - CHECKPOINT_FILES)
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise TinyMTPError(f"refusing to replace the checkpoint in {path}: it also holds files tinymtp "
                               f"did not write ({shown}); move them or choose another name")
    check_target(path, "a checkpoint", holds_checkpoint, overwrite, folder=True)


def save_checkpoint(path: str, model: MTPModel, tokenizer: CharTokenizer, metadata: dict | None = None,
                    optimizer_tensors: dict | None = None, overwrite: bool = False) -> str:
    """Write the checkpoint directory atomically; returns its path.

    An existing checkpoint at `path` is replaced only with overwrite=True; anything else that
    exists there is refused (see tinymtp/files/safe_write.py)."""
    recover_folder(path)
    check_checkpoint_target(path, overwrite)
    config = {
        "tinymtp_version": __version__,
        "model": model.config.to_dict(),
        "vocab": tokenizer.vocab,
        "metadata": metadata or {},
    }

    def fill(folder: str) -> None:
        weights = {name: t.detach().to("cpu").contiguous() for name, t in model.state_dict().items()}
        save_file(weights, os.path.join(folder, WEIGHTS_FILE))
        if optimizer_tensors:
            save_file({k: v.detach().to("cpu").contiguous() for k, v in optimizer_tensors.items()},
                      os.path.join(folder, OPTIMIZER_FILE))
        with open(os.path.join(folder, CONFIG_FILE), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=1, ensure_ascii=False)

    return write_folder(path, fill, overwrite)


def _read_config(path: str) -> dict:
    if not os.path.isdir(path):
        raise TinyMTPError(f"checkpoint directory not found: {path}")
    config_path = os.path.join(path, CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise TinyMTPError(f"not a tinymtp checkpoint (no {CONFIG_FILE}): {path}")
    try:
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
        ModelConfig(**config["model"])
        CharTokenizer(config["vocab"])
    except TinyMTPError as exc:
        raise TinyMTPError(f"checkpoint {path} has an invalid {CONFIG_FILE}: {exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise TinyMTPError(f"checkpoint {path} has a corrupt {CONFIG_FILE} ({type(exc).__name__})") from None
    return config


def _read_tensors(path: str, name: str) -> dict:
    file = os.path.join(path, name)
    if not os.path.isfile(file):
        raise TinyMTPError(f"checkpoint {path} is missing {name}")
    try:
        return load_file(file)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TinyMTPError(f"checkpoint {path}: {name} is truncated or corrupt ({reason})") from None


def load_checkpoint(path: str, device: str = "cpu", with_optimizer: bool = False) -> Checkpoint:
    """Load a checkpoint directory; every way it can be broken gets a one-line TinyMTPError."""
    recover_folder(path)  # a save killed mid-replace left the old checkpoint aside
    config = _read_config(path)
    model_config = ModelConfig(**config["model"])
    tokenizer = CharTokenizer(config["vocab"])
    if tokenizer.vocab_size != model_config.vocab_size:
        raise TinyMTPError(f"checkpoint {path} is inconsistent: its vocabulary has {tokenizer.vocab_size} "
                           f"characters but the model expects {model_config.vocab_size}")
    weights = _read_tensors(path, WEIGHTS_FILE)
    model = MTPModel(model_config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = [k for k in expected if k in weights and weights[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        first = (missing or unexpected or wrong)[0]
        raise TinyMTPError(f"checkpoint {path} does not match its config.json "
                           f"({len(missing)} missing, {len(unexpected)} unexpected, {len(wrong)} "
                           f"wrongly shaped tensors; first: {first})")
    model.load_state_dict(weights)
    model.to(device).eval()
    optimizer_tensors = None
    if with_optimizer and os.path.isfile(os.path.join(path, OPTIMIZER_FILE)):
        optimizer_tensors = _read_tensors(path, OPTIMIZER_FILE)
    return Checkpoint(model, tokenizer, config.get("metadata", {}), optimizer_tensors)


def check_same_corpus(metadata: dict, corpus, checkpoint: str) -> None:
    """A corpus named like the checkpoint's but holding other text: one line naming both hashes.
    A corpus of another name is a deliberate choice (evaluating on stories, say) and passes, as
    does a checkpoint that recorded no hash (made before hashes were recorded)."""
    recorded, name = metadata.get("corpus_sha256"), metadata.get("corpus")
    if not recorded or name is None or os.path.normpath(name) != os.path.normpath(corpus.name):
        return
    if recorded != corpus.sha256:
        raise TinyMTPError(f"corpus '{corpus.name}' is not the text checkpoint {checkpoint} was trained on: its "
                           f"SHA-256 is {corpus.sha256[:12]}..., the checkpoint records {recorded[:12]}... "
                           "(the file changed since; pass the original, or another name to use this one)")


def read_metadata(path: str) -> dict:
    """The training metadata alone (cheap: does not load the weights)."""
    return _read_config(path).get("metadata", {})
