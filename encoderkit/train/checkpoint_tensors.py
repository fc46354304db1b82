"""What a checkpoint stores of a model and its optimizer, as named tensors: the model's state
dict with each tied tensor once, the optimizer's state flattened (its param groups go to JSON),
and the way back. ``encoderkit.train.checkpoint`` writes and reads them (and re-exports these)."""

from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor


def untied_state(model: torch.nn.Module) -> dict[str, Tensor]:
    """``model.state_dict()`` with each shared tensor (tied embeddings) under its first name
    only: what a checkpoint stores; ``load_state_dict(strict=False)`` restores the twin."""
    out: dict[str, Tensor] = {}
    seen: set[int] = set()
    for name, t in model.state_dict().items():
        key = t.data_ptr() if t.numel() else id(t)
        if key in seen and t.numel():
            continue
        seen.add(key)
        out[name] = t
    return out


def model_state(model: torch.nn.Module) -> dict[str, Tensor]:
    """State dict with shared tensors (tied embeddings) stored once, contiguous, on CPU."""
    return {name: t.detach().to("cpu").contiguous().clone() for name, t in untied_state(model).items()}


def load_model_state(model: torch.nn.Module, state: Mapping[str, Tensor]) -> None:
    missing, unexpected = model.load_state_dict(dict(state), strict=False)
    # Missing keys are allowed only when they are tied to a loaded tensor.
    ptrs = {t.data_ptr() for n, t in model.state_dict().items() if n in state}
    really_missing = [k for k in missing if model.state_dict()[k].data_ptr() not in ptrs]
    if really_missing or unexpected:
        raise ValueError(f"checkpoint does not match the model: missing {really_missing}, "
                         f"unexpected {list(unexpected)}")


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], list]:
    """Flatten ``optimizer.state_dict()`` into named tensors plus JSON param groups."""
    sd = optimizer.state_dict()
    tensors = {}
    for idx, state in sd["state"].items():
        for k, v in state.items():
            t = v if isinstance(v, Tensor) else torch.tensor(v)
            tensors[f"state.{idx}.{k}"] = t.detach().to("cpu").contiguous().clone()
    return tensors, sd["param_groups"]


def load_optimizer_tensors(optimizer: torch.optim.Optimizer, tensors: Mapping[str, Tensor],
                           groups: list) -> None:
    state: dict[int, dict[str, Tensor]] = {}
    for name, t in tensors.items():
        _, idx, k = name.split(".", 2)
        state.setdefault(int(idx), {})[k] = t
    for g in groups:  # JSON turns tuples into lists
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    optimizer.load_state_dict({"state": state, "param_groups": groups})
