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
import re
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


LAUNCH_HINT = ("start several processes with torchrun (torchrun --nproc-per-node=N -m encoderkit "
               "...), which sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT, or unset RANK and "
               "WORLD_SIZE for one process")


def _env_int(name: str, default: int, low: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low:
        raise UsageError(f"the environment variable {name}={raw!r} must be an integer >= {low}; "
                         f"{LAUNCH_HINT}", key=name)
    return value


def environment() -> DistInfo:
    """The processes torchrun's variables describe, checked: a hand-made launcher or a
    scheduler that sets RANK / WORLD_SIZE but not the rest got a torch traceback (no
    MASTER_ADDR) or a data error about a rank (RANK=1 alone) instead of one line naming the
    variable."""
    world = _env_int("WORLD_SIZE", 1, 1)
    rank = _env_int("RANK", 0, 0)
    local = _env_int("LOCAL_RANK", 0, 0)
    local_world = _env_int("LOCAL_WORLD_SIZE", 1, 1)
    if rank >= world:
        said = (f"is not below WORLD_SIZE={world}" if os.environ.get("WORLD_SIZE", "").strip()
                else "is set but WORLD_SIZE is not (one process, whose RANK is 0)")
        raise UsageError(f"the environment variable RANK={rank} {said}; {LAUNCH_HINT}", key="RANK")
    if world > 1:
        unset = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if not os.environ.get(k, "").strip()]
        if unset:
            raise UsageError(f"WORLD_SIZE={world} asks for {world} processes but the environment "
                             f"variable{'s' if len(unset) > 1 else ''} {' and '.join(unset)} "
                             f"{'are' if len(unset) > 1 else 'is'} not set; {LAUNCH_HINT}",
                             key=unset[0])
        _env_int("MASTER_PORT", 0, 1)
    return DistInfo(rank=rank, local_rank=local, world_size=world, local_world_size=local_world)


_JOINED = False  # this process took part in a process group (teardown does not clear it)

# what gloo's socket errors say when the process at the other end is gone ("[pair.cc:553]
# Connection closed by peer [127.0.0.1]:7570", "Read error [...]: Connection reset by peer")
_PEER_GONE = re.compile(r"connection (closed|reset) by peer|broken pipe|socket timeout", re.IGNORECASE)


def setup(device_name: str) -> tuple[DistInfo, torch.device]:
    """Initialise the process group if torchrun launched us; return (info, device)."""
    info = environment()
    local, local_world = info.local_rank, info.local_world_size
    device = resolve_device(device_name, local, local_world)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        try:
            dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None)
        except dist.DistError as e:  # the rendezvous: no process answered at MASTER_ADDR:MASTER_PORT
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise UsageError(f"RANK={info.rank} of WORLD_SIZE={info.world_size} could not join the "
                             f"other processes at MASTER_ADDR={os.environ.get('MASTER_ADDR')} "
                             f"MASTER_PORT={os.environ.get('MASTER_PORT')} ({first[:200]}); "
                             f"{LAUNCH_HINT}", key="MASTER_ADDR") from None
    global _JOINED
    _JOINED = _JOINED or info.enabled
    return info, device


def peer_failure(error: BaseException) -> str | None:
    """The one-line message for ``error`` if it says another process of this distributed run
    is gone, else None. torchrun's other ranks end in a torch traceback (gloo's "Connection
    closed by peer", a ``DistBackendError`` / ``DistNetworkError``) when one rank stops on a
    user error or is terminated; blamed on encoderkit, that hid the one message that said what
    was wrong. Only once this process joined a process group, and only these errors: another
    error of a distributed run is still reported as encoderkit's."""
    if not _JOINED:
        return None
    seen: set[int] = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:  # the error and what it was raised from
        seen.add(id(e))
        first = (str(e).strip().splitlines() or [""])[0]
        match = _PEER_GONE.search(first)
        if isinstance(e, (dist.DistBackendError, dist.DistNetworkError)) or (
                isinstance(e, RuntimeError) and match):
            why = match.group(0) if match else type(e).__name__
            return (f"another rank of this distributed run stopped or stopped answering ({why}): "
                    f"read that rank's own message for the cause; this rank cannot go on without it")
        e = e.__cause__ or e.__context__
    return None


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


def all_gather_rows(x: Tensor, info: DistInfo) -> Tensor:
    """Every rank's ``x`` ``[n_rank, ...]`` concatenated in rank order; ranks may hold
    different numbers of rows (padded to the most for the collective, then cut back)."""
    if not info.enabled:
        return x
    n = torch.tensor([x.shape[0]], dtype=torch.int64, device=x.device)
    counts = [torch.zeros_like(n) for _ in range(info.world_size)]
    dist.all_gather(counts, n)
    sizes = [int(c) for c in counts]
    padded = x.new_zeros((max(sizes), *x.shape[1:]))
    padded[: x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in range(info.world_size)]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([part[:size] for part, size in zip(parts, sizes)])


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

        # FSDP2 shards along dim 0 and refuses 0-dim parameters (a contrastive task's learned
        # temperature): those stay whole on every rank, their gradients averaged by
        # ``average_whole_grads`` as FSDP2 averages the others
        whole = {p for p in model.parameters() if p.ndim == 0} or None
        layers = getattr(getattr(model, "encoder", None), "layers", None)
        for layer in layers or []:
            fully_shard(layer, ignored_params=whole)
        fully_shard(model, ignored_params=whole)
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None
    return DDP(model, device_ids=ids)


def is_sharded(t: Tensor) -> bool:
    """A DTensor (a parameter, gradient or moment FSDP2 shards)."""
    return hasattr(t, "full_tensor")


def average_whole_grads(model: nn.Module, info: DistInfo) -> None:
    """Under FSDP2: the mean over ranks of the gradients of the parameters it leaves whole
    (``wrap``), one all-reduce for all of them; FSDP2 averages the sharded ones itself."""
    grads = [p.grad for p in model.parameters() if p.grad is not None and not is_sharded(p)]
    if not info.enabled or not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= info.world_size
    for g, part in zip(grads, flat.split([g.numel() for g in grads])):
        g.copy_(part.view_as(g))


def clip_grad_norm(model: nn.Module, max_norm: float) -> Tensor:
    """``clip_grad_norm_`` over every gradient, also when FSDP2 shards some parameters and
    leaves others whole (torch's own stacks the per-tensor norms, and refuses a mix of
    DTensors and tensors): the total norm of both parts, one clip factor for all."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    sharded = [g for g in grads if is_sharded(g)]
    if not sharded or len(sharded) == len(grads):
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        return norm.full_tensor() if is_sharded(norm) else norm
    whole = [g for g in grads if not is_sharded(g)]
    parts = torch.nn.utils.get_total_norm(sharded).full_tensor(), torch.nn.utils.get_total_norm(whole)
    norm = torch.linalg.vector_norm(torch.stack([parts[0].to(parts[1].device), parts[1]]))
    factor = float((max_norm / (norm + 1e-6)).clamp(max=1.0))
    if factor < 1.0:
        torch._foreach_mul_([g.to_local() if is_sharded(g) else g for g in grads], factor)
    return norm


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def full_state_dict(model: nn.Module, strategy: str, info: DistInfo) -> dict[str, Tensor]:
    """The unsharded model state on CPU (a collective under FSDP2: every rank calls it)."""
    if info.enabled and strategy == "fsdp":
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True,
                                                                    cpu_offload=True))
    return unwrap(model).state_dict()
