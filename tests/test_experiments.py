"""The experiments harness: equal compute is equal, curves come from one run, findings follow the
numbers, results are saved whole, and the CLI runs every experiment in smoke mode in seconds."""

import json
import math

import pytest
import torch
from conftest import assert_one_line_error, run_cli

from tinymtp.cli import main
from tinymtp.core.model import ModelConfig
from tinymtp.experiments import EXPERIMENTS, ExperimentSettings, run_experiment, save_result
from tinymtp.experiments.budget import measure_step_times, plan_steps
from tinymtp.experiments.runner import compare, spread, train_run
from tinymtp.experiments.tasks import InductionTask, heldout_lines, induction_corpus, score_induction
from tinymtp.training.train import TrainConfig, train
from tinymtp.viz import experiment_figure

SMOKE = ExperimentSettings(seeds=2, smoke=True)


@pytest.fixture(scope="module")
def ntp_result():
    return run_experiment("ntp-vs-mtp", SMOKE)


@pytest.fixture(scope="module")
def shared_head_results():
    shared = {}
    settings = ExperimentSettings(seeds=1, smoke=True)
    return run_experiment("head-types", settings, shared=shared), run_experiment("how-many-heads", settings,
                                                                                  shared=shared)


def test_plan_gives_every_configuration_the_same_compute_within_one_step():
    times = {"n=1": 0.0213, "n=2": 0.0274, "n=4": 0.0391, "block": 0.117}
    steps = plan_steps(30.0, times)
    for label, t in times.items():
        assert abs(steps[label] * t - 30.0) <= t / 2 + 1e-9
    assert steps["n=1"] > steps["n=2"] > steps["n=4"] > steps["block"]


def test_step_times_are_measured_with_the_training_loop_for_every_configuration():
    corpus = induction_corpus(InductionTask(train_lines=300, heldout_lines=20), seed=0)
    configs = {f"n={n}": ModelConfig(vocab_size=corpus.tokenizer.vocab_size, context_length=16, d_model=16,
                                     n_layers=1, attn_heads=2, n_heads=n) for n in (1, 4)}
    times = measure_step_times(configs, corpus, batch_size=4, rounds=2, steps_per_round=2, warmup=1)
    assert set(times) == {"n=1", "n=4"} and all(0 < t < 1 for t in times.values())


@pytest.mark.slow  # whole experiments, smoke-sized
def test_equal_compute_in_a_real_run_is_equal_in_planned_seconds_and_counted_in_tokens(ntp_result):
    budget = ntp_result["settings"]["budget_seconds_per_run"]
    trunk = ntp_result["settings"]["trunk"]
    for run in ntp_result["runs"]:
        plan = ntp_result["plan"][run["label"]]
        assert run["steps"] == plan["steps"]  # every seed of a configuration: the same steps
        assert abs(run["steps"] * run["step_time_s"] - budget) <= run["step_time_s"] / 2 + 1e-6
        assert run["tokens"] == run["steps"] * 32 * trunk["context_length"]
        assert run["seconds"] > 0 and run["planned_compute_s"] == pytest.approx(run["steps"] * run["step_time_s"],
                                                                                abs=1e-3)
    assert "equal wall-clock budget" in ntp_result["settings"]["equal_compute"]


@pytest.mark.slow  # whole experiments, smoke-sized
def test_ntp_vs_mtp_reports_every_corpus_and_n_with_a_spread(ntp_result):
    rows = ntp_result["summary"]
    assert {(r["corpus"], r["n_heads"]) for r in rows} == {(c, n) for c in ("python-stdlib", "stories")
                                                           for n in (1, 2, 4)}
    for row in rows:
        loss = row["head1_val_loss"]
        assert loss["n"] == 2 and loss["min"] <= loss["mean"] <= loss["max"] and loss["std"] >= 0
    assert any("n=4" in f and "n=1" in f for f in ntp_result["findings"])
    assert {"python", "torch", "cpu_count", "threads"} <= set(ntp_result["machine"])
    assert ntp_result["command"].startswith("python -m tinymtp experiment ntp-vs-mtp --seeds 2")
    json.dumps(ntp_result)  # JSON-safe


def test_a_scored_curve_is_the_curve_of_one_uninterrupted_run():
    task = InductionTask(min_length=3, max_length=5, train_lines=400, heldout_lines=16)
    corpus = induction_corpus(task, seed=0)
    lines = heldout_lines(corpus)
    model_config = ModelConfig(vocab_size=corpus.tokenizer.vocab_size, context_length=16, d_model=16, n_layers=1,
                               attn_heads=2, n_heads=2)
    train_config = TrainConfig(steps=12, batch_size=4, eval_every=13, eval_batches=1, seed=3, warmup_steps=2)
    result, curve = train_run(model_config, train_config, corpus,
                              score=lambda m: score_induction(m, corpus.tokenizer, lines), score_every=5)
    assert [p["step"] for p in curve] == [5, 10, 12]
    straight = train(model_config, train_config, corpus)
    for a, b in zip(result.model.state_dict().values(), straight.model.state_dict().values()):
        assert torch.equal(a, b)
    assert curve[-1]["second_copy_accuracy"] == score_induction(straight.model, corpus.tokenizer,
                                                                lines)["second_copy_accuracy"]


def test_findings_follow_the_numbers_and_the_spread():
    low, high = spread([1.90, 1.91, 1.89]), spread([2.10, 2.12, 2.08])
    assert low["mean"] == 1.9 and math.isclose(low["std"], 0.01)
    assert compare("loss", "n=4", high, "n=1", low, lower_is_better=True).endswith("n=4 is worse than n=1")
    assert compare("loss", "n=4", low, "n=1", high, lower_is_better=True).endswith("n=4 is better than n=1")
    assert compare("acc", "n=4", high, "n=1", low, lower_is_better=False).endswith("n=4 is better than n=1")
    wide = spread([1.7, 2.3])
    assert compare("loss", "n=4", wide, "n=1", low, lower_is_better=True).endswith("beyond the seed spread")
    assert spread([3.0])["std"] == 0.0


@pytest.mark.slow  # whole experiments, smoke-sized
def test_head_types_and_how_many_heads_share_their_models_and_report_every_head_type(shared_head_results):
    from tinymtp.core.config import HEAD_TYPES

    types, sweep = shared_head_results
    assert {r["head_type"] for r in types["runs"] if r["n_heads"] == 4} == set(HEAD_TYPES)
    assert any(r["label"] == "linear n=1" for r in types["runs"])  # the next-token baseline
    mtp_runs = [r for r in types["runs"] if r["n_heads"] > 1]
    assert sweep["runs"] == mtp_runs  # literally the same trained models and measurements
    linear = [r for r in sweep["summary"] if r["head_type"] == "linear"]
    assert [r["heads"] for r in linear] == [2, 3, 4]
    assert all(r["identical"] for r in sweep["summary"])
    for run in mtp_runs:
        plan = types["plan"][run["label"]]
        assert run["steps"] == plan["steps"]


@pytest.mark.slow  # whole experiments, smoke-sized
def test_every_result_draws_and_saves_atomically(tmp_path, ntp_result, shared_head_results):
    for result in (ntp_result, *shared_head_results):
        fig = experiment_figure(result)
        assert len(fig.data) > 0
        files = save_result(result, str(tmp_path))
        assert json.loads(open(files["json"]).read())["experiment"] == result["experiment"]
        import plotly.io

        assert plotly.io.read_json(files["figure"]).to_dict() == fig.to_dict()  # the saved figure, no CDN page
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    import os
    import stat

    umask = os.umask(0)
    os.umask(umask)
    assert {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()} == {0o666 & ~umask}
    with pytest.raises(ValueError):
        experiment_figure({"experiment": "nope"})


@pytest.mark.slow  # whole experiments, smoke-sized
@pytest.mark.parametrize("name", ["induction", "addition"])
def test_curve_experiments_run_from_the_cli_and_print_one_json_object(tmp_path, name, cli):
    run = run_cli if name == "induction" else cli  # one real `python -m tinymtp experiment`; main() for the other
    proc = run("experiment", name, "--smoke", "--seeds", "2", "--json", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["experiment"] == name and result["findings"]
    assert (tmp_path / f"{name}.json").is_file() and (tmp_path / f"{name}.figure.json").is_file()
    assert not (tmp_path / f"{name}.html").exists()
    for run in result["runs"]:
        assert [p["step"] for p in run["curve"]] == [10, 20]
        assert run["tokens"] == 20 * 32 * 32
    assert len({run["steps"] for run in result["runs"]}) == 1  # equal steps for every n
    experiment_figure(result)


def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, cli):
    assert_one_line_error(cli("experiment", "nope", "--out", tmp_path), "unknown experiment")
    for argv, word in ((["--seeds", "0"], "seeds"), (["--minutes", "-1"], "minutes"), (["--threads", "x"], "threads")):
        with pytest.raises(SystemExit) as exit_info:
            main(["experiment", "ntp-vs-mtp", *argv])
        assert exit_info.value.code == 2 and word in capsys.readouterr().err
    assert main(["experiment", "ntp-vs-mtp", "--steps", "5", "--out", str(tmp_path)]) == 2
    assert "--minutes" in capsys.readouterr().err
    assert main(["experiment", "induction", "--minutes", "1", "--out", str(tmp_path)]) == 2
    assert "--steps" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    assert set(EXPERIMENTS) == {"ntp-vs-mtp", "induction", "addition", "how-many-heads", "head-types", "loss-weights",
                                "drafters", "curriculum"}


@pytest.fixture(scope="module")
def loss_weights_result():
    return run_experiment("loss-weights", SMOKE)


@pytest.mark.slow  # whole experiments, smoke-sized
def test_loss_weights_recipes_share_one_step_count_and_the_frozen_trunk_keeps_head_1(loss_weights_result):
    r = loss_weights_result
    rows = {row["recipe"]: row for row in r["summary"]}
    assert set(rows) == {"n=1", "equal", "lambda=0.3", "lambda=0.1", "frozen trunk"}
    weighted = [r["plan"][name]["steps"] for name in ("equal", "lambda=0.3", "lambda=0.1")]
    assert len(set(weighted)) == 1  # the weights change what a step learns, not its cost
    assert rows["frozen trunk"]["head1_val_loss"] == rows["n=1"]["head1_val_loss"]  # the n=1 model's own head 1
    for run in r["runs"]:
        if run["recipe"] != "n=1":
            assert run["before_distill"]["identical"] and run["after_distill"]["identical"]
            assert 1 <= run["after_distill"]["tokens_per_forward"] <= 4 and run["distill_steps"] == 2
    assert len(r["runs"]) == 5 * SMOKE.seeds and set(r["frontier"]) <= set(rows) - {"n=1"}
    experiment_figure(r)


def test_the_frontier_keeps_exactly_the_recipes_nothing_beats_on_both_counts():
    from tinymtp.experiments.loss_weights import frontier

    def row(name, loss, tpf):
        return {"recipe": name, "head1_val_loss": {"mean": loss}, "after_distill": {"mean": tpf}}

    rows = [row("a", 1.30, 3.2), row("b", 1.28, 3.0), row("c", 1.31, 3.1), row("d", 1.27, 2.5),
            {"recipe": "n=1", "head1_val_loss": {"mean": 1.2}}]
    assert frontier(rows) == ["d", "b", "a"]  # c is beaten by a (lower loss, more tokens per forward)


def test_describe_prints_the_title_the_command_and_every_finding():
    from tinymtp.experiments import describe

    result = {"title": "T", "command": "python -m tinymtp experiment x", "findings": ["a is better than b", "a tie"]}
    assert describe(result) == "T  (python -m tinymtp experiment x)\n  - a is better than b\n  - a tie"
