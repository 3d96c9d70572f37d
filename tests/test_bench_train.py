"""`python -m tinymtp bench train`: step time per head type and the n=4 / n=1 ratio, in one run."""

import json

from conftest import assert_one_line_error

from tinymtp.analysis.bench import measure_training_cost


def test_measure_training_cost_reports_every_configuration_and_the_ratios():
    result = measure_training_cost(preset="micro", head_types=("linear", "block"), rounds=2,
                                   steps_per_round=1, warmup=1, batch_size=4)
    keys = {(c["head_type"], c["n_heads"]) for c in result["configs"]}
    assert keys == {("linear", 1), ("linear", 4), ("block", 1), ("block", 4)}
    by_key = {(c["head_type"], c["n_heads"]): c for c in result["configs"]}
    for head_type in ("linear", "block"):
        expected = by_key[(head_type, 4)]["step_time_s"] / by_key[(head_type, 1)]["step_time_s"]
        assert abs(result["ratio_per_head_type"][head_type] - expected) < 0.01
    # the block head type adds a whole transformer layer per head: it must cost more parameters
    assert by_key[("block", 4)]["parameters"] > by_key[("linear", 4)]["parameters"]
    assert result["step_time_ratio"] == result["ratio_per_head_type"]["linear"]


def test_bench_train_cli_json(cli):
    proc = cli("bench", "train", "--quick", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert {"configs", "step_time_ratio", "ratio_per_head_type"} <= set(result)
    from tinymtp.core.config import HEAD_TYPES

    assert len(result["configs"]) == 2 * len(HEAD_TYPES) == 10  # n=1 and n=4 for each of the five head types


def test_cli_without_a_command_and_with_an_unknown_device(tmp_path, cli):
    assert_one_line_error(cli(), "required")
    assert_one_line_error(cli("train", "--device", "tpu", "--out", tmp_path / "x"), "device")


def test_cuda_asked_for_without_a_gpu_is_a_clear_error(tmp_path, small_text_file, cli):
    import pytest
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: the error cannot happen here")
    proc = cli("train", "--device", "cuda", "--corpus", small_text_file, "--preset", "micro", "--steps", "1",
               "--out", tmp_path / "gpu")
    assert_one_line_error(proc, "cuda")
    assert not (tmp_path / "gpu").exists()
