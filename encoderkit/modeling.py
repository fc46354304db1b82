"""A domain's embedder + the core ``Encoder`` + the domain's head, as one module.

Training and inference both build their model here. The head runs only at the
predicted tokens (sparse prediction), so a batch with 15% masking pays the head's
cost on 15% of its tokens.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Iterator

import torch
import torch.utils._pytree as pytree
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from encoderkit.batch import PackedBatch
from encoderkit.core import Encoder, EncoderConfig
from encoderkit.core.init import trunc_normal_ as core_trunc_normal_
from encoderkit.domain import Domain, HeadOutput


class MaskedEncoderModel(nn.Module):
    def __init__(self, domain: Domain, config: EncoderConfig) -> None:
        super().__init__()
        if config.rope_axes != domain.rope_axes:
            raise ValueError(f"model.rope_axes={config.rope_axes} but domain {domain.name!r} "
                             f"uses {domain.rope_axes} position axes; set model.rope_axes="
                             f"{domain.rope_axes}")
        self.config = config
        self.embedder = domain.embedder(config)
        self.encoder = Encoder(config)
        self.head = domain.head(config, self.embedder)

    def compile(self, *args, **kwargs) -> None:  # noqa: D401 - nn.Module.compile signature
        """``torch.compile`` the encoder layers (see ``Encoder.compile``).

        The embedder and head are domain code (they may branch on data) and stay eager,
        as does per-batch planning; compiling the whole model would graph-break there.
        """
        self.encoder.compile(*args, **kwargs)

    def encode(self, batch: PackedBatch) -> Tensor:
        """Hidden states ``[T, d]`` for every token of the batch."""
        hidden = self.embedder(batch.inputs)  # [T, d]
        return self.encoder(hidden, batch.positions, batch.cu_seqlens, batch.max_seqlen,
                            cu_seqlens_host=batch.cu_seqlens_host)

    def forward(self, batch: PackedBatch, with_targets: bool = True) -> HeadOutput:
        hidden, weights = gather_predicted(self.encode(batch), batch)
        return self.head(hidden, batch.targets if with_targets else None, weights)


def gather_predicted(hidden: Tensor, batch: PackedBatch) -> tuple[Tensor, Tensor | None]:
    """Hidden states ``[P, d]`` and loss weights ``[P]`` (or None) of the predicted tokens."""
    idx = batch.predict_index
    if idx is not None:  # precomputed on the host: gather without a device read
        return (hidden.index_select(0, idx),
                batch.weights.index_select(0, idx) if batch.weights is not None else None)
    # boolean indexing counts the predicted tokens on the device (a sync on CUDA)
    return hidden[batch.predict], batch.weights[batch.predict] if batch.weights is not None else None


# Value-only in-place ops a module's initialisation runs: the random fills, and what older
# torch's ``nn.init.trunc_normal_`` runs after its ``uniform_`` (torch 2.13's returns early on
# meta). On a meta tensor they change nothing (no data: same shape, dtype, device), yet several
# are Python reference kernels whose first call imports ``torch._dynamo``.
_META_NO_OPS = frozenset(getattr(Tensor, name) for name in (
    "normal_", "uniform_", "random_", "bernoulli_", "exponential_", "geometric_", "cauchy_",
    "log_normal_", "erfinv_", "mul_", "add_", "clamp_"))
# Factories of tensors whose values, not only their shape, feed what an ``__init__`` computes
# (rotary frequencies: ``theta ** (arange / dim)``, ``cat``; Fourier bands: ``2.0 ** arange``;
# buffers of zeros): made on CPU, where the arithmetic after them runs native kernels, when
# small. Made on meta, that arithmetic ran Python reference kernels, the first of which
# imported ``torch._dynamo``. ``empty`` (a parameter's storage, filled by its init) stays meta.
_VALUE_FACTORIES = frozenset((torch.arange, torch.linspace, torch.logspace, torch.tensor, torch.as_tensor,
                              torch.zeros, torch.ones, torch.full, torch.eye))
_SMALL = 1 << 16  # elements a value factory may make on CPU in a meta build (256 KB in float32)
# Initialisation functions that are torch functions (a mode sees the call, then its body runs
# without the mode): ``core.init``'s truncated normal, and those of ``nn.init`` that dispatch
# (``nn.Linear``'s kaiming_uniform_ and uniform_; the others too, for a torch where they do).
_RANDOM_INITS = frozenset([core_trunc_normal_, *(getattr(nn.init, name) for name in (
    "uniform_", "normal_", "trunc_normal_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_",
    "xavier_normal_", "orthogonal_", "sparse_") if hasattr(nn.init, name))])


def _length(func: Any, args: tuple, kwargs: dict) -> float:
    """How many elements ``func(*args, **kwargs)`` (a value factory) makes; inf where unclear."""
    try:
        if func is torch.arange:
            bounds = [float(a) for a in args[:3]]
            bounds += [float(kwargs[k]) for k in ("start", "end", "step")[len(bounds):] if k in kwargs]
            start, end, step = (0.0, bounds[0], 1.0) if len(bounds) == 1 else (*bounds[:2], (bounds[2:] or [1.0])[0])
            return max(math.ceil((end - start) / step), 0)
        if func in (torch.linspace, torch.logspace):
            return float(args[2] if len(args) > 2 else kwargs["steps"])
        if func is torch.eye:
            n = int(args[0] if args else kwargs["n"])
            return n * int(args[1] if len(args) > 1 else kwargs.get("m", n))
        if func in (torch.tensor, torch.as_tensor):
            return 0  # the data is in memory already
        # zeros / ones / full: a size as ints or as one sequence
        size = kwargs["size"] if "size" in kwargs else args[0] if not isinstance(args[0], int) else args
        return math.prod(int(d) for d in size)
    except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, OverflowError):
        return math.inf


def _meta(x: Any) -> bool:
    return str(x) == "meta" or getattr(x, "type", None) == "meta"


class _MetaBuild(TorchFunctionMode):
    """A build on the meta device without torch's Python meta kernels where the result is the
    same: initialisation on meta tensors returns the tensor as it is; a small value factory
    (``_VALUE_FACTORIES``) gives a CPU tensor; an op where such a CPU tensor meets a meta one
    runs on meta, as the plain meta build runs it. Nothing else changes (real tensors: as ever)."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func in _META_NO_OPS or func in _RANDOM_INITS or getattr(func, "__module__", None) == "torch.nn.init":
            target = args[0] if args else kwargs.get("tensor", kwargs.get("self"))
            if isinstance(target, Tensor) and target.is_meta:
                return target
        if func in _VALUE_FACTORIES and _meta(kwargs.get("device")) and _length(func, args, kwargs) <= _SMALL:
            kwargs = {**kwargs, "device": "cpu"}
        try:
            return func(*args, **kwargs)
        except RuntimeError:
            tensors = [t for t in pytree.tree_leaves((args, kwargs)) if isinstance(t, Tensor)]
            if not (any(t.is_meta for t in tensors) and any(not t.is_meta for t in tensors)):
                raise
        args, kwargs = pytree.tree_map_only(Tensor, lambda t: t.to("meta"), (args, kwargs))
        return func(*args, **kwargs)


@contextmanager
def meta_build_cheap() -> Iterator[None]:
    """Builds on the ``meta`` device (the checks before a checkpoint's model is built:
    ``infer.weights_fit``) without torch's Python meta kernels, whose first call imports
    ``torch._dynamo``: ~1.2 s CPU of every ``encoderkit.load`` (embed, infill, predict,
    evaluate). The meta model has the same parameters and buffers (names, shapes, dtypes; a
    small computed buffer may sit on CPU, as one made ``from_numpy`` always did; a meta model's
    values are never read); a build on a real device is untouched, bit for bit. This thread
    only (torch's function modes are per thread)."""
    with _MetaBuild():
        yield


# The random fills a module's initialisation ends in, as tensor methods: ``nn.Embedding``'s
# ``normal_``, torch 2.13's ``nn.init.trunc_normal_`` (a ``normal_``, then full-size redraws
# while any value lies outside its bounds; ``core.init.trunc_normal_`` calls it), xavier's and kaiming_normal_'s.
_RANDOM_FILLS = frozenset(getattr(Tensor, name) for name in (
    "normal_", "uniform_", "random_", "bernoulli_", "exponential_", "geometric_", "cauchy_",
    "log_normal_"))


class _RandomInitSkipped(TorchFunctionMode):
    """A build whose parameters' random draws are skipped. A whole initialisation function on
    an ``nn.Parameter`` (``_RANDOM_INITS``) returns it unfilled; a random fill
    on one (``_RANDOM_FILLS``, reached from a function that is no torch function) zeroes it,
    where the code after it may read it (``trunc_normal_`` redraws while a value lies outside
    its bounds: reused memory may hold such values). Everything else runs as in a plain build:
    buffers (the non-persistent ones no checkpoint holds: rotary frequencies, a table's
    layout) and constant fills (a LayerNorm's ``ones_``), bit for bit."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func in _RANDOM_INITS or func in _RANDOM_FILLS:
            target = args[0] if args else kwargs.get("tensor", kwargs.get("self"))
            if isinstance(target, nn.Parameter):
                if func in _RANDOM_INITS:
                    return target
                with torch.no_grad():
                    return target.zero_()
        return func(*args, **kwargs)


@contextmanager
def random_init_skipped() -> Iterator[None]:
    """Around the build of a model whose every parameter is then loaded from a checkpoint
    (``infer.weights_fit.build_checked``, whose check found the weights hold them all): the
    random initialisation, which the weights replace, is not drawn (a ``base`` model's took
    11 s of a 13 s load on one CPU thread). The parameters' values are undefined until the
    weights are loaded; buffers and constants are the plain build's, and the caller's random
    generators are not drawn from. For a model of which a part keeps its initialisation (a
    fine-tuning run's new head), around the loaded part only (``loaded_part``), the new part
    drawn from a generator of its own (``drawn_from``). This thread only (torch's function
    modes are per thread)."""
    with _RandomInitSkipped():
        yield


@contextmanager
def loaded_part() -> Iterator[None]:
    """Around the build of the part of a model that a checkpoint then replaces in full (a
    fine-tuning run's pretrained embedder and encoder): its random initialisation is skipped
    (``random_init_skipped``), and the caller's CPU generator is left as it was, whatever the
    part draws outside that (a ``torch.randn`` wrapped in a Parameter): the run's random
    stream after the build (dropout, augmentation) is the same as if the part had been drawn
    and then replaced."""
    with torch.random.fork_rng(devices=[]), _RandomInitSkipped():
        yield


@contextmanager
def drawn_from(seed: int) -> Iterator[None]:
    """Random draws inside from a CPU generator of their own, seeded with ``seed``; the
    caller's CPU generator is left as it was. A fine-tuning run's new head: its values follow
    ``seed`` alone, not what was drawn before it (the encoder's initialisation, skipped where
    a checkpoint replaces it). Not ``torch.manual_seed``: that reseeds the CUDA generators too,
    which ``fork_rng(devices=[])`` does not give back."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield
