"""A model's size before it is built: its parameter count (from a build on the ``meta``
device, which allocates nothing) against the memory of this machine.

``model.hidden_size=32768 model.num_layers=48`` asks for ~2e11 parameters, 0.8 TB in
float32. Building that allocated tensor after tensor until the allocator gave up (a
traceback) or the kernel's OOM killer ended the process (no message at all, other
processes of the machine at risk). The count is exact and costs no memory, so a model
whose parameters alone exceed the machine's memory is refused before any allocation, and
an allocation that fails anyway is one line stating what was asked for.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from encoderkit.session_state import warnings_kept

# every model is built in float32 (bf16 is autocast, not storage)
BYTES_PER_PARAMETER = 4
_CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


def meta_parameters(build: Callable[[], nn.Module]) -> tuple[nn.Module, int]:
    """``build()`` on the meta device (shapes only) and its parameter count."""
    with torch.device("meta"):
        module = build()
    return module, sum(p.numel() for p in module.parameters())


def encoder_parameters(config) -> int:
    """Parameters of the core ``Encoder`` of ``config`` (the domain's embedder and head
    come on top; they are small next to it in every shipped domain).

    Built with one and two layers, not ``num_layers``: layer 0 differs (no attention norm),
    layers 1.. are alike (global and local layers hold the same tensors), so the count is
    ``one + (num_layers - 1) x (two - one)``, exact, and a ``model.num_layers=10**8`` costs
    two small builds rather than 10**8 modules."""
    import dataclasses

    from encoderkit.core import Encoder

    def count(layers: int) -> int:
        with warnings_kept():  # the config's own warnings were said when it was made
            warnings.simplefilter("ignore")
            return meta_parameters(lambda: Encoder(dataclasses.replace(config, num_layers=layers)))[1]

    one = count(1)
    return one + (config.num_layers - 1) * (count(2) - one) if config.num_layers > 1 else count(config.num_layers)


def memory_bytes() -> int | None:
    """What this process can hold at most: physical memory plus swap, or the cgroup's
    limit when lower (a container); None where neither can be read."""
    total = None
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        total = sum(int(fields[k].split()[0]) * 1024 for k in ("MemTotal", "SwapTotal") if k in fields)
    except (OSError, ValueError):
        with contextlib.suppress(ValueError, OSError, AttributeError):
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for file in _CGROUP_LIMITS:
        with contextlib.suppress(OSError, ValueError):
            limit = int(file.read_text().strip())  # "max" (no limit) is a ValueError
            total = limit if total is None else min(total, limit)
    return total or None


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def size_text(parameters: int) -> str:
    """``"218,543,194,112 parameters (874.2 GB in float32)"``."""
    return f"{parameters:,} parameters ({_gb(parameters * BYTES_PER_PARAMETER)} in float32)"


def size_problem(parameters: int) -> str | None:
    """Why a model of ``parameters`` cannot be built here, or None."""
    need, have = parameters * BYTES_PER_PARAMETER, memory_bytes()
    if have is not None and need > have:
        return (f"the model has {size_text(parameters)}, more than this machine's {_gb(have)} of "
                f"memory (RAM + swap, or the container's limit) holds")
    return None


@contextlib.contextmanager
def allocation(parameters: int, error: Callable[[str], Exception]) -> Iterator[None]:
    """Around a model's build: an allocation that fails is ``error(message)``, one line with
    the parameter count and bytes asked for, instead of the allocator's traceback."""
    try:
        yield
    except (MemoryError, torch.OutOfMemoryError) as e:
        raise error(_failed(parameters, e)) from None
    except RuntimeError as e:  # the CPU allocator's "can't allocate memory: you tried to ..."
        if "allocate" not in str(e) and "out of memory" not in str(e).lower():
            raise
        raise error(_failed(parameters, e)) from None


def _failed(parameters: int, e: BaseException) -> str:
    cause = " ".join(str(e).split())[:200] or type(e).__name__
    return f"building the model ({size_text(parameters)}) ran out of memory: {cause}"
