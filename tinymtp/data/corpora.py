"""Where the text comes from, how it is split, and how one batch feeds every head.

Three kinds of corpus, nothing downloaded:
- `python-stdlib` (the default): the source code of 45 modules of Python's standard library, about
  1.7 MB, shipped inside the package as one xz-compressed file (python_stdlib.txt.xz, 342 kB, under
  the Python Software Foundation licence: PYTHON_STDLIB_LICENSE.txt beside it). It was read from
  CPython 3.11.7; every interpreter reads these same bytes (Python 3.12 and 3.13 ship other sources,
  which would give other losses and other prompts), and the file's SHA-256 is checked on reading.
  Code is where multi-token prediction shines: indentation, keywords and closing brackets are
  easy to guess several characters ahead.
- `python-stdlib-local`: the same modules read from the running interpreter (how the shipped file
  was made); the same bytes on CPython 3.11.7 only.
- `stories`: simple English from a small grammar written here, seeded, about 1 MB.
- any path to a UTF-8 text file the user names.
Every corpus has a `sha256` (of its text as UTF-8); checkpoints record it, so a changed file is
named instead of silently giving other numbers (files/checkpoint.py).

The text is split 90/10 into train and validation by position (the last 10% is validation).
A batch carries a target for every head: head k at position t is trained to predict x[t+k], so
the target for head k is the input shifted left by k (see `make_batch` and `shift_targets`).

Explained in notebooks/01_corpus_and_tokenizer.ipynb.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import lzma
import os
import random
import sys
from dataclasses import dataclass
from functools import cached_property, lru_cache

import torch

from ..core.errors import TinyMTPError
from ..core.loss import IGNORE
from .tokenizer import CharTokenizer

BUILT_IN = ("python-stdlib", "stories")
LOCAL_STDLIB = "python-stdlib-local"  # the running interpreter's library: not offered by the app
STDLIB_FILE = "python_stdlib.txt.xz"  # in this folder; package data (pyproject.toml)
STDLIB_SHA256 = "c45f0f11788cdc1e0f7270d708230b6a6c7a0f0c4a6a5c2c0ce59da2427f5771"  # of the text, as UTF-8

# Pure-Python modules present in every CPython from 3.10 on; sorted, so the text is deterministic.
STDLIB_MODULES = (
    "argparse", "ast", "base64", "bisect", "calendar", "collections", "configparser",
    "contextlib", "copy", "csv", "dataclasses", "datetime", "difflib", "enum", "fractions",
    "functools", "gettext", "glob", "heapq", "hmac", "inspect", "ipaddress", "json.decoder",
    "json.encoder", "logging", "numbers", "operator", "optparse", "pathlib", "pprint", "queue",
    "random", "shlex", "shutil", "statistics", "string", "tempfile", "textwrap", "threading",
    "timeit", "tokenize", "traceback", "uuid", "warnings", "weakref",
)


@dataclass
class Corpus:
    """A named text with its character tokenizer and its 90/10 train/validation split."""

    name: str
    text: str
    val_fraction: float = 0.1

    def __post_init__(self):
        self.tokenizer = CharTokenizer.from_text(self.text)
        split = int(len(self.text) * (1 - self.val_fraction))
        self.train_text = self.text[:split]
        self.val_text = self.text[split:]

    def tokens(self, part: str, tokenizer: CharTokenizer | None = None) -> torch.Tensor:
        """The train or val text as a 1-D LongTensor of ids (with another model's tokenizer if given)."""
        text = {"train": self.train_text, "val": self.val_text}[part]
        return torch.tensor((tokenizer or self.tokenizer).encode(text), dtype=torch.long)

    @cached_property
    def sha256(self) -> str:
        """The text's fingerprint: checkpoints record it to tell a changed corpus apart."""
        return text_sha256(self.text)


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=1)
def python_stdlib_text() -> str:
    """The shipped standard-library text: the same bytes on every interpreter (checked)."""
    try:
        packed = importlib.resources.files(__package__).joinpath(STDLIB_FILE).read_bytes()
        text = lzma.decompress(packed).decode("utf-8")
    except (OSError, lzma.LZMAError, UnicodeDecodeError) as exc:
        raise TinyMTPError(f"cannot read the shipped corpus tinymtp/data/{STDLIB_FILE} ({type(exc).__name__}): "
                           "reinstall tinymtp") from None
    if text_sha256(text) != STDLIB_SHA256:
        raise TinyMTPError(f"the shipped corpus tinymtp/data/{STDLIB_FILE} is damaged (its SHA-256 is not "
                           f"{STDLIB_SHA256[:12]}...): reinstall tinymtp")
    return text


def interpreter_stdlib_text() -> str:
    """The same modules read from the running interpreter; on CPython 3.11.7 this is the shipped
    text, made by lzma.compress(text.encode("utf-8"), preset=9 | lzma.PRESET_EXTREME)."""
    parts = []
    for module in STDLIB_MODULES:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue
        with open(spec.origin, encoding="utf-8") as f:
            parts.append(f"# ---- {module} ----\n" + f.read())
    if not parts:
        raise TinyMTPError("could not read the Python standard library source on this interpreter")
    return "\n".join(parts)


_NAMES = ["Tom", "Lily", "Ben", "Mia", "Sam", "Anna", "Max", "Lucy", "Leo", "Emma", "Jack", "Sara"]
_ANIMALS = ["cat", "dog", "bird", "frog", "fox", "bear", "duck", "rabbit", "fish", "mouse"]
_PLACES = ["park", "garden", "forest", "house", "river", "school", "beach", "hill", "farm", "town"]
_THINGS = ["ball", "kite", "box", "hat", "book", "cake", "boat", "flower", "stone", "shell"]
_COLOURS = ["red", "blue", "green", "yellow", "big", "small", "shiny", "soft", "old", "new"]
_FEELINGS = ["happy", "sad", "scared", "tired", "proud", "hungry", "excited", "sleepy"]
_VERBS = ["play", "run", "jump", "sing", "read", "swim", "dance", "hide", "draw", "climb"]


def _story(rng: random.Random) -> str:
    """One short story from a fixed set of sentence patterns filled in by `rng`."""
    name, friend = rng.sample(_NAMES, 2)
    animal, place, thing = rng.choice(_ANIMALS), rng.choice(_PLACES), rng.choice(_THINGS)
    colour, feeling, verb = rng.choice(_COLOURS), rng.choice(_FEELINGS), rng.choice(_VERBS)
    opening = rng.choice([
        f"Once upon a time, there was a little {animal} named {name}.",
        f"One day, {name} the {animal} went to the {place}.",
        f"{name} was a {colour} {animal} who lived near the {place}.",
    ])
    middle = [
        f"{name} liked to {verb} in the {place}.",
        f"One day, {name} found a {colour} {thing}.",
        rng.choice([
            f"{name} felt {feeling} and wanted to show it to {friend}.",
            f"\"Look at my {thing}!\" said {name}. \"Can we {verb} with it?\"",
            f"{friend} said, \"I want the {thing} too!\"",
        ]),
        rng.choice([
            f"They went to the {rng.choice(_PLACES)} together.",
            f"But the {thing} fell into the {rng.choice(_PLACES)}.",
            f"{name} and {friend} shared the {thing}.",
        ]),
    ]
    ending = rng.choice([
        f"In the end, {name} and {friend} were {rng.choice(_FEELINGS)} friends.",
        f"{name} learned that sharing is good. The end.",
        f"After that, {name} liked to {rng.choice(_VERBS)} with {friend} every day.",
    ])
    return " ".join([opening, *middle, ending])


def stories_text(seed: int = 0, size: int = 1_000_000) -> str:
    """About `size` characters of synthetic children's stories, the same for the same seed."""
    rng = random.Random(seed)
    stories, total = [], 0
    while total < size:
        story = _story(rng)
        stories.append(story)
        total += len(story) + 2
    return "\n\n".join(stories)


def load_corpus(name_or_path: str = "python-stdlib", val_fraction: float = 0.1) -> Corpus:
    """A built-in corpus by name, or a UTF-8 text file by path; bad files get a one-line error."""
    if name_or_path == "python-stdlib":
        return Corpus("python-stdlib", python_stdlib_text(), val_fraction)
    if name_or_path == LOCAL_STDLIB:
        return Corpus(LOCAL_STDLIB, interpreter_stdlib_text(), val_fraction)
    if name_or_path == "stories":
        return Corpus("stories", stories_text(), val_fraction)
    path = name_or_path
    if not os.path.exists(path):
        raise TinyMTPError(f"corpus file not found: {path} (built-in corpora: {', '.join(BUILT_IN + (LOCAL_STDLIB,))})")
    if os.path.isdir(path):
        raise TinyMTPError(f"corpus path is a directory, not a text file: {path}")
    with open(path, "rb") as f:
        raw = f.read()
    return corpus_from_bytes(raw, path, val_fraction)


def corpus_from_bytes(raw: bytes, name: str, val_fraction: float = 0.1) -> Corpus:
    """A corpus from the bytes of an uploaded or opened file, checked to be non-empty UTF-8 text."""
    if not raw.strip():
        raise TinyMTPError(f"corpus file is empty: {name}")
    if b"\x00" in raw:
        raise TinyMTPError(f"corpus file is binary, not text: {name}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TinyMTPError(f"corpus file is not UTF-8 text: {name} (byte {exc.start})") from None
    return Corpus(name, text.replace("\r\n", "\n"), val_fraction)


def check_long_enough(corpus: Corpus, context_length: int, n_heads: int) -> None:
    """Both splits must hold at least one full window: context plus the furthest head's target."""
    need = context_length + n_heads + 1
    for part, text in (("training", corpus.train_text), ("validation", corpus.val_text)):
        if len(text) < need:
            raise TinyMTPError(
                f"corpus '{corpus.name}' is too short: its {part} part has {len(text)} characters, "
                f"needs at least {need} (context {context_length} + {n_heads} heads + 1)"
            )


def make_batch(data: torch.Tensor, batch_size: int, context_length: int, n_heads: int,
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of `data` with targets for every head.

    Each window is T + n characters long, so every position has a real target for every head:
    x = window[:T] and target[..., k-1] = window[k : k+T] (head k predicts x[t+k]).
    """
    T, n = context_length, n_heads
    starts = torch.randint(0, len(data) - T - n + 1, (batch_size,), generator=generator)
    windows = torch.stack([data[s : s + T + n] for s in starts.tolist()])  # (B, T+n)
    x = windows[:, :T]  # (B, T)
    targets = torch.stack([windows[:, k : k + T] for k in range(1, n + 1)], dim=-1)  # (B, T, n)
    return x, targets


def shift_targets(tokens: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Targets for every head from one sequence: head k's target is `tokens` shifted left by k.

    The last k positions have no token k steps ahead, so head k's target there is IGNORE (-100),
    not a real token. tokens: (B, T) -> targets: (B, T, n).
    """
    B, T = tokens.shape
    targets = torch.full((B, T, n_heads), IGNORE, dtype=torch.long, device=tokens.device)  # (B, T, n)
    for k in range(1, min(n_heads, T) + 1):  # heads reaching past the end keep IGNORE everywhere
        targets[:, : T - k, k - 1] = tokens[:, k:]
    return targets


def corpus_snippets(text: str, count: int = 8, length: int = 64, seed: int = 0) -> list:
    """`count` evenly spread pieces of `text`, each starting at a line start, at most `length` long
    (example prompts for the app and notebook 05)."""
    if count < 1 or length < 1:
        raise TinyMTPError("count and length must be positive")
    if not text:
        return []
    gen = torch.Generator().manual_seed(seed)
    span = max(1, len(text) - length)
    snippets = []
    for i in range(count):
        jitter = int(torch.randint(0, max(1, span // count), (1,), generator=gen))
        start = min(span - 1, i * span // count + jitter)
        line_start = text.find("\n", start)
        start = line_start + 1 if 0 <= line_start < start + length else start
        piece = text[start : start + length].lstrip("\n")
        if piece.strip():
            snippets.append(piece)
    return snippets


def corpus_summary(corpus: Corpus) -> dict:
    """Sizes a learner or the app can show."""
    return {
        "name": corpus.name,
        "characters": len(corpus.text),
        "vocab_size": corpus.tokenizer.vocab_size,
        "train_characters": len(corpus.train_text),
        "val_characters": len(corpus.val_text),
        "sha256": corpus.sha256,
        "python": sys.version.split()[0],
    }
