"""`generate` streams its text, keeps no rounds unless asked, and stops on Ctrl-C with a summary.

The memory figure (peak memory of a 100,000-token run) is measured by
benchmarks/generate_memory.py, not here: a timed or memory test would flake on a busy machine.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time

import pytest
from conftest import CHECKPOINTS, ROOT, assert_one_line_error

from tinymtp.cli import build_parser, main
from tinymtp.cli import generate as cli_generate
from tinymtp.core.errors import TinyMTPError
from tinymtp.decoding.decode import generate
from tinymtp.decoding.settings import DecodeHooks, DecodeSettings
from tinymtp.files.checkpoint import load_checkpoint

MTP = CHECKPOINTS / "mtp-4head"
PROMPT = "def parse(self, text):\n"
TIMING = ("seconds", "tokens_per_second")  # wall time differs between two runs; everything else must not

pytestmark = pytest.mark.skipif(not (MTP / "config.json").is_file(), reason="the shipped checkpoint is not here")


def read_some(proc, wanted: int, timeout: float = 120.0) -> bytes:
    """Read at least `wanted` bytes of the child's stdout as they arrive (no waiting for its end)."""
    got = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while len(got) < wanted and time.monotonic() < deadline:
            if sel.select(timeout=1.0):
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                got += chunk
    return got


@pytest.mark.slow  # a real process, interrupted
def test_text_streams_while_running_and_ctrl_c_prints_the_summary():
    proc = subprocess.Popen([sys.executable, "-m", "tinymtp", "generate", "--checkpoint", str(MTP), "--prompt",
                             PROMPT, "--mode", "speculative", "--max-new-tokens", "100000000"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = read_some(proc, len(PROMPT) + 40)
        assert proc.poll() is None, proc.stderr.read().decode()  # still running: 10^8 tokens take hours
        assert first.decode().startswith(PROMPT) and len(first) >= len(PROMPT) + 40
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = err.decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("[stopped by Ctrl-C, speculative: ") and "tokens/forward" in err
    text = (first + rest).decode()
    assert text.endswith("\n")
    generated = text[len(PROMPT) : -1]
    assert f": {len(generated)} tokens in " in err  # the summary counts exactly what was printed


def test_json_is_one_object_at_the_end_with_rounds_only_with_trace(cli):
    proc = cli("generate", "--checkpoint", MTP, "--prompt", PROMPT, "--mode", "speculative",
               "--max-new-tokens", "50", "--json")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 1 and proc.stderr == ""
    data = json.loads(proc.stdout)
    assert "rounds" not in data and len(data["tokens"]) == 50 and data["summary"]["stop_reason"] == "max_new_tokens"
    assert {"acceptance_per_head", "acceptance_conditional", "acceptance_share_of_rounds", "acceptance_length",
            "drafts_accepted_per_round"} <= set(data["summary"])
    traced = json.loads(cli("generate", "--checkpoint", MTP, "--prompt", PROMPT, "--mode", "speculative",
                            "--max-new-tokens", "50", "--json", "--trace").stdout)
    assert len(traced["rounds"]) == traced["summary"]["forwards"] and traced["tokens"] == data["tokens"]
    assert {k: v for k, v in traced["summary"].items() if k not in TIMING} == \
        {k: v for k, v in data["summary"].items() if k not in TIMING}


def test_trace_for_a_huge_run_is_a_one_line_error(cli):
    proc = cli("generate", "--checkpoint", MTP, "--prompt", "a", "--max-new-tokens",
               str(cli_generate.MAX_TRACE_TOKENS + 1), "--trace")
    assert_one_line_error(proc, "--trace", str(cli_generate.MAX_TRACE_TOKENS))
    assert proc.stdout == ""
    helps = build_parser()._subparsers._group_actions[0].choices["generate"].format_help()
    assert f"at most {cli_generate.MAX_TRACE_TOKENS} new tokens" in " ".join(helps.split())


def test_the_cli_keeps_no_rounds_without_trace(monkeypatch, capsys):
    import tinymtp.cli.generate

    seen = []

    def spy(*args, **kwargs):
        result = generate(*args, **kwargs)
        seen.append(result)
        return result

    monkeypatch.setattr(tinymtp.cli.generate, "generate", spy)  # the generate the CLI calls
    for extra in ([], ["--json"]):
        assert main(["generate", "--checkpoint", str(MTP), "--prompt", PROMPT, "--mode", "tree",
                     "--max-new-tokens", "200", *extra]) == 0
        trace = seen[-1].trace
        assert trace.rounds == [] and not trace.keep_rounds and trace.summary()["tokens"] == 200
    out = capsys.readouterr().out
    assert out.startswith(PROMPT + seen[0].text + "\n")
    assert json.loads(out.splitlines()[-1])["text"] == seen[1].text == seen[0].text


@pytest.fixture(scope="module")
def models(one_thread):
    main_ckpt = load_checkpoint(str(MTP))
    draft = load_checkpoint(str(CHECKPOINTS / "draft"))
    return main_ckpt, draft.model


@pytest.mark.parametrize("mode,kwargs", [
    ("greedy", {}), ("sample", dict(temperature=0.8, seed=1)), ("speculative", {}),
    ("speculative-sample", dict(temperature=0.8, seed=2)), ("draft-model", dict(temperature=0.8, seed=3)),
    ("tree", {})])
def test_summary_is_the_same_with_and_without_kept_rounds(models, mode, kwargs):
    """200 tokens cross a context-window restart; the streamed pieces add up to the text."""
    ckpt, draft = models
    settings, draft = DecodeSettings(mode, 200, **kwargs), draft if mode == "draft-model" else None
    kept = generate(ckpt.model, ckpt.tokenizer, PROMPT, settings, draft)
    pieces = []
    totals = generate(ckpt.model, ckpt.tokenizer, PROMPT, settings, draft,
                      DecodeHooks(keep_rounds=False, on_round=lambda r: pieces.append(r.committed)))
    assert totals.trace.rounds == [] and len(kept.trace.rounds) == kept.trace.forwards
    assert totals.tokens == kept.tokens and [t for p in pieces for t in p] == kept.tokens
    strip = lambda s: {k: v for k, v in s.items() if k not in TIMING}
    assert strip(totals.trace.summary()) == strip(kept.trace.summary())
    assert kept.trace.summary()["window_restarts"] >= 1
    with pytest.raises(TinyMTPError, match="totals only"):
        _ = totals.trace.tokens


def test_should_stop_ends_after_the_current_round(models):
    ckpt, _ = models
    greedy = generate(ckpt.model, ckpt.tokenizer, PROMPT, DecodeSettings("greedy", 100))
    seen = []
    stopped = generate(ckpt.model, ckpt.tokenizer, PROMPT, DecodeSettings("speculative", 100), hooks=DecodeHooks(on_round=seen.append, should_stop=lambda: len(seen) >= 5))
    assert stopped.trace.stop_reason == "stopped" and stopped.trace.forwards == 5
    assert stopped.tokens == greedy.tokens[: len(stopped.tokens)] and 5 <= len(stopped.tokens) < 100


def test_the_first_ctrl_c_asks_to_stop_and_the_second_interrupts():
    """The handler is only in place around decoding; outside it Ctrl-C ends as before (exit 130)."""
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with cli_generate.StopOnCtrlC() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested()
        with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C stops at once
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
