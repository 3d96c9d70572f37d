"""The optimizer's state as flat named tensors, so `--resume` continues a run where it stopped.

AdamW's per-parameter moments and the batch sampler's random state become plain tensors that a
checkpoint stores beside the weights (optimizer.safetensors, files/checkpoint.py), and back.
Explained in notebooks/04_training.ipynb.
"""

from __future__ import annotations

import torch

from ..core.errors import TinyMTPError


def optimizer_to_tensors(optimizer: torch.optim.Optimizer, generator: torch.Generator) -> dict:
    """AdamW's per-parameter moments and the batch sampler's RNG state as flat named tensors."""
    tensors = {"generator_state": generator.get_state()}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            tensors[f"state.{index}.{key}"] = torch.as_tensor(value)
    return tensors


def restore_optimizer(optimizer: torch.optim.Optimizer, generator: torch.Generator, tensors: dict) -> None:
    """The inverse of `optimizer_to_tensors`."""
    state_dict = optimizer.state_dict()
    state: dict = {}
    for name, value in tensors.items():
        if name == "generator_state":
            generator.set_state(value)
            continue
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = value
    state_dict["state"] = state
    try:
        optimizer.load_state_dict(state_dict)
    except (ValueError, KeyError, RuntimeError) as exc:
        raise TinyMTPError(f"the checkpoint's optimizer state does not fit this model ({exc})") from None
