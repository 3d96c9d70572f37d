"""Helpers (no tests) for the app's tests: tiny checkpoints trained in seconds, the server, Chromium.

The app's tests point the app at these through TINYMTP_CHECKPOINTS, so they never depend on the
shipped checkpoints (which may not exist yet, and are slower). tests/conftest.py makes ONE set of
checkpoints, ONE server and ONE Chromium per test session from these (`app_checkpoints`,
`app_server`, `chromium`), shared by every module that needs them.

Chromium is Debian's (/usr/bin/chromium) driven by Playwright with `executable_path`; never
`playwright install`, which downloads a browser. Outside CI (env CI unset) the browser tests skip
when it is missing; in CI they must run.
"""

from __future__ import annotations

import contextlib
import os
import string
from pathlib import Path

import pytest
from app_load import serve_app  # noqa: F401  (benchmarks/ is on the tests' path: pyproject's pythonpath)

APP = Path(__file__).resolve().parent.parent / "app" / "streamlit_app.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# every printable ASCII character is in the vocabulary, so prompts such as "<img src=x>" are valid
EXTRA = string.printable.replace("\x0b", "").replace("\x0c", "").replace("\r", "")


def mini_corpus():
    from tinymtp.data.corpora import Corpus, stories_text

    return Corpus("mini-stories", stories_text(seed=2, size=30_000) + "\n" + EXTRA + "\n")


def make_checkpoints(root: Path, steps: int = 12) -> Path:
    """mtp-4head, ntp-1head, draft and causal-4head (micro preset, a few steps each) under `root`."""
    from tinymtp.core.model import ModelConfig
    from tinymtp.files.checkpoint import save_checkpoint
    from tinymtp.training.train import TrainConfig, train, training_metadata

    corpus = mini_corpus()
    root.mkdir(parents=True, exist_ok=True)
    for name, heads, head_type in (("mtp-4head", 4, "linear"), ("ntp-1head", 1, "linear"), ("draft", 1, "linear"),
                                   ("causal-4head", 4, "causal")):
        model_config = ModelConfig.from_preset("micro", vocab_size=corpus.tokenizer.vocab_size, n_heads=heads,
                                               head_type=head_type)
        train_config = TrainConfig(steps=steps, batch_size=8, eval_every=steps // 2, eval_batches=2, seed=heads)
        result = train(model_config, train_config, corpus)
        save_checkpoint(str(root / name), result.model, corpus.tokenizer,
                        training_metadata(result, corpus, train_config))
    return root


def start_app(checkpoints: Path, tmp_path: Path, monkeypatch, timeout: int = 60):
    """A fresh AppTest session of the app on these checkpoints, with its own runs/ and no saved
    results (tests that want results set TINYMTP_RESULTS themselves), run once."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("TINYMTP_CHECKPOINTS", str(checkpoints))
    monkeypatch.setenv("TINYMTP_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("TINYMTP_RESULTS", str(tmp_path / "no-results"))
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    at.run()
    return at


def require_chromium():
    if os.path.exists(CHROMIUM):
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} is missing (install it with: apt-get install chromium); runs in CI")


@contextlib.contextmanager
def launch_chromium():
    """A headless Chromium through Playwright (skips or fails as require_chromium says)."""
    require_chromium()
    pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
