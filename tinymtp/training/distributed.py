"""Training on several processes at once: torchrun and DistributedDataParallel (DDP).

    torchrun --standalone --nproc_per_node 2 -m tinymtp train --steps 800 --batch-size 32

torchrun starts N copies of the same command and tells each which one it is through environment
variables: RANK (0..N-1), WORLD_SIZE (N) and LOCAL_RANK (its number on this machine, which picks
its GPU). Every process then builds the same model from the same seed and draws the SAME batch
from the same seeded generator; process r keeps rows r*B/N .. (r+1)*B/N - 1 of it. DDP runs each
process's backward and averages the gradients over the processes before the optimizer step. The
loss is a mean over rows, so with equal shares the averaged gradient is the gradient of the whole
batch's loss: N processes take exactly the steps one process takes on the combined batch (equal
up to the order of float additions; tests/test_distributed.py checks the weights). Every process
then holds the same weights, so only process 0 draws the progress bar, evaluates and writes the
checkpoint; the others wait for it at the next step's gradient exchange, or simply exit at the end.

Processes talk through a backend: gloo on CPU, NCCL on CUDA GPUs (`--device cuda` puts process
r on GPU LOCAL_RANK). The memory-saving backward runs outside DDP's forward, so there the
gradients are averaged by hand (`average_gradients`, the same all-reduce DDP does in buckets).
Ctrl-C reaches the processes at different moments, so a worker only notes it and every step
begins by asking all of them (`stop_together`): they stop before the same step and process 0
saves, as Ctrl-C does in one process.

Left out on purpose: several machines (torchrun's --nnodes; nothing here was tested on it),
--minutes (the processes' clocks differ, so they could stop at different steps and wait for each
other forever; give --steps), and model or pipeline parallelism: the model is tiny, so every
process holds all of it. A process that dies (killed, out of memory) makes torchrun end the
others, or they fail at the next exchange with a one-line error; nothing is written
(`one_of_the_processes`). No notebook runs it (a notebook is one process):
docs/usage.md ("Several processes: torchrun") explains it, next to notebooks/04_training.ipynb.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..core.errors import TinyMTPError

STOP_ASKED = threading.Event()  # Ctrl-C in a torchrun worker: noted here, acted on by every process at once


def note_ctrl_c(signum, frame) -> None:
    STOP_ASKED.set()


@dataclass(frozen=True)
class Processes:
    """Which process of how many this one is (torchrun's RANK, WORLD_SIZE and LOCAL_RANK)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        """Process 0: the one that draws the progress bar, evaluates and writes."""
        return self.rank == 0

    def check(self, batch_size: int, minutes: float | None, device: str) -> None:
        """The settings that cannot be split over the processes: one-line errors, before any waiting."""
        if not self.distributed:
            return
        if self.world_size > batch_size:
            raise TinyMTPError(f"torchrun started {self.world_size} processes but the batch has {batch_size} "
                               f"rows: each process needs at least one (use a --batch-size of at least "
                               f"{self.world_size}, or fewer processes)")
        if batch_size % self.world_size:
            raise TinyMTPError(f"--batch-size {batch_size} does not split evenly over {self.world_size} "
                               f"processes: use a multiple of {self.world_size}")
        if minutes is not None:
            raise TinyMTPError("under torchrun give --steps, not --minutes: every process must stop at the same step")
        if device == "cuda" and self.local_rank >= torch.cuda.device_count():
            raise TinyMTPError(f"process with LOCAL_RANK {self.local_rank} has no GPU of its own: "
                               f"{torch.cuda.device_count()} are visible (use at most that many processes per machine)")

    def start(self, device: str) -> str:
        """Join torchrun's process group (once) and return this process's device: cuda -> cuda:LOCAL_RANK."""
        if not self.distributed:
            return device
        if device == "cuda":
            torch.cuda.set_device(self.local_rank)
            device = f"cuda:{self.local_rank}"
        if not dist.is_initialized():  # MASTER_ADDR and MASTER_PORT come from torchrun (or the test)
            backend = "nccl" if device.startswith("cuda") else "gloo"
            dist.init_process_group(backend, rank=self.rank, world_size=self.world_size)
        if threading.current_thread() is threading.main_thread():  # Python lets only it handle signals
            STOP_ASKED.clear()
            signal.signal(signal.SIGINT, note_ctrl_c)  # see stop_together
        return device

    def stop_together(self, device: str) -> None:
        """Ctrl-C reaches the processes at different moments (inside a gradient exchange, say), so
        a worker only notes it; every step begins by asking all of them (one all-reduce of one
        number), and if any was asked, all raise KeyboardInterrupt before the same step. The loop
        then ends as Ctrl-C ends a one-process run, and process 0 saves the steps all took."""
        if not self.distributed:
            return
        asked = torch.tensor([float(STOP_ASKED.is_set())], device=device)  # (1,)
        dist.all_reduce(asked)
        if asked.item() > 0:
            raise KeyboardInterrupt

    def my_rows(self, batch: torch.Tensor) -> torch.Tensor:
        """This process's share of the batch every process drew: (B, ...) -> (B / N, ...)."""
        share = batch.size(0) // self.world_size
        return batch[self.rank * share : (self.rank + 1) * share]  # (B/N, ...)

    def wrap(self, model: torch.nn.Module, memory_saving: bool, curriculum: str) -> torch.nn.Module:
        """The model each step's forward goes through: DDP, which averages gradients during backward.

        A curriculum leaves heads out of some steps' loss: DDP must then look for parameters
        without a gradient (find_unused_parameters), or it waits for them forever."""
        if not self.distributed or memory_saving:
            return model
        device_ids = [self.local_rank] if next(model.parameters()).is_cuda else None
        return DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=curriculum != "none")

    def average_gradients(self, model: torch.nn.Module) -> None:
        """What DDP does during backward, by hand: every gradient becomes its mean over the processes."""
        if not self.distributed:
            return
        for parameter in model.parameters():
            if parameter.grad is not None:  # a head out of the loss has none on every process
                dist.all_reduce(parameter.grad)  # the sum over processes, in place
                parameter.grad /= self.world_size

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean over the processes of each process's values (its losses on its rows): (k,) -> (k,)."""
        if not self.distributed:
            return values
        values = values.detach().clone()
        dist.all_reduce(values)
        return values / self.world_size


ONE_PROCESS = Processes()


def processes_from_environment(environ=None) -> Processes:
    """torchrun's RANK, WORLD_SIZE and LOCAL_RANK; without them (a plain run) one process."""
    environ = os.environ if environ is None else environ
    if "WORLD_SIZE" not in environ:
        return ONE_PROCESS
    try:
        processes = Processes(int(environ.get("RANK", 0)), int(environ["WORLD_SIZE"]),
                              int(environ.get("LOCAL_RANK", 0)))
    except ValueError:
        raise TinyMTPError("RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers (torchrun sets them)") from None
    if not 0 <= processes.rank < processes.world_size or processes.local_rank < 0:
        raise TinyMTPError(f"RANK {processes.rank} is not one of WORLD_SIZE {processes.world_size} processes")
    return processes


def peer_is_gone(exc: RuntimeError) -> bool:
    """Whether a gradient exchange failed because another process ended (not a bug in this one)."""
    text = str(exc)
    return isinstance(exc, dist.DistError) or "closed by peer" in text or "reset by peer" in text


@contextmanager
def one_of_the_processes(processes: Processes):
    """Around a torchrun worker's whole command: one error line for the run, and a clean exit.

    A bad setting fails the same check in every process before any of them waits for another:
    process 0 prints the one line and the others exit quietly with the same status (2). A process
    that finds another one gone stops with one line instead of gloo's traceback. The process
    group is left on the way out, whatever happened."""
    try:
        yield
    except TinyMTPError:
        if not processes.main:
            raise SystemExit(2) from None
        raise
    except RuntimeError as exc:  # gloo says a peer is gone with a plain RuntimeError, NCCL with a DistError
        if not (processes.distributed and peer_is_gone(exc)):
            raise
        raise TinyMTPError(f"training process {processes.rank} of {processes.world_size} stopped: another "
                           "process of this run is gone (killed, or out of memory); nothing was saved") from None
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        if processes.distributed and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C raises again
