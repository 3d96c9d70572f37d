"""The offline replay (tinymtp/viz/replay.py): one self-contained HTML file, from Python and from
`generate --html`, played in Chromium with the network blocked."""

from __future__ import annotations

import json
import os
import re

import pytest
import torch
from conftest import CHECKPOINTS, assert_one_line_error, run_cli

from tinymtp.analysis.repetition import loop_round, loop_start
from tinymtp.core.errors import TinyMTPError
from tinymtp.decoding.decode import generate
from tinymtp.decoding.settings import DecodeHooks, DecodeSettings
from tinymtp.decoding.trace import Round, Trace
from tinymtp.files.checkpoint import load_checkpoint
from tinymtp.viz.replay import is_replay, replay_html

SHIPPED = CHECKPOINTS / "mtp-4head"
PROMPT = "def main(<x>):\n    "  # '<' and '>' must come out escaped
OUTSIDE = [r"https?://", r"\bsrc\s*=", r"\bhref\s*=\s*[\"']?(?!#)", r"@import", r"url\(", r"fetch\(",
           r"XMLHttpRequest", r"<link\b", r"<iframe\b"]


@pytest.fixture(scope="module")
def shipped():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield load_checkpoint(str(SHIPPED))
    torch.set_num_threads(old)


def run(ckpt, mode, tokens=60, draft_model=None, keep_rounds=True, **kwargs):
    return generate(ckpt.model, ckpt.tokenizer, PROMPT, DecodeSettings(mode, tokens, **kwargs), draft_model,
                    DecodeHooks(keep_rounds=keep_rounds))


def embedded(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="replay-data">(.*?)</script>', page, re.S)
    assert found, "no embedded data"
    return json.loads(found.group(1))


@pytest.mark.parametrize("mode", ["speculative", "tree", "speculative-sample", "greedy"])
def test_the_page_refers_to_nothing_outside_itself(shipped, mode):
    page = replay_html(PROMPT, run(shipped, mode, temperature=0.8).trace, shipped.tokenizer)
    for pattern in OUTSIDE:
        assert not re.search(pattern, page, re.I), f"{pattern} found in the replay"
    assert page.count("<script") == 2 and page.count("</script>") == 2  # the data and the player, nothing more
    assert "<x>" not in page and embedded(page)["prompt"] == PROMPT  # written as \u003cx>, read back whole


def test_every_rounds_text_is_in_the_embedded_data(shipped):
    result = run(shipped, "speculative")
    data = embedded(replay_html(PROMPT, result.trace, shipped.tokenizer))
    assert data["prompt"] == PROMPT
    assert len(data["rounds"]) == len(result.trace.rounds)
    for shown, rnd in zip(data["rounds"], result.trace.rounds):
        assert shown["text"] == shipped.tokenizer.decode(rnd.committed)
        assert len(shown["drafts"]) == len(rnd.checks)
        assert [d["verdict"] == "accepted" for d in shown["drafts"]] == [c.accepted for c in rnd.checks]
    assert "".join(r["text"] for r in data["rounds"]) == result.text
    last = data["rounds"][-1]
    assert last["tokens"] == len(result.tokens) and last["forwards"] == result.trace.forwards


def test_tree_rounds_carry_their_tree_and_mask(shipped):
    result = run(shipped, "tree")
    data = embedded(replay_html(PROMPT, result.trace, shipped.tokenizer))
    trees = [(r, rnd) for r, rnd in zip(data["rounds"], result.trace.rounds) if rnd.tree]
    assert trees
    for shown, rnd in trees:
        assert shown["svg"].startswith("<svg") and "tree attention mask" in shown["svg"]
        assert shown["svg"].count("<rect") == len(rnd.tree["nodes"]) + 1  # a box per node and the mask's frame
        filled = sum(map(sum, rnd.tree["mask"]))
        assert shown["svg"].count("z") >= filled  # a path cell per visible pair


def test_a_prompt_cannot_close_the_script(shipped):
    hostile = "</script><script>alert(1)</script>"
    page = replay_html(hostile, run(shipped, "speculative", tokens=5).trace, "".join(shipped.tokenizer.vocab))
    assert page.count("</script>") == 2 and "alert(1)" in embedded(page)["prompt"]


@pytest.mark.parametrize("mode", ["speculative", "tree"])
def test_a_2000_token_replay_stays_under_5_mb(shipped, mode):
    page = replay_html(PROMPT, run(shipped, mode, tokens=2000).trace, shipped.tokenizer)
    size = len(page.encode("utf-8"))
    print(f"{mode}: 2000 tokens -> {size / 1e6:.2f} MB")
    assert size < 5_000_000


def test_a_run_without_rounds_is_one_clear_error(shipped):
    result = run(shipped, "speculative", keep_rounds=False)
    with pytest.raises(TinyMTPError, match="keep_rounds"):
        replay_html(PROMPT, result.trace, shipped.tokenizer)


def test_generate_html_writes_a_replay_and_follows_the_write_rule(tmp_path):
    target = tmp_path / "run.html"
    args = ["generate", "--checkpoint", SHIPPED, "--prompt", "def f():", "--mode", "speculative",
            "--max-new-tokens", "30", "--html", target]
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    assert is_replay(str(target)) and len(embedded(target.read_text())["rounds"]) > 1
    again = run_cli(*args)  # ours, but no --overwrite
    assert_one_line_error(again, "--overwrite")
    assert run_cli(*args, "--overwrite").returncode == 0
    foreign = tmp_path / "notes.html"
    foreign.write_text("<html>my slides</html>")
    refused = run_cli(*args[:-1], foreign, "--overwrite")
    assert_one_line_error(refused, "not a replay")
    assert foreign.read_text() == "<html>my slides</html>"
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_generate_html_has_the_trace_cap(tmp_path):
    done = run_cli("generate", "--checkpoint", SHIPPED, "--prompt", "a", "--max-new-tokens", "20001",
                   "--html", tmp_path / "x.html")
    assert_one_line_error(done, "--html", "20000")
    assert not (tmp_path / "x.html").exists()


VOCAB = "ab =\n"


def looping_trace(loop: bool) -> Trace:
    """A made-up speculative run over VOCAB: "ab" then either spaces to the end (a loop) or varied text."""
    chunks = ["a", "b=", "ab"] + (["   "] * 30 if loop else ["a=b", "\nba", "=\na", "b a", "ab=", "\n=b", "a b"])
    rounds = [Round(index=i, kind="prefill" if i == 0 else "verify", fed=[0],
                    committed=[VOCAB.index(c) for c in chunk]) for i, chunk in enumerate(chunks)]
    return Trace(mode="speculative", drafters=[2, 3], rounds=rounds)


def test_a_looping_run_is_marked_from_the_round_that_starts_the_loop():
    looping = embedded(replay_html("x", looping_trace(True), VOCAB))
    text = "".join(r["text"] for r in looping["rounds"])
    start = loop_start(text)
    assert start is not None and looping["loop_round"] == loop_round(looping_trace(True).rounds, start) == 3
    assert [r["loop"] for r in looping["rounds"]] == [False] * 3 + [True] * 30
    assert "every draft is easy" in looping["loop_note"] and "round 3" in looping["loop_note"]
    varied = embedded(replay_html("x", looping_trace(False), VOCAB))
    assert varied["loop_round"] is None and varied["loop_note"] is None
    assert not any(r["loop"] for r in varied["rounds"])


@pytest.mark.slow
@pytest.mark.browser
def test_the_loop_banner_shows_from_the_loops_round_on(chromium, tmp_path):
    path = tmp_path / "loop.html"
    path.write_text(replay_html("x", looping_trace(True), VOCAB), encoding="utf-8")
    page = chromium.new_page()
    page.goto(path.as_uri())
    assert page.locator("#loop").inner_text() == "" and not page.locator("#loop").is_visible()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    assert "every draft is easy" in page.locator("#loop").inner_text() and page.locator("#loop").is_visible()
    assert page.locator("#text span.loopstart").count() == 1
    page.keyboard.press("ArrowLeft")
    assert page.locator("#loop").inner_text() == ""
    page.close()


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("mode", ["speculative", "tree"])
def test_the_replay_plays_from_disk_with_the_network_blocked(shipped, tmp_path, mode, chromium):
    result = run(shipped, mode, tokens=40)
    path = tmp_path / "replay.html"
    path.write_text(replay_html(PROMPT, result.trace, shipped.tokenizer), encoding="utf-8")
    total, last = len(result.trace.rounds), result.trace.rounds[-1].index
    context = chromium.new_context(viewport={"width": 1200, "height": 900})  # the session's one Chromium
    outside, errors = [], []
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                  else (outside.append(route.request.url), route.abort()))
    page = context.new_page()
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith("file:") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    counter, text = page.locator("#counter"), page.locator("#text")
    assert counter.inner_text() == f"Round 0 of {last}"  # the prefill is round 0, as in the app
    written = PROMPT + shipped.tokenizer.decode(result.trace.rounds[0].committed)
    assert text.inner_text() == written
    for i in range(1, total):
        page.click("#next")
        written += shipped.tokenizer.decode(result.trace.rounds[i].committed)
        assert counter.inner_text() == f"Round {result.trace.rounds[i].index} of {last}"
        assert text.inner_text() == written
        if result.trace.rounds[i].tree:
            assert page.locator("#round svg rect").count() > 1
    assert page.locator("#next").is_disabled()
    page.keyboard.press("ArrowLeft")
    assert counter.inner_text() == f"Round {result.trace.rounds[-2].index} of {last}"
    page.click("#back")
    assert counter.inner_text() == f"Round {result.trace.rounds[-3].index} of {last}"
    context.close()
    assert outside == [] and errors == []
