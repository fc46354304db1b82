"""The process-wide state encoderkit changes while it works, given back as it found it, and
one lock so that two threads never change it at once.

Python's ``warnings`` filters (before 3.14), torch's default random generators, its
deterministic-algorithms flag and default dtype, numpy's and ``random``'s global generators,
Hydra's ``GlobalHydra`` and the ``TORCHINDUCTOR_CACHE_DIR`` key torch's compiler stack sets
in ``os.environ`` when a fit imports it are each one per process. Training changes them
(``torch.manual_seed(run.seed)`` for identical initial weights on every rank, a resume
restores the checkpoint's generators, deterministic kernels on CPU), building a model to load
weights into draws a random initialisation, and the imputers silence or record warnings
around third-party calls. Saving and restoring is not enough with threads: two fits that
each save, change and restore interleave, one restores what the other had set (a session
was left with ``('ignore', Warning)`` first in its filters), and both draw from the one
generator (a seeded fit gave other fills in a thread pool than alone).

So every section that changes such state holds one lock (``held()``). It is re-entrant (a
fit's sections nest), and two fits in two threads run one after the other, each exactly as
it runs alone (``EncoderImputer``'s fit and transform hold it throughout, so the third-party
sections inside them, scikit-learn's own ``catch_warnings`` among them, take turns too). What
stays shared: a user's own thread that draws from torch's generator, creates tensors or sets
warnings filters while a fit runs meets the fit's generator, default dtype and filters, as
torch and ``warnings`` keep them per process, not per thread.

Grad mode and autocast are per thread: a section sets what it needs (``training``,
``forward_precision``: every model forward runs under the autocast encoderkit chose, never a
host's ``torch.autocast``) and the thread's own comes back when it ends; no lock needed.

torch is imported where it is used: ``encoderkit.errors`` imports this module, and the
commands that must start without torch import that.
"""

from __future__ import annotations

import os
import random
import threading
import warnings
from contextlib import ExitStack, contextmanager, suppress
from typing import Any, Iterator

_lock = threading.RLock()


def _free_lock_in_child() -> None:
    # A process forked while another thread held the lock (ingest or DataLoader workers)
    # would wait for it for ever; the child never unwinds the parent's sections.
    global _lock
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_free_lock_in_child)


@contextmanager
def held() -> Iterator[None]:
    """The section changes process-wide state: no other thread's section runs meanwhile."""
    with _lock:
        yield


@contextmanager
def warnings_kept(record: bool = False) -> Iterator[Any]:
    """``warnings.catch_warnings(record=record)`` holding the lock: the filters a section sets
    (``simplefilter("ignore")`` around a third-party call) and the warnings it records are its
    own, and the caller's filters are back when it ends, whatever other threads do meanwhile
    (``catch_warnings`` alone swaps the module's one filter list)."""
    with held(), warnings.catch_warnings(record=record) as caught:
        yield caught


def _generators(cuda: bool) -> tuple[Any, ...]:
    import numpy as np
    import torch

    # every CUDA device's generator: a run seeds them all (torch.manual_seed); read only where
    # CUDA is up or asked for (reading it starts CUDA, which a CPU model build must not do)
    devices = None
    if torch.cuda.is_available() and (cuda or torch.cuda.is_initialized()):
        devices = torch.cuda.get_rng_state_all()
    return torch.get_rng_state(), devices, np.random.get_state(), random.getstate()


def _set_generators(state: tuple[Any, ...]) -> None:
    import numpy as np
    import torch

    cpu, devices, np_state, py_state = state
    torch.set_rng_state(cpu)
    if devices is not None:
        torch.cuda.set_rng_state_all(devices)
    np.random.set_state(np_state)
    random.setstate(py_state)


@contextmanager
def generators_kept(cuda: bool = False) -> Iterator[None]:
    """torch's (CPU, and with ``cuda`` or CUDA started every device's), numpy's and
    ``random``'s global generators as they were before the section, whatever it seeds or
    draws; the lock held."""
    with held():
        state = _generators(cuda)
        try:
            yield
        except BaseException:
            with suppress(Exception):  # a CUDA error that ended the section: not hidden by a second one
                _set_generators(state)
            raise
        _set_generators(state)


@contextmanager
def float32_default() -> Iterator[None]:
    """torch's default dtype float32 in the section (a session's
    ``torch.set_default_dtype(torch.float64)`` made float64 models, which the domains' float32
    inputs do not fit), the session's again after; the lock held."""
    import torch

    with held():
        was = torch.get_default_dtype()
        torch.set_default_dtype(torch.float32)
        try:
            yield
        finally:
            torch.set_default_dtype(was)


@contextmanager
def deterministic_kept() -> Iterator[None]:
    """torch's deterministic-algorithms flag (and its ``warn_only``) as it was before the
    section; the lock held. Set back only where it changed: the first call imports
    ``torch._inductor``, seconds that a run on CUDA need not spend."""
    import torch

    with held():
        was = torch.are_deterministic_algorithms_enabled()
        warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
        try:
            yield
        finally:
            if (torch.are_deterministic_algorithms_enabled() != was
                    or torch.is_deterministic_algorithms_warn_only_enabled() != warn_only):
                torch.use_deterministic_algorithms(was, warn_only=warn_only)


#: the environment key torch's compiler stack (``torch._dynamo``, ``torch._inductor``) sets on
#: import, to a folder it makes in the temporary directory
INDUCTOR_CACHE_KEY = "TORCHINDUCTOR_CACHE_DIR"


def _default_inductor_cache() -> str:
    """The folder torch makes when ``INDUCTOR_CACHE_KEY`` is unset (``torch._inductor.runtime.
    cache_dir_utils.default_cache_dir``, which cannot be asked without the import that makes it).
    Only ever compared with the folder torch names: a torch that names another is left alone."""
    import getpass
    import re
    import tempfile

    try:
        user = getpass.getuser()
    except (KeyError, ModuleNotFoundError, OSError):
        getuid = getattr(os, "getuid", None)
        user = f"uid_{getuid()}" if callable(getuid) else "unknown_user"
    name = "torchinductor_" + re.sub(r'[\\/:*?"<>|]', "_", user)
    return os.path.abspath(os.path.join(tempfile.gettempdir(), name))


@contextmanager
def inductor_cache_kept() -> Iterator[None]:
    """``os.environ[INDUCTOR_CACHE_KEY]`` as it was before the section, and no empty cache folder
    left that the section made. A fit's first optimizer (``torch.optim``) and
    ``torch.use_deterministic_algorithms`` import torch's compiler stack, which sets the key for
    the process (a host's child processes inherit it) and makes ``$TMPDIR/torchinductor_<user>/``;
    a folder with something in it (a compiled run's cache) is kept."""
    before = os.environ.get(INDUCTOR_CACHE_KEY)
    made = os.path.abspath(before) if before is not None else _default_inductor_cache()
    existed = os.path.isdir(made)
    try:
        yield
    finally:
        now = os.environ.get(INDUCTOR_CACHE_KEY)
        if now != before:
            if before is None:
                os.environ.pop(INDUCTOR_CACHE_KEY, None)
            else:
                os.environ[INDUCTOR_CACHE_KEY] = before  # torch made a relative path absolute
        if not existed and now is not None and os.path.abspath(now) == made:
            with suppress(OSError):  # not empty (a compiled run's cache), or gone: kept as it is
                os.rmdir(made)


#: the device types whose autocast a host may have turned on around a call (autocast is per
#: device type and per thread): each is set by ``forward_precision``, whatever the model's device
AUTOCAST_DEVICE_TYPES = ("cpu", "cuda")


@contextmanager
def forward_precision(device_type: str, bf16: bool = False) -> Iterator[None]:
    """The autocast a model's forward runs under, chosen by encoderkit: bf16 on ``device_type``
    where ``bf16``, and off on every other (and there for fp32). A host's own
    ``torch.autocast("cpu", dtype=torch.bfloat16)`` around ``embed``, ``infill`` or a fit ran
    the fp32 model in bf16 (fills up to 1.0 apart, a run trained in bf16 whose config says
    fp32); the host's autocast is back when the section ends. Autocast is per thread: no
    lock, another thread's is not touched."""
    import torch

    with ExitStack() as stack:
        for kind in dict.fromkeys((*AUTOCAST_DEVICE_TYPES, device_type)):
            if kind == device_type and bf16:
                # no cast cache: torch empties it only when the outermost autocast section ends,
                # here a host's or the fit's own (``training``), so the next step's forward ran
                # on the bf16 copies of the weights before the optimizer step
                stack.enter_context(torch.autocast(kind, dtype=torch.bfloat16, cache_enabled=False))
            elif torch.amp.is_autocast_available(kind):
                stack.enter_context(torch.autocast(kind, enabled=False))
        yield


@contextmanager
def training(cuda: bool = False) -> Iterator[None]:
    """What a training run (``Trainer.fit``) runs under: the lock; the generators (CUDA's
    too for a run on CUDA, ``cuda``, or where CUDA is already up: a CPU run on a machine
    with a GPU must not start CUDA), the deterministic-algorithms flag and the default dtype given back afterwards;
    float32 as default dtype, and gradients on, inside (a fit called under
    ``torch.no_grad()``, ``torch.inference_mode()`` or ``torch.set_grad_enabled(False)``
    trains all the same; grad mode is per thread, so another thread's is not touched), no
    autocast but the run's own (``forward_precision``: a host's ``torch.autocast`` trained an
    fp32 run in bf16), and torch's compiler cache key and folder as they were
    (``inductor_cache_kept``)."""
    import torch

    # the cache key outermost: deterministic_kept's restore may be the import that sets it
    with held(), inductor_cache_kept(), generators_kept(cuda=cuda), deterministic_kept(), \
            float32_default(), torch.inference_mode(False), torch.enable_grad(), forward_precision("cpu"):
        yield


@contextmanager
def model_build() -> Iterator[None]:
    """Building a model to load weights into: its random initialisation, which the weights
    replace, leaves the caller's generators as they were, and its tensors are float32
    whatever the session's default dtype; the lock held."""
    with held(), generators_kept(), float32_default():
        yield
