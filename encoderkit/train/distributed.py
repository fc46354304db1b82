"""Process-group setup from torchrun's environment, and model wrapping (DDP / FSDP2).

``torchrun --nproc_per_node=N -m encoderkit pretrain ...`` sets RANK, LOCAL_RANK,
WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT; without them the run is
single-process and no process group is created. NCCL on CUDA, gloo on CPU.

Multi-node (``torchrun --nnodes=M``): RANK is global (it picks the data shard and the
writer of checkpoints: rank 0), LOCAL_RANK is the index on this host (it picks the
GPU). Tested with 2 nodes x 2 gloo ranks on one machine (tests/train/test_multinode.py).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist
from torch import Tensor, nn

from encoderkit.errors import UsageError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1  # processes on this host (torchrun --nproc-per-node)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str, local_rank: int = 0, local_world_size: int = 1) -> torch.device:
    """``auto`` / ``cuda`` become ``cuda:<LOCAL_RANK>`` (one GPU per process on each host);
    an explicit ``cuda:N`` is kept, but not when several processes share this host (they
    would all train on GPU N)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    explicit = name.startswith("cuda:")
    if name == "cuda":
        name = f"cuda:{local_rank}"
    device = torch.device(name)  # the config checked the spelling
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise UsageError(f"The 'run.device' parameter is {name!r} but CUDA is not available; "
                         "use run.device=cpu or auto", key="run.device")
    if explicit and local_world_size > 1:
        raise UsageError(f"The 'run.device' parameter is {name!r} but {local_world_size} "
                         "processes run on this host and would share that GPU; use "
                         "run.device=cuda (each process takes cuda:<LOCAL_RANK>)", key="run.device")
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        fix = (f"use cuda:0 .. cuda:{count - 1}" if explicit else
               f"start at most {count} process(es) per node (torchrun --nproc-per-node={count})")
        raise UsageError(f"run.device={name!r}: this host has {count} CUDA device(s); {fix}",
                         key="run.device")
    return device


def setup(device_name: str) -> tuple[DistInfo, torch.device]:
    """Initialise the process group if torchrun launched us; return (info, device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    info = DistInfo(rank=rank, local_rank=local, world_size=world, local_world_size=local_world)
    device = resolve_device(device_name, local, local_world)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None)
    return info, device


_HELD = 0  # > 0: runs in this process share one process group (held())


@contextmanager
def held() -> Iterator[None]:
    """Keep the process group across several runs of one process (an ensemble's members):
    a group destroyed and initialised again on torchrun's store hangs. Torn down on exit."""
    global _HELD
    _HELD += 1
    try:
        yield
    finally:
        _HELD -= 1
        teardown()


def teardown() -> None:
    if _HELD:
        return
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(x: Tensor, info: DistInfo) -> Tensor:
    if info.enabled:
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def broadcast_object(obj, info: DistInfo):
    """Rank 0's value on every rank (small JSON-like objects)."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def wrap(model: nn.Module, info: DistInfo, device: torch.device, strategy: str) -> nn.Module:
    """DDP or FSDP2 (``fully_shard`` per encoder layer, then the root). Single process:
    the model unchanged."""
    if not info.enabled:
        return model
    if strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        layers = getattr(getattr(model, "encoder", None), "layers", None)
        for layer in layers or []:
            fully_shard(layer)
        fully_shard(model)
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None
    return DDP(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def full_state_dict(model: nn.Module, strategy: str, info: DistInfo) -> dict[str, Tensor]:
    """The unsharded model state on CPU (a collective under FSDP2: every rank calls it)."""
    if info.enabled and strategy == "fsdp":
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True,
                                                                    cpu_offload=True))
    return unwrap(model).state_dict()
