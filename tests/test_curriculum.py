"""Training curricula (issue 25): the schedule of heads, the one weighting rule, heads out of the loss
neither run nor updated, --resume continuing the schedule, the bad inputs, and `experiment curriculum`."""

import json
import math

import pytest
import torch
from conftest import assert_one_line_error

from tinymtp.core.config import HEAD_TYPES
from tinymtp.core.errors import TinyMTPError
from tinymtp.core.loss import combine_head_losses, memory_saving_backward, weights_in_loss
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.data.corpora import load_corpus, shift_targets
from tinymtp.files.checkpoint import Checkpoint, load_checkpoint
from tinymtp.training.curriculum import continued_curriculum, heads_in_loss, stage_shares
from tinymtp.training.train import TrainConfig, build_optimizer, train, train_step

FORWARD_8 = [1, 1, 2, 2, 3, 3, 4, 4]  # 4 heads over 8 steps: two steps per stage
REVERSE_8 = [4, 4, 3, 3, 2, 2, 1, 1]


def micro_config(corpus, n_heads=4, **kw):
    return ModelConfig.from_preset("micro", vocab_size=corpus.tokenizer.vocab_size, n_heads=n_heads, **kw)


def heads_per_step(corpus, curriculum, steps=8, **kw):
    seen = []
    cfg = TrainConfig(steps=steps, batch_size=4, eval_every=100, eval_batches=1, seed=2, curriculum=curriculum)
    result = train(micro_config(corpus, **kw), cfg, corpus, on_step=lambda info: seen.append(len(info.head_losses)))
    return seen, result


def test_the_schedules_shape_stage_by_stage():
    progress = [step / 8 for step in range(8)]
    assert [heads_in_loss("forward", 4, p) for p in progress] == FORWARD_8
    assert [heads_in_loss("reverse", 4, p) for p in progress] == REVERSE_8
    assert [heads_in_loss("none", 4, p) for p in progress] == [4] * 8
    assert heads_in_loss("forward", 4, 1.0) == 4 and heads_in_loss("reverse", 4, 1.0) == 1  # a --minutes run's end
    assert heads_in_loss("forward", 2, 0.49) == 1 and heads_in_loss("forward", 2, 0.5) == 2
    assert stage_shares("forward", 4) == {1: 0.25, 2: 0.25, 3: 0.25, 4: 0.25} and stage_shares("none", 4) == {4: 1.0}


def test_training_follows_the_schedule_and_records_only_the_heads_in_the_loss(small_text_file):
    corpus = load_corpus(str(small_text_file))
    for curriculum, expected in (("forward", FORWARD_8), ("reverse", REVERSE_8), ("none", [4] * 8)):
        seen, result = heads_per_step(corpus, curriculum)
        assert seen == expected, curriculum
        assert [len(row) - 1 for row in result.history["train"]] == expected  # the loss curves start or stop there
        assert len(result.final_eval["heads"]) == 4  # every head is still evaluated


def test_the_weighting_rule_by_hand():
    """Golden: heads 1..2 of 4 in the loss with --loss-weights 1,0.5,0.25,0.1 is (1 L1 + 0.5 L2) / 1.5."""
    logits = torch.tensor([0.0, math.log(3.0)]).expand(1, 1, 4, 2).clone()  # p(token 1) = 3/4 at every head
    targets = torch.tensor([[[1, 0, 1, 0]]])  # L = ln(4/3) for heads 1, 3; ln 4 for heads 2, 4
    from tinymtp.core.loss import head_losses

    losses = head_losses(logits, targets)
    assert [float(v) for v in losses] == pytest.approx([math.log(4 / 3), math.log(4), math.log(4 / 3), math.log(4)])
    weights = [1.0, 0.5, 0.25, 0.1]
    by_hand = (1.0 * math.log(4 / 3) + 0.5 * math.log(4)) / 1.5
    assert float(combine_head_losses(losses[:2], weights)) == pytest.approx(by_hand, abs=1e-7)
    assert weights_in_loss(weights, 4, 2) == [1.0, 0.5]
    assert weights_in_loss("decay", 4, 3) == pytest.approx([1.0, 0.16, 0.128])
    all_four = (math.log(4 / 3) * 1.25 + math.log(4) * 0.6) / 1.85
    assert float(combine_head_losses(losses, weights)) == pytest.approx(all_four, abs=1e-7)  # no curriculum: as before
    with pytest.raises(TinyMTPError, match="weight 0"):
        weights_in_loss([0.0, 0.0, 1.0, 1.0], 4, 2)
    with pytest.raises(TinyMTPError, match="4 non-negative"):
        combine_head_losses(losses, [1.0, 1.0, 1.0])  # more losses than weights: refused, not truncated


@pytest.mark.parametrize("memory_saving", [False, True])
def test_a_step_runs_and_updates_only_the_heads_in_the_loss(memory_saving, monkeypatch):
    cfg = ModelConfig.from_preset("micro", vocab_size=13, n_heads=4, loss_weights=[1.0, 0.5, 0.25, 0.1])
    model = MTPModel(cfg)
    optimizer = build_optimizer(model, TrainConfig(steps=1, weight_decay=0.5))
    x = torch.randint(0, 13, (3, 16))
    targets = shift_targets(x, 4)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    ran = []  # the heads whose layers ran, 1..n
    if memory_saving:
        head_logits = MTPModel.head_logits
        monkeypatch.setattr(MTPModel, "head_logits", lambda self, hidden, head, *rest:
                            ran.append(head) or head_logits(self, hidden, head, *rest))
    else:
        head_hidden = MTPModel._head_hidden
        monkeypatch.setattr(MTPModel, "_head_hidden", lambda self, k, *rest:
                            ran.append(k + 1) or head_hidden(self, k, *rest))
    loss, losses = train_step(model, optimizer, TrainConfig(steps=1, memory_saving=memory_saving), x, targets, heads=2)
    assert sorted(set(ran)) == [1, 2]  # heads 1 and 2 ran; 3 and 4 did not
    assert loss == pytest.approx((1.0 * losses[0] + 0.5 * losses[1]) / 1.5, abs=1e-4)  # the rule, on a real step
    for name, p in model.named_parameters():
        moved = not torch.equal(p, before[name])
        if name.startswith(("heads.2.", "heads.3.")):
            assert not moved and p.grad is None, name  # no gradient: no Adam step, no weight decay
        elif name.startswith(("heads.0.", "heads.1.", "trunk.")) and p.dim() >= 2:
            assert moved, name


@pytest.mark.parametrize("head_type", HEAD_TYPES)
def test_every_head_type_steps_with_only_the_heads_in_the_loss(head_type):
    """Causal and sequential heads read the tokens ahead from the targets: with heads 1..2 in the loss
    they still run (head 2 reads token t+1) and heads 3..4 stay as they were."""
    torch.manual_seed(0)
    model = MTPModel(ModelConfig.from_preset("micro", vocab_size=13, n_heads=4, head_type=head_type))
    optimizer = build_optimizer(model, TrainConfig(steps=1))
    x = torch.randint(0, 13, (3, 16))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    _, losses = train_step(model, optimizer, TrainConfig(steps=1), x, shift_targets(x, 4), heads=2)
    moved = {name.split(".")[1] for name, p in model.named_parameters()
             if name.startswith("heads.") and not torch.equal(p, before[name])}
    assert len(losses) == 2 and moved == {"0", "1"}


@pytest.mark.parametrize("head_type", [t for t in HEAD_TYPES if t not in ("causal", "sequential")])
def test_the_memory_saving_backward_with_two_heads_in_the_loss_gives_the_plain_gradients(head_type):
    model = MTPModel(ModelConfig.from_preset("micro", vocab_size=13, n_heads=4, head_type=head_type,
                                             loss_weights=[1.0, 0.3, 0.3, 0.3])).double()
    x = torch.randint(0, 13, (3, 16))
    targets = shift_targets(x, 4)
    plain = model(x, targets, heads=2)
    plain.loss.backward()
    plain_grads = {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    loss, losses = memory_saving_backward(model, x, targets, heads=2)
    assert len(losses) == 2 and torch.allclose(loss, plain.loss.detach(), atol=1e-12)
    for name, p in model.named_parameters():
        if plain_grads[name] is None:
            assert p.grad is None, name
        else:
            assert torch.allclose(p.grad, plain_grads[name], atol=1e-10), name


def test_stop_then_resume_continues_the_curriculum_with_the_same_weights(small_text_file):
    corpus = load_corpus(str(small_text_file))
    config = micro_config(corpus, loss_weights=[1.0, 0.1, 0.1, 0.1])
    cfg = TrainConfig(steps=8, batch_size=4, eval_every=100, eval_batches=1, seed=4, curriculum="forward")
    straight = train(config, cfg, corpus)
    half = train(config, cfg, corpus, on_step=lambda info: info.step >= 3)
    seen = []
    resumed = train(config, cfg, corpus, on_step=lambda info: seen.append(len(info.head_losses)),
                    resume=Checkpoint(half.model, corpus.tokenizer, {"steps": half.steps, "seconds": half.seconds,
                                                                     "history": half.history}, half.optimizer_tensors))
    assert seen == FORWARD_8[3:]
    assert all(torch.equal(a, b) for a, b in zip(straight.model.state_dict().values(),
                                                   resumed.model.state_dict().values()))


def test_the_cli_records_the_curriculum_and_resume_continues_it(small_text_file, tmp_path, cli):
    base = ["train", "--corpus", small_text_file, "--preset", "micro", "--batch-size", "4", "--json"]
    assert cli(*base, "--steps", "4", "--curriculum", "reverse", "--out", tmp_path / "a").returncode == 0
    first = load_checkpoint(str(tmp_path / "a"), with_optimizer=True)
    assert first.metadata["train_config"]["curriculum"] == "reverse"
    assert [len(row) - 1 for row in first.metadata["history"]["train"]] == [4, 3, 2, 1]
    proc = cli(*base, "--steps", "8", "--resume", tmp_path / "a", "--out", tmp_path / "b")
    assert proc.returncode == 0, proc.stderr
    resumed = load_checkpoint(str(tmp_path / "b"))
    assert resumed.metadata["train_config"]["curriculum"] == "reverse"
    assert [len(row) - 1 for row in resumed.metadata["history"]["train"]] == [4, 3, 2, 1] + REVERSE_8[4:]
    assert_one_line_error(cli(*base, "--steps", "8", "--resume", tmp_path / "a", "--curriculum", "forward",
                              "--out", tmp_path / "c"), "curriculum reverse", "resume")
    assert continued_curriculum(None, {"train_config": {"steps": 5}}) == "none"  # a checkpoint from before curricula
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("args, words", [
    (["train", "--heads", "1", "--curriculum", "forward"], ["curriculum forward", "1 head"]),
    (["train", "--curriculum", "sideways"], ["unknown curriculum", "sideways", "forward"]),
    (["train", "--curriculum", "reverse", "--loss-weights", "0,1,1,1"], ["head 1", "weight"]),
    (["train", "--curriculum", "forward", "--heads", "2", "--head-type", "sequential", "--loss-weights", "0,1"],
     ["head 1", "weight"]),
])
def test_bad_curricula_are_one_line_errors_before_any_training(args, words, tmp_path, cli):
    proc = cli(*args, "--corpus", "stories", "--preset", "micro", "--steps", "2", "--out", tmp_path / "m")
    assert_one_line_error(proc, *words)
    assert not (tmp_path / "m").exists()


def test_a_curriculum_with_distill_is_a_one_line_error(trained_checkpoint, tmp_path, cli):
    proc = cli("distill", "--checkpoint", trained_checkpoint, "--out", tmp_path / "d", "--curriculum", "forward")
    assert_one_line_error(proc, "distill takes no curriculum", "train --curriculum")
    assert proc.returncode == 2 and not (tmp_path / "d").exists()


def test_library_refusals_name_the_problem(small_text_file):
    corpus = load_corpus(str(small_text_file))
    with pytest.raises(TinyMTPError, match="unknown curriculum 'backward'"):
        TrainConfig(steps=2, curriculum="backward")
    with pytest.raises(TinyMTPError, match="1 head"):
        train(micro_config(corpus, n_heads=1), TrainConfig(steps=2, curriculum="forward"), corpus)


def test_held_out_prompts_come_from_a_text_file_too(small_text_file):
    from tinymtp.analysis.speedup import heldout_prompts

    corpus = load_corpus(str(small_text_file))
    prompts = heldout_prompts(corpus.tokenizer, count=3, length=24, corpus=str(small_text_file))
    assert len(prompts) == 3 and all(p in corpus.val_text and len(p) == 24 for p in prompts)


@pytest.fixture(scope="module")
def curriculum_result(tmp_path_factory, small_text_file):
    """The experiment in smoke mode, from the CLI, on a text file the user names."""
    from tinymtp.cli.main import main

    out = tmp_path_factory.mktemp("results")
    assert main(["experiment", "curriculum", "--smoke", "--seeds", "2", "--json", "--corpus", str(small_text_file),
                 "--out", str(out)]) == 0
    return json.loads((out / "curriculum-stories.json").read_text()), out


@pytest.mark.slow  # a whole experiment, smoke-sized
def test_the_experiment_plans_equal_time_from_each_schedules_mean_step_time(curriculum_result):
    result, out = curriculum_result
    assert result["result_name"] == "curriculum-stories" and (out / "curriculum-stories.figure.json").is_file()
    assert f"--corpus {result['settings']['corpus']}" in result["command"]
    plan = result["plan"]
    assert plan["equal"]["steps"] == plan["lambda=0.1"]["steps"]  # the weights change what a step learns, not its cost
    for name in ("forward", "reverse"):
        by_heads = plan[name]["step_time_by_heads"]
        assert plan[name]["step_time_s"] == pytest.approx(sum(by_heads.values()) / 4, abs=2e-6)
        assert by_heads["1"] == plan["n=1"]["step_time_s"] and by_heads["4"] == plan["equal"]["step_time_s"]
    for p in plan.values():
        assert abs(p["steps"] * p["step_time_s"] - result["settings"]["budget_seconds_per_run"]) <= p["step_time_s"]
    runs = {(r["recipe"], r["seed"]): r for r in result["runs"]}
    assert len(runs) == 5 * 2 and runs[("forward", 1)]["curriculum"] == "forward"


@pytest.mark.slow  # a whole experiment, smoke-sized
def test_the_experiment_reports_drafting_with_its_text_and_a_spread_beside_every_difference(curriculum_result):
    from tinymtp.viz import experiment_figure

    result, _ = curriculum_result
    rows = {r["recipe"]: r for r in result["summary"]}
    assert set(rows) == {"n=1", "equal", "lambda=0.1", "forward", "reverse"} and "sampled" not in rows["n=1"]
    for name in ("equal", "lambda=0.1", "forward", "reverse"):
        sampled, greedy = rows[name]["sampled"], rows[name]["greedy"]
        assert 1 <= sampled["tokens_per_forward"]["mean"] <= 4 and sampled["standard_error"]["n"] == 2
        assert {"distinct_8", "looping", "tokens_per_forward_before_loop"} <= set(greedy)
        assert len(rows[name]["head_val_loss"]) == 4 and rows[name]["identical"]
    assert result["settings"]["heads_in_loss_per_stage"]["forward"] == [1, 2, 3, 4]
    comparisons = [f for f in result["findings"] if " vs " in f]
    assert comparisons and all(" ± " in f and ("no difference beyond the seed spread" in f or " is " in f)
                               for f in comparisons)
    assert set(result["target"]["recipes"]) == {"equal", "lambda=0.1", "forward", "reverse"}
    fig = experiment_figure(result)
    assert {t.name for t in fig.data if t.name} == {"n=1", "equal", "lambda=0.1", "forward", "reverse"}
    assert "stories.txt" in fig.layout.title.text and "stories.txt" in result["title"]


@pytest.mark.slow  # a whole experiment, smoke-sized
def test_a_result_on_a_named_corpus_sits_beside_the_default_one(curriculum_result, tmp_path):
    from tinymtp.experiments import load_results, save_result

    result, out = curriculum_result
    saved, problems = load_results(out)
    assert list(saved) == ["curriculum-stories"] and not problems
    default = {**result, "result_name": "curriculum", "title": "A curriculum of heads at equal time, on python-stdlib"}
    save_result(default, str(out))
    assert list(load_results(out)[0]) == ["curriculum", "curriculum-stories"]


def test_the_target_is_decided_by_the_numbers():
    from tinymtp.experiments.curriculum import target

    def row(name, loss, tokens=None):
        r = {"recipe": name, "head1_val_loss": {"mean": loss}}
        if tokens is not None:
            r["sampled"] = {"tokens_per_forward": {"mean": tokens}}
        return r

    rows = [row("n=1", 1.60), row("equal", 1.70, 2.3), row("forward", 1.615, 2.1), row("reverse", 1.605, 1.4)]
    verdict = target(rows)
    assert verdict["best"] == "forward"  # reverse has the lower loss but drafts under 2.0
    assert [v["meets"] for v in verdict["recipes"].values()] == [False, True, False]
    assert target(rows[:2] + rows[3:])["best"] is None


def test_other_experiments_refuse_a_corpus_in_one_line(tmp_path, cli):
    assert_one_line_error(cli("experiment", "ntp-vs-mtp", "--corpus", "stories", "--out", tmp_path),
                          "ntp-vs-mtp", "--corpus is for curriculum")
    assert not list(tmp_path.iterdir())


def test_step_times_can_be_measured_in_cpu_seconds(small_text_file, monkeypatch):
    """clock="cpu" reads the process's CPU clock (here a fake one that ticks 0.25 s per reading)."""
    from tinymtp.experiments import budget

    ticks = iter(range(10_000))
    monkeypatch.setattr(budget.time, "process_time", lambda: 0.25 * next(ticks))
    corpus = load_corpus(str(small_text_file))
    configs = {"n=1": micro_config(corpus, n_heads=1), "n=2": micro_config(corpus, n_heads=2)}
    cpu = budget.measure_step_times(configs, corpus, batch_size=2, rounds=1, steps_per_round=2, clock="cpu")
    assert cpu == {"n=1": 0.25, "n=2": 0.25}
    wall = budget.measure_step_times(configs, corpus, batch_size=2, rounds=1, steps_per_round=2)
    assert all(0 < t < 0.25 for t in wall.values())  # the wall clock is not the fake one
    sequential = budget.with_heads_in_loss(micro_config(corpus, head_type="sequential"), 1)
    assert (sequential.n_heads, sequential.head_type) == (1, "linear")  # one sequential head is not a model
