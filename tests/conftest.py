"""Shared test helpers: a small trained checkpoint, a CLI runner, and paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import strategies as st

from tinymtp.core.config import HEAD_TYPES
from tinymtp.core.kvcache import KVCache
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.files.paths import checkpoints_dir

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = checkpoints_dir()  # the one place that says where (tinymtp/files/paths.py)


def run_cli(*args, timeout=300, cwd=None, env=None):
    """Run `python -m tinymtp ARGS` in a subprocess; returns CompletedProcess with text output.

    A new Python that imports torch costs seconds: the tests start one per command (the real entry
    point, stdout holding nothing but what the command prints) plus the Ctrl-C and kill tests, and
    test everything else in this process through the `cli` fixture."""
    return subprocess.run([sys.executable, "-m", "tinymtp", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or ROOT, env={**os.environ, **(env or {})})


@pytest.fixture
def cli(capsys, monkeypatch):
    """`cli(*args, cwd=None, env=None)`: `python -m tinymtp ARGS` run in this process through
    `tinymtp.cli.main.main(argv)`, returning what `run_cli` returns (returncode, stdout, stderr).

    An argparse refusal (SystemExit 2) becomes the return code, as in a real process; any other
    exception propagates and fails the test, as a traceback would. The thread count a command sets
    (`--threads`, `generate`'s one thread) is put back afterwards."""
    from tinymtp.cli.main import main

    def run(*args, cwd=None, env=None):
        argv = [str(a) for a in args]
        capsys.readouterr()  # what the test printed before is not the command's output
        threads = torch.get_num_threads()
        with monkeypatch.context() as patch:
            patch.chdir(cwd or ROOT)
            for name, value in (env or {}).items():
                patch.setenv(name, str(value))
            try:
                code = main(argv)
            except SystemExit as stop:  # what Python does with sys.exit(code) at the top
                code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
                if isinstance(stop.code, str):
                    print(stop.code, file=sys.stderr)
            finally:
                torch.set_num_threads(threads)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess([sys.executable, "-m", "tinymtp", *argv], code, out, err)

    return run


def assert_one_line_error(proc, *words):
    """A user error: non-zero exit, exactly one line on stderr naming the problem, no traceback."""
    assert proc.returncode != 0, proc.stdout
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]


@pytest.fixture(scope="session")
def small_text_file(tmp_path_factory) -> Path:
    from tinymtp.data.corpora import stories_text

    path = tmp_path_factory.mktemp("corpus") / "stories.txt"
    path.write_text(stories_text(seed=1, size=40_000), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory, small_text_file) -> Path:
    """A micro 3-head model trained for a few steps, saved with its optimizer state."""
    from tinymtp.core.model import ModelConfig
    from tinymtp.data.corpora import load_corpus
    from tinymtp.files.checkpoint import save_checkpoint
    from tinymtp.training.train import TrainConfig, train, training_metadata

    corpus = load_corpus(str(small_text_file))
    model_config = ModelConfig.from_preset("micro", vocab_size=corpus.tokenizer.vocab_size, n_heads=3)
    train_config = TrainConfig(steps=20, batch_size=8, eval_every=10, eval_batches=2, seed=3)
    result = train(model_config, train_config, corpus)
    path = tmp_path_factory.mktemp("ckpt") / "micro3"
    save_checkpoint(str(path), result.model, corpus.tokenizer, training_metadata(result, corpus, train_config),
                    result.optimizer_tensors)
    return path


@pytest.fixture(scope="session")
def learner_runs(tmp_path_factory) -> Path:
    """A runs/ folder holding a small 4-head model saved where notebook 04 saves it (runs/my-model),
    made once: notebooks 05-07 study it, and notebook 04 in fast mode must leave it untouched."""
    from tinymtp.data.corpora import load_corpus
    from tinymtp.files.checkpoint import save_checkpoint
    from tinymtp.files.paths import LEARNER_MODEL_NAME
    from tinymtp.training.train import TrainConfig, train, training_metadata

    folder = tmp_path_factory.mktemp("learner-runs")
    corpus = load_corpus("python-stdlib")
    model_config = ModelConfig(vocab_size=corpus.tokenizer.vocab_size, context_length=64, d_model=32, n_layers=1,
                               attn_heads=2, n_heads=4)
    train_config = TrainConfig(steps=20, batch_size=8, warmup_steps=5, eval_every=20, eval_batches=1, seed=0,
                               threads=1)
    result = train(model_config, train_config, corpus)
    save_checkpoint(str(folder / LEARNER_MODEL_NAME), result.model, corpus.tokenizer,
                    training_metadata(result, corpus, train_config))
    return folder


@pytest.fixture(scope="session", autouse=True)
def notebook_runs(request, tmp_path_factory):
    """{(notebook, "empty" or "learner"): its run}[key] for every notebook run the session's tests ask
    for, each made once, from the session's first test on, on the core the other tests leave free
    (tests/notebook_runs.py). A session without notebook tests starts none."""
    from notebook_runs import LEARNER, NotebookRuns, runs_wanted

    wanted = runs_wanted(request.session.items)
    learner = request.getfixturevalue("learner_runs") if any(kind == LEARNER for _, kind in wanted) else None
    runs = NotebookRuns(wanted, learner, tmp_path_factory.mktemp("notebook-runs"))
    if wanted:
        runs.start_in_background()
    yield runs
    runs.stop()


def random_model(vocab_size=6, n_heads=3, head_type="linear", context_length=16, seed=0, std=0.3):
    """A tiny float64 model with random weights everywhere (so the heads disagree with head 1).

    Large embeddings keep the text varied; smaller other weights keep the softmaxes from saturating.
    """
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=vocab_size, context_length=context_length, d_model=16, n_layers=1,
                      attn_heads=2, n_heads=n_heads, head_type=head_type)
    model = MTPModel(cfg).double().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.normal_(0.0, 1.0 if "embedding" in name else std)
    return model


@pytest.fixture(scope="module")
def one_thread():
    """One PyTorch thread for a module of many tiny forwards: a second thread only adds wake-up latency."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.hookimpl(tryfirst=True)  # before -m picks the tests
def pytest_collection_modifyitems(items):
    """A test that drives Chromium is slow by nature (a server, a browser, pages drawn): the quick
    run, `pytest -m "not slow"`, leaves every `browser` test out too."""
    for item in items:
        if item.get_closest_marker("browser") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread_for_the_session():
    """The tests' models are tiny: PyTorch's second thread only adds wake-up latency, and on a 2-core
    machine it spins against the app server, Chromium and the notebook kernels the tests start
    (tests/test_model.py and test_causal.py: 61 s with two threads on a busy machine, 6 s with one).
    Processes the tests start keep PyTorch's default."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# One random decoding case for the property-based exactness tests (speculative and tree decoding):
# a float64 random model of any head type, contexts short enough that the window restarts.
DECODING_CASES = dict(head_type=st.sampled_from(HEAD_TYPES), n_heads=st.integers(1, 4),
                      vocab_size=st.integers(2, 7), context_length=st.integers(2, 16), seed=st.integers(0, 10_000),
                      prompt=st.lists(st.integers(0, 6), min_size=1, max_size=24),
                      max_new_tokens=st.integers(1, 48))


def greedy_case(head_type, n_heads, vocab_size, context_length, seed, prompt, max_new_tokens):
    """(model, prompt, plain greedy result) for one DECODING_CASES example."""
    from tinymtp.decoding.decode import decode_ids

    if head_type == "sequential":
        n_heads = max(n_heads, 2)  # a sequential model has heads 2..n that read the drafts: at least two
    model = random_model(vocab_size, n_heads, head_type, context_length, seed)
    prompt = [t % vocab_size for t in prompt]
    return model, prompt, decode_ids(model, prompt, DecodeSettings("greedy", max_new_tokens))


class PoisonedCache(KVCache):
    """Every slot a `truncate` or `keep` forgets becomes NaN: reading a rejected entry would show."""

    def keep(self, start, offsets):
        super().keep(start, offsets)
        self.keys[:, :, :, self.length :] = float("nan")
        self.values[:, :, :, self.length :] = float("nan")

    def truncate(self, length):
        super().truncate(length)
        self.keys[:, :, :, length:] = float("nan")
        self.values[:, :, :, length:] = float("nan")


def poison_forgotten_slots(model, monkeypatch) -> None:
    """Make `model.new_cache` hand out PoisonedCaches of the same shape."""
    original = model.new_cache

    def poisoned_cache(batch_size=1):
        c = original(batch_size)
        return PoisonedCache(c.keys.size(0), c.keys.size(2), c.keys.size(4), c.max_length, batch_size,
                             c.keys.dtype, c.keys.device)

    monkeypatch.setattr(model, "new_cache", poisoned_cache)


# ---- the app's tests: ONE set of tiny checkpoints, ONE app server and ONE Chromium per test session --
# (test_app*.py, test_tour.py, test_browser.py and test_replay.py share them; see test_app_fixtures.py)

@pytest.fixture(scope="session")
def app_checkpoints(tmp_path_factory) -> Path:
    """mtp-4head, ntp-1head, draft and causal-4head, tiny, trained in seconds once per session."""
    from test_app_fixtures import make_checkpoints

    return make_checkpoints(tmp_path_factory.mktemp("app-checkpoints"))


@pytest.fixture(scope="session")
def app_server(app_checkpoints, tmp_path_factory):
    """The real Streamlit server on those checkpoints, started once per session; yields its URL."""
    from test_app_fixtures import require_chromium, serve_app

    require_chromium()
    pytest.importorskip("playwright.sync_api")
    with serve_app(app_checkpoints, tmp_path_factory.mktemp("server")) as (url, _queue_log):
        yield url


@pytest.fixture(scope="session")
def chromium():
    """One headless Debian Chromium for the session (pages are opened per test module)."""
    from test_app_fixtures import launch_chromium

    with launch_chromium() as browser:
        yield browser
