"""Training on several processes (torchrun, DDP): the same steps as one process on the combined
batch (a curriculum, the memory-saving backward and a resumed run too), one error line for settings
that cannot be split, Ctrl-C that stops every process at one step and saves, and nothing
half-written when a worker dies."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from conftest import ROOT, assert_one_line_error

from tinymtp.core.errors import TinyMTPError
from tinymtp.core.model import ModelConfig
from tinymtp.data.corpora import load_corpus
from tinymtp.files.checkpoint import load_checkpoint, save_checkpoint
from tinymtp.training.distributed import (
    ONE_PROCESS,
    Processes,
    one_of_the_processes,
    processes_from_environment,
)
from tinymtp.training.train import TrainConfig, train, training_metadata

# name: TrainConfig settings of one short run; each case runs on 2 processes and on 1
CASES = {
    "plain": {},  # DDP's own gradient exchange
    "forward-curriculum": {"curriculum": "forward"},  # heads left out of steps: DDP's find_unused_parameters
    "memory-saving": {"memory_saving": True},  # the head-by-head backward: gradients averaged by hand
    "resumed": {},  # steps 1-3 on 1 process (saved), steps 4-6 resumed on 2: the batches do not depend on N
}


def short_run(corpus, settings: dict, processes: Processes, resume=None, on_step=None):
    model_config = ModelConfig.from_preset("micro", vocab_size=corpus.tokenizer.vocab_size, n_heads=3)
    train_config = TrainConfig(steps=6, batch_size=8, warmup_steps=2, eval_every=3, eval_batches=1, seed=4,
                               threads=1, **settings)
    return train(model_config, train_config, corpus, on_step=on_step, resume=resume, processes=processes), train_config


def one_of_two_processes(rank: int, port: int, corpus_path: str, out_dir: str) -> None:
    """What torchrun's worker `rank` does, started by torch.multiprocessing.spawn: every case in turn."""
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    corpus = load_corpus(corpus_path)
    try:
        for name, settings in CASES.items():
            resume = load_checkpoint(os.path.join(out_dir, "half"), with_optimizer=True) if name == "resumed" else None
            steps = []  # the steps this run took (a resumed one: 4-6)
            result, _ = short_run(corpus, settings, Processes(rank=rank, world_size=2, local_rank=rank), resume,
                                  on_step=lambda info, steps=steps: steps.append(info.step))
            torch.save({"weights": result.model.state_dict(), "losses": result.history["train"], "steps": steps,
                        "evaluated": result.final_eval is not None}, os.path.join(out_dir, f"{name}-{rank}.pt"))
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # two real processes talking through gloo
def test_two_processes_take_the_steps_of_one_process_on_the_combined_batch(small_text_file, tmp_path):
    corpus = load_corpus(str(small_text_file))
    half, train_config = short_run(corpus, {}, ONE_PROCESS, on_step=lambda info: info.step >= 3)
    save_checkpoint(str(tmp_path / "half"), half.model, corpus.tokenizer, training_metadata(half, corpus, train_config),
                    half.optimizer_tensors)
    torch.multiprocessing.spawn(one_of_two_processes, args=(free_port(), str(small_text_file), str(tmp_path)),
                                nprocs=2)
    for name, settings in CASES.items():
        alone, _ = short_run(corpus, settings, ONE_PROCESS)  # "resumed" against the run that never stopped
        first, second = (torch.load(tmp_path / f"{name}-{rank}.pt") for rank in (0, 1))
        assert first["evaluated"] and not second["evaluated"]  # only process 0 evaluates
        assert first["steps"] == second["steps"] == ([4, 5, 6] if name == "resumed" else [1, 2, 3, 4, 5, 6])
        for key, weight in alone.model.state_dict().items():
            assert torch.equal(first["weights"][key], second["weights"][key]), (name, key)  # in step with each other
            assert torch.allclose(first["weights"][key], weight, rtol=0, atol=1e-5), (name, key)
        for together, one in zip(first["losses"], alone.history["train"], strict=True):  # the whole batch's losses
            assert together[0] == one[0] and together[1:] == pytest.approx(one[1:], abs=2e-4), name


def test_processes_come_from_torchruns_variables():
    assert processes_from_environment({}) == ONE_PROCESS
    assert processes_from_environment({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == Processes(1, 4, 1)
    with pytest.raises(TinyMTPError, match="RANK 4 is not one of WORLD_SIZE 4"):
        processes_from_environment({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(TinyMTPError, match="whole numbers"):
        processes_from_environment({"RANK": "one", "WORLD_SIZE": "2"})


def test_each_process_takes_its_own_rows_of_the_same_batch():
    batch = torch.arange(8 * 3).reshape(8, 3)  # (B, T)
    shares = [Processes(rank, 4).my_rows(batch) for rank in range(4)]  # 4 x (2, T)
    assert torch.equal(torch.cat(shares), batch)
    assert torch.equal(ONE_PROCESS.my_rows(batch), batch)


@pytest.mark.parametrize("env, flags, words", [
    ({"RANK": "0", "WORLD_SIZE": "4"}, ["--batch-size", "2"], ["4 processes", "2 rows"]),
    ({"RANK": "0", "WORLD_SIZE": "4"}, ["--batch-size", "6"], ["does not split evenly", "multiple of 4"]),
    ({"RANK": "0", "WORLD_SIZE": "2"}, ["--batch-size", "8", "--minutes", "1"], ["--steps, not --minutes"]),
])
def test_settings_that_cannot_be_split_are_one_line_before_any_work(cli, tmp_path, small_text_file, env, flags,
                                                                    words):
    out = tmp_path / "model"
    proc = cli("train", "--corpus", small_text_file, "--preset", "micro", "--out", out, *flags, env=env)
    assert_one_line_error(proc, *words)
    assert proc.returncode == 2 and not out.exists() and os.listdir(tmp_path) == []


def test_the_other_processes_exit_quietly_with_the_same_status(cli, tmp_path, small_text_file):
    proc = cli("train", "--corpus", small_text_file, "--preset", "micro", "--out", tmp_path / "model",
               "--batch-size", "2", env={"RANK": "3", "WORLD_SIZE": "4"})
    assert proc.returncode == 2 and proc.stderr == "" and os.listdir(tmp_path) == []  # process 0 says it


def test_a_process_that_finds_another_gone_says_so_in_one_line_and_a_bug_stays_a_bug():
    gloo = "[gloo/transport/tcp/pair.cc:553] Connection closed by peer [127.0.0.1]:32682."
    with pytest.raises(TinyMTPError, match="process 0 of 2 stopped: another process of this run is gone"):
        with one_of_the_processes(Processes(0, 2)):
            raise RuntimeError(gloo)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):  # not a peer: the traceback stays
        with one_of_the_processes(Processes(0, 2)):
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")
    with pytest.raises(RuntimeError, match="closed by peer"):  # one process has no peers to lose
        with one_of_the_processes(ONE_PROCESS):
            raise RuntimeError(gloo)


def torchrun(*args, **popen):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "tinymtp", "train", *map(str, args)]
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, text=True, **popen)


@pytest.mark.slow  # a real torchrun
def test_torchrun_with_more_processes_than_batch_rows_says_so_in_one_line(small_text_file, tmp_path):
    out = tmp_path / "model"
    proc = torchrun("--corpus", small_text_file, "--preset", "micro", "--batch-size", "1", "--out", out,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = proc.communicate(timeout=300)
    ours = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode != 0 and stdout == ""
    assert len(ours) == 1 and "2 processes but the batch has 1 rows" in ours[0], stderr
    assert stderr.splitlines()[0] == ours[0]  # first; torchrun's own report of the failed workers follows
    frames = re.findall(r'File "([^"]+)"', stderr)
    assert not [f for f in frames if os.path.relpath(f, ROOT).startswith("tinymtp")], stderr  # none of ours
    assert os.listdir(tmp_path) == []


def workers(parent: int) -> dict:
    """{RANK: pid} of the processes under `parent` that torchrun started (read from Linux's /proc)."""
    found, todo = {}, [parent]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                children = [int(c) for c in f.read().split()]
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
        except OSError:  # it ended meanwhile
            continue
        if pid != parent and b"RANK" in env:
            found[int(env[b"RANK"])] = pid
        todo += children
    return found


@pytest.mark.slow  # a real torchrun, one worker killed
@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="finds torchrun's workers through Linux's /proc")
def test_killing_one_worker_stops_the_run_and_leaves_nothing_half_written(small_text_file, tmp_path):
    out = tmp_path / "model"
    log = tmp_path.parent / f"{tmp_path.name}-torchrun.log"  # outside the folder that must stay empty
    with open(log, "w") as stderr:
        proc = torchrun("--corpus", small_text_file, "--preset", "micro", "--steps", "100000", "--batch-size", "8",
                        "--eval-every", "50", "--out", out, stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.time() + 240
    while time.time() < deadline and not re.search(r"\b[1-9]\d*/100000", log.read_text(errors="replace")):
        time.sleep(0.2)  # until process 0's bar shows a finished step: both are training
    assert proc.poll() is None, log.read_text()
    os.kill(workers(proc.pid)[1], signal.SIGKILL)
    assert proc.wait(timeout=120) != 0
    assert os.listdir(tmp_path) == []  # no checkpoint, no temporary folder
    frames = re.findall(r'File "([^"]+)"', log.read_text(errors="replace"))  # torchrun's own traceback aside,
    assert not [f for f in frames if os.path.relpath(f, ROOT).startswith("tinymtp")]  # process 0 said one line


@pytest.mark.slow  # a real torchrun, stopped with Ctrl-C
@pytest.mark.parametrize("who", ["everyone", "worker 1 alone"])
def test_ctrl_c_stops_every_process_at_the_same_step_and_process_0_saves(small_text_file, tmp_path, who):
    out = tmp_path / "model"
    log = tmp_path / "torchrun.log"
    with open(log, "w") as stderr:  # its own session: Ctrl-C goes to torchrun and its workers, as in a terminal
        proc = torchrun("--corpus", small_text_file, "--preset", "micro", "--steps", "100000", "--batch-size", "8",
                        "--eval-every", "50", "--out", out, stdout=subprocess.PIPE, stderr=stderr,
                        start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and not re.search(r"\b[1-9]\d*/100000", log.read_text(errors="replace")):
        time.sleep(0.2)
    if who == "everyone":
        os.killpg(proc.pid, signal.SIGINT)
    else:  # the signal reaches one process only: the others learn it at the next step
        os.kill(workers(proc.pid)[1], signal.SIGINT)
    stdout, _ = proc.communicate(timeout=120)
    assert "stopped early" in stdout, log.read_text()
    ckpt = load_checkpoint(str(out), with_optimizer=True)
    assert ckpt.metadata["interrupted"] is True and ckpt.metadata["steps"] > 0
    assert len(ckpt.metadata["history"]["train"]) == ckpt.metadata["steps"]
    if who != "everyone":
        assert proc.returncode == 0  # torchrun itself got no signal, and every worker ended well
