"""Self-distillation (tinymtp/training/distill.py, distill_targets.py): greedy's path and its soft target
are the decoder's, head 1 never changes in the frozen recipe and does in the joint one, heads
2..n come to agree with greedy decoding on held-out text (hard) or with its distribution (soft),
speculative decoding stays exact, and the CLI writes safely."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from conftest import assert_one_line_error, run_cli

from tinymtp.analysis.predictions import greedy_continuations
from tinymtp.core.errors import TinyMTPError
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.data.corpora import load_corpus
from tinymtp.decoding.decode import decode_ids
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.files.checkpoint import load_checkpoint
from tinymtp.training.distill import (
    DistillConfig,
    distill,
    generated_windows,
    greedy_agreement,
    greedy_targets,
    head_scores,
    held_out_windows,
    parameter_groups,
)
from tinymtp.training.distill_targets import (
    greedy_path,
    soft_losses,
    teacher_forced_losses,
    teacher_log_probs,
)
from tinymtp.training.evaluate import evaluate


@pytest.fixture(scope="module")
def corpus(small_text_file):
    return load_corpus(str(small_text_file))


@pytest.fixture(scope="module")
def random_heads(trained_checkpoint):
    """The trained micro model with heads 2..n set back to random weights: a start to distill from."""
    model = load_checkpoint(str(trained_checkpoint)).model
    torch.manual_seed(5)
    with torch.no_grad():
        for head in model.heads[1:]:
            for p in head.parameters():
                p.normal_(0.0, 0.2)
    return model


def config(**overrides):
    """The frozen recipe on greedy's tokens unless a test says otherwise (the library's default is the
    shipped joint recipe, tested in test_the_defaults_are_the_shipped_recipe)."""
    return DistillConfig(**{"steps": 60, "batch_size": 8, "learning_rate": 3e-3, "warmup_steps": 5,
                            "eval_every": 30, "eval_windows": 8, "seed": 2, "threads": 1, "target": "hard",
                            "train_trunk": False, **overrides})


@pytest.fixture(scope="module")
def distilled(random_heads, corpus):
    return distill(random_heads, corpus, config())


def test_greedy_targets_are_the_greedy_decoders_tokens(random_heads):
    x = torch.tensor([[3, 5, 7, 2, 9, 4], [1, 1, 2, 3, 5, 8]])  # (2, 6)
    targets = greedy_targets(random_heads, x)  # (2, 6, 3)
    for b in range(2):
        for t in range(6):
            expected = decode_ids(random_heads, x[b, : t + 1].tolist(), DecodeSettings("greedy", 3)).tokens
            assert targets[b, t].tolist() == expected


def test_greedy_path_is_head_1_along_the_greedy_decoders_path(random_heads):
    x = torch.tensor([[3, 5, 7, 2, 9, 4], [1, 1, 2, 3, 5, 8]])  # (2, 6)
    tokens, logits = greedy_path(random_heads, x)  # (2, 6, 3), (2, 6, 3, V)
    for b in range(2):  # golden reference: one prompt's prefixes continued by analysis.predictions
        assert torch.equal(tokens[b], greedy_continuations(random_heads, x[b].tolist(), 3))
    for b, t in [(0, 0), (0, 4), (1, 5)]:  # the teacher at step j: head 1 after the prefix and j greedy tokens
        for j in range(3):
            row = torch.cat([x[b, : t + 1], tokens[b, t, :j]])[None]  # (1, t+1+j)
            expected = random_heads(row, heads=1).logits[0, -1, 0]  # (V,)
            assert torch.allclose(logits[b, t, j], expected, atol=1e-5)
    soft = torch.softmax(logits, dim=-1)  # (2, 6, 3, V): the soft target
    assert torch.equal(soft.argmax(-1), greedy_targets(random_heads, x))  # the hard target, everywhere


def test_soft_loss_is_the_kl_from_head_1_at_the_same_step_ahead():
    torch.manual_seed(0)
    logits, path = torch.randn(2, 5, 3, 7), torch.randn(2, 5, 3, 7)  # (B, L, n, V) each
    teacher = teacher_log_probs(path)  # (2, 5, 3, 7)
    for k, loss in zip((2, 3), soft_losses(logits, teacher)):  # head k against head 1's step k
        p, log_q = path[:, :, k - 1].softmax(-1), logits[:, :, k - 1].log_softmax(-1)  # (2, 5, 7) each
        expected = (p * (p.log() - log_q)).sum(-1).mean()  # KL(p || q) per position, averaged
        assert torch.allclose(loss, expected, atol=1e-6)


def test_head_1_and_the_trunk_are_bit_identical(random_heads, distilled, corpus):
    x = corpus.tokens("val")[:30][None]  # (1, 30)
    before, after = random_heads(x).logits, distilled.model(x).logits  # (1, 30, n, V) each
    assert torch.equal(before[:, :, 0], after[:, :, 0])
    assert not torch.equal(before[:, :, 1:], after[:, :, 1:])  # heads 2..n did train
    for name, p in random_heads.state_dict().items():
        if not name.startswith(("heads.1.", "heads.2.")):
            assert torch.equal(p, distilled.model.state_dict()[name]), name
    assert distilled.head1_val_loss == distilled.head1_val_loss_before


def test_the_model_passed_in_is_left_alone(trained_checkpoint, corpus):
    model = load_checkpoint(str(trained_checkpoint)).model
    weights = copy.deepcopy(model.state_dict())
    distill(model, corpus, config(steps=3))
    assert all(torch.equal(weights[name], p) for name, p in model.state_dict().items())


def test_greedy_agreement_rises_on_held_out_windows(random_heads, distilled, corpus):
    x = held_out_windows(random_heads, corpus.tokens("val"), 30, 12)  # (12, 30): windows the run never saw
    greedy = greedy_targets(random_heads, x)  # (12, 30, 3)
    before = [h["greedy_agreement"] for h in greedy_agreement(random_heads, x, greedy)]
    after = [h["greedy_agreement"] for h in greedy_agreement(distilled.model, x, greedy)]
    assert [h["head"] for h in distilled.final_agreement] == [2, 3]
    for head_before, head_after in zip(before, after):
        assert head_after > head_before + 0.15, (before, after)
    first, last = distilled.history["train"][0], distilled.history["train"][-1]
    assert last[1] < first[1] and last[2] < first[2]  # heads 2 and 3's losses fell


def test_speculative_decoding_still_equals_greedy(distilled, corpus):
    prompt = corpus.tokens("val")[:10].tolist()
    greedy = decode_ids(distilled.model, prompt, DecodeSettings("greedy", 60)).tokens
    assert decode_ids(distilled.model, prompt, DecodeSettings("speculative", 60)).tokens == greedy


@pytest.mark.slow  # a distillation run of its own
def test_causal_heads_distill_and_stay_exact(corpus):
    torch.manual_seed(0)
    cfg = ModelConfig.from_preset("micro", vocab_size=corpus.tokenizer.vocab_size, n_heads=3, head_type="causal")
    result = distill(MTPModel(cfg), corpus, config(steps=30))
    before = result.history["eval"][0]["heads"]
    assert all(a["greedy_agreement"] > b["greedy_agreement"] for a, b in zip(result.final_agreement, before))
    prompt = corpus.tokens("val")[:10].tolist()
    assert (decode_ids(result.model, prompt, DecodeSettings("speculative", 40)).tokens
            == decode_ids(result.model, prompt, DecodeSettings("greedy", 40)).tokens)


def test_generated_windows_are_a_prompt_then_greedy_decoding(random_heads, corpus):
    x = corpus.tokens("val")[:60].view(2, 30)  # (2, 30)
    windows = generated_windows(random_heads, x, config(text="generated", prompt_tokens=8), None)  # (2, 30)
    for b in range(2):
        assert windows[b, :8].tolist() == x[b, :8].tolist()
        assert windows[b, 8:].tolist() == decode_ids(random_heads, x[b, :8].tolist(), DecodeSettings("greedy", 22)).tokens


@pytest.mark.slow  # a distillation run of its own
def test_distilling_on_generated_text_raises_agreement_there(random_heads, corpus):
    result = distill(random_heads, corpus, config(text="generated", steps=40))
    before = result.history["eval"][0]["heads"]
    assert all(a["greedy_agreement"] > b["greedy_agreement"] + 0.1 for a, b in zip(result.final_agreement, before))
    x = corpus.tokens("val")[:30][None]  # (1, 30)
    assert torch.equal(random_heads(x).logits[:, :, 0], result.model(x).logits[:, :, 0])


@pytest.mark.slow  # a distillation run of its own
def test_soft_target_lowers_the_kl_to_head_1_on_held_out_windows(random_heads, corpus):
    result = distill(random_heads, corpus, config(target="soft", steps=40))
    x = held_out_windows(random_heads, corpus.tokens("val"), 30, 12)  # (12, 30): windows the run never saw
    before, after = head_scores(random_heads, x), head_scores(result.model, x)
    for old, new in zip(before, after):
        assert new["kl"] < 0.7 * old["kl"], (before, after)
    first, last = result.history["train"][0], result.history["train"][-1]
    assert last[1] < first[1] and last[2] < first[2]  # the KL losses of heads 2 and 3 fell
    assert result.head1_val_loss == result.head1_val_loss_before  # the frozen recipe again


def test_joint_recipe_trains_the_trunk_with_head_1_on_the_text(random_heads, corpus):
    result = distill(random_heads, corpus, config(train_trunk=True, steps=20))
    before, after = random_heads.state_dict(), result.model.state_dict()
    assert not torch.equal(before["trunk.blocks.0.attn.qkv.weight"], after["trunk.blocks.0.attn.qkv.weight"])
    assert not torch.equal(before["heads.0.linear.weight"], after["heads.0.linear.weight"])  # head 1 trained too
    assert [row[0] for row in result.history["head1_train"]] == list(range(1, 21))
    assert result.head1_val_loss != result.head1_val_loss_before
    prompt = corpus.tokens("val")[:10].tolist()  # the checker is the new head 1: still exact
    assert (decode_ids(result.model, prompt, DecodeSettings("speculative", 40)).tokens
            == decode_ids(result.model, prompt, DecodeSettings("greedy", 40)).tokens)


def test_with_no_drafting_weight_only_head_1_s_loss_trains(random_heads, corpus):
    result = distill(random_heads, corpus, config(train_trunk=True, drafting_weight=0.0, steps=5))
    before, after = random_heads.state_dict(), result.model.state_dict()
    changed = {name for name, p in before.items() if not torch.equal(p, after[name])}
    assert not any(name.startswith(("heads.1.", "heads.2.")) for name in changed)  # zero gradient, no step
    assert any(name.startswith("trunk.") for name in changed) and "heads.0.linear.weight" in changed


def test_joint_recipe_gives_the_shared_parts_a_smaller_learning_rate(random_heads):
    model = copy.deepcopy(random_heads)
    drafting, shared = parameter_groups(model, DistillConfig(train_trunk=True, trunk_lr_ratio=0.25))
    assert (drafting["lr_scale"], shared["lr_scale"]) == (1.0, 0.25)
    assert {id(p) for p in drafting["params"]} == {id(p) for h in model.heads[1:] for p in h.parameters()}
    assert len(drafting["params"]) + len(shared["params"]) == len(list(model.parameters()))
    assert all(p.requires_grad for p in model.parameters())
    (frozen,) = parameter_groups(model, DistillConfig(train_trunk=False))
    assert sum(p.requires_grad for p in model.parameters()) == len(frozen["params"])


def test_bad_settings_are_one_line_errors():
    with pytest.raises(TinyMTPError, match="text must be"):
        DistillConfig(text="poems")
    with pytest.raises(TinyMTPError, match="prompt_tokens"):
        DistillConfig(window=8, prompt_tokens=8)
    with pytest.raises(TinyMTPError, match="target must be"):
        DistillConfig(target="warm")
    with pytest.raises(TinyMTPError, match="trunk_lr_ratio"):
        DistillConfig(train_trunk=True, trunk_lr_ratio=0)
    with pytest.raises(TinyMTPError, match="drafting_weight"):
        DistillConfig(drafting_weight=-1)


def test_reproducible_with_a_seed(random_heads, corpus):
    a = distill(random_heads, corpus, config(steps=5))
    b = distill(random_heads, corpus, config(steps=5))
    assert a.history["train"] == b.history["train"]
    assert all(torch.equal(p, b.model.state_dict()[n]) for n, p in a.model.state_dict().items())


def test_one_head_model_has_nothing_to_distill(corpus):
    cfg = ModelConfig.from_preset("micro", vocab_size=corpus.tokenizer.vocab_size, n_heads=1)
    with pytest.raises(TinyMTPError, match="nothing to distill"):
        distill(MTPModel(cfg), corpus, config())


@pytest.mark.slow  # a real `python -m tinymtp distill`
def test_cli_writes_a_loadable_checkpoint_and_refuses_to_replace_it(trained_checkpoint, tmp_path, cli):
    """A real `python -m tinymtp distill` first (the rest of the CLI tests run main() in this process)."""
    out = tmp_path / "distilled"
    args = ["distill", "--checkpoint", trained_checkpoint, "--out", out, "--steps", "3", "--threads", "1", "--json"]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    loaded = load_checkpoint(str(out))
    assert loaded.metadata["distilled"]["from"] == str(trained_checkpoint)
    assert loaded.metadata["distilled"]["steps"] == 3
    written = (out / "model.safetensors").read_bytes()
    assert_one_line_error(cli(*args), "--overwrite")
    assert (out / "model.safetensors").read_bytes() == written
    assert cli(*args, "--overwrite").returncode == 0


def test_cli_joint_soft_run_reports_head_1(trained_checkpoint, tmp_path, corpus, cli):
    out = tmp_path / "joint"
    proc = cli("distill", "--checkpoint", trained_checkpoint, "--out", out, "--steps", "3", "--threads", "1",
               "--train-trunk", "--target", "soft", "--drafting-weight", "0.5", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["head1_val_loss"] != report["head1_val_loss_before"]
    assert all("kl" in head for head in report["greedy_agreement"])
    metadata = load_checkpoint(str(out)).metadata
    assert metadata["next_token_val_loss"] == report["head1_val_loss"]  # head 1 changed: its new score
    model = load_checkpoint(str(out)).model
    assert metadata["heads"] == evaluate(model, corpus.tokens("val"), n_windows=256)["heads"]  # every head, anew
    distilled = metadata["distilled"]
    assert distilled["config"]["train_trunk"] and distilled["config"]["target"] == "soft"
    assert distilled["config"]["drafting_weight"] == 0.5
    assert distilled["head1_val_loss"] == report["head1_val_loss"]


def test_cli_refuses_a_one_head_checkpoint(tmp_path, corpus, cli):
    from tinymtp.files.checkpoint import save_checkpoint

    cfg = ModelConfig.from_preset("micro", vocab_size=corpus.tokenizer.vocab_size, n_heads=1)
    save_checkpoint(str(tmp_path / "one"), MTPModel(cfg), corpus.tokenizer, {"corpus": corpus.name})
    proc = cli("distill", "--checkpoint", tmp_path / "one", "--out", tmp_path / "out", "--steps", "2")
    assert_one_line_error(proc, "nothing to distill")
    assert not (tmp_path / "out").exists()


def test_cli_heads_grows_a_next_token_model_on_its_frozen_trunk(tmp_path, corpus, cli):
    """Medusa-1's order: a 1-head model gets heads 2..N, taught on its frozen trunk; head 1 unchanged."""
    from tinymtp.files.checkpoint import save_checkpoint

    torch.manual_seed(0)
    cfg = ModelConfig.from_preset("micro", vocab_size=corpus.tokenizer.vocab_size, n_heads=1)
    one = MTPModel(cfg).eval()
    save_checkpoint(str(tmp_path / "one"), one, corpus.tokenizer, {"corpus": corpus.name})
    proc = cli("distill", "--checkpoint", tmp_path / "one", "--out", tmp_path / "grown", "--heads", "3",
               "--steps", "3", "--threads", "1", "--corpus", corpus.name, "--json")
    assert proc.returncode == 0, proc.stderr
    grown = load_checkpoint(str(tmp_path / "grown")).model
    assert grown.n_heads == 3
    x = torch.randint(0, cfg.vocab_size, (1, 12))  # (B, T)
    with torch.no_grad():
        assert torch.equal(grown(x).logits[:, :, 0], one(x).logits[:, :, 0])  # trunk and head 1 kept
    assert not torch.equal(grown.heads[1].linear.weight, torch.eye(cfg.d_model))  # the new head learned
    metadata = load_checkpoint(str(tmp_path / "grown")).metadata  # what `eval` measures: head 1 among 3 heads
    assert metadata["next_token_val_loss"] == metadata["heads"][0]["val_loss"]
    assert metadata["heads"] == evaluate(grown, corpus.tokens("val"), n_windows=256)["heads"]
    proc = cli("distill", "--checkpoint", tmp_path / "grown", "--out", tmp_path / "fewer", "--heads", "2",
               "--steps", "2", "--corpus", corpus.name)
    assert_one_line_error(proc, "distill only adds heads")
    assert not (tmp_path / "fewer").exists()


def test_the_defaults_are_the_shipped_recipe():
    """DistillConfig() and `distill` without flags are the README's recipe for checkpoints/mtp-4head."""
    from conftest import ROOT

    d = DistillConfig()
    assert (d.train_trunk, d.target, d.trunk_lr_ratio, d.steps, d.text) == (True, "soft", 0.1, 1000, "corpus")
    readme = (ROOT / "README.md").read_text()
    shipped = next(line for line in readme.splitlines() if "distill" in line and "--out checkpoints/mtp-4head" in line)
    for flag, value in (("--trunk-lr-ratio", "0.1"), ("--target", "soft"), ("--steps", "1000")):
        if flag in shipped:
            assert f"{flag} {value}" in shipped, shipped


def test_sampled_text_targets_are_read_off_the_window():
    """text="sampled": head k at t learns the window's token at t+k (hard), or head 1's distribution
    at t+k-1 on the window (soft); a loss of 0 when head k already equals those."""
    torch.manual_seed(0)
    B, L, n, V = 2, 6, 3, 5
    x = torch.randint(0, V, (B, L))
    logits = torch.randn(B, L, n, V)
    hard = teacher_forced_losses(logits, x, "hard")
    for k in (1, 2):  # head k+1
        expected = torch.nn.functional.cross_entropy(logits[:, : L - k - 1, k].reshape(-1, V), x[:, k + 1 :].reshape(-1))
        assert torch.allclose(hard[k - 1], expected)
    copied = logits.clone()
    copied[:, : L - 1, 1] = logits[:, 1:, 0]  # head 2 at t = head 1 at t+1
    copied[:, : L - 2, 2] = logits[:, 2:, 0]  # head 3 at t = head 1 at t+2
    soft = teacher_forced_losses(copied, x, "soft")
    assert all(abs(float(v)) < 1e-5 for v in soft)
    assert float(teacher_forced_losses(logits, x, "soft")[0]) > 0.01


@pytest.mark.slow  # a distillation run of its own
def test_distilling_on_sampled_text_raises_sampling_agreement(random_heads, corpus):
    before = distill(random_heads, corpus, config(text="sampled", target="soft", steps=1))
    after = distill(random_heads, corpus, config(text="sampled", target="soft", steps=40))
    first = [h["sampling_agreement"] for h in before.history["eval"][0]["heads"]]
    last = [h["sampling_agreement"] for h in after.final_agreement]
    assert all(b < a for b, a in zip(first, last)), (first, last)
    # the joint recipe on sampled text: head 1 learns the real text, reported before and after
    joint = distill(random_heads, corpus, config(text="sampled", target="soft", train_trunk=True, steps=3))
    assert joint.head1_val_loss != joint.head1_val_loss_before
