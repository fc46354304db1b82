"""No device->host sync on the packed training path (checked on CPU).

``torch.cuda.set_sync_debug_mode`` exists only on CUDA. Here every aten op of a forward +
backward is watched with a dispatch mode: ops that read a tensor's data back to the host
(``_local_scalar_dense`` behind ``.item()``/``int()``/``float()``/``bool()``, ``nonzero``
behind boolean indexing, ``masked_select``, ``repeat_interleave`` without ``output_size``)
fail the test unless their input is the batch's host copy of ``cu_seqlens``. Python-level
reads (``.tolist()``, ``.numpy()``, ``.cpu()``) are patched the same way. The reference is
the same model on the same batch without the host-side fields (boolean indexing), which
must give the same loss and gradients.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from encoderkit.core import EncoderConfig
from encoderkit.data.collate import collate
from encoderkit.domain import MaskedExample
from encoderkit.modeling import MaskedEncoderModel
from testdomain import VOCAB, TrainTestDomain

SYNC_OPS = {"_local_scalar_dense", "nonzero", "masked_select", "nonzero_static", "unique",
            "_unique2", "unique_consecutive", "item"}


class _SyncWatch(TorchDispatchMode):
    def __init__(self, allowed: list[torch.Tensor]) -> None:
        super().__init__()
        self.allowed = {t.data_ptr() for t in allowed}
        self.syncs: list[str] = []

    def _host(self, args) -> bool:
        flat = [a for a in torch.utils._pytree.tree_leaves(args) if isinstance(a, torch.Tensor)]
        return bool(flat) and all(t.data_ptr() in self.allowed for t in flat)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func._schema.name.split("::")[-1]
        data_dependent = name in SYNC_OPS or (
            name == "repeat_interleave" and kwargs.get("output_size") is None and len(args) == 1) \
            or (name == "index" and any(isinstance(i, torch.Tensor) and i.dtype == torch.bool
                                        for i in args[1]))
        if data_dependent and not self._host(args):
            self.syncs.append(str(func))
        return func(*args, **kwargs)


@contextmanager
def _python_reads_forbidden(allowed: list[torch.Tensor], log: list[str]):
    ptrs = {t.data_ptr() for t in allowed}
    originals = {n: getattr(torch.Tensor, n) for n in ("tolist", "numpy", "cpu", "item")}

    def wrap(name):
        orig = originals[name]

        def f(self, *a, **k):
            if self.data_ptr() not in ptrs:
                log.append(f"Tensor.{name} on {tuple(self.shape)}")
            return orig(self, *a, **k)
        return f

    for n in originals:
        setattr(torch.Tensor, n, wrap(n))
    try:
        yield
    finally:
        for n, orig in originals.items():
            setattr(torch.Tensor, n, orig)


def _examples(lengths, rng):
    out = []
    for i, n in enumerate(lengths):
        ids = rng.integers(0, VOCAB - 1, n) + 1
        predict = rng.random(n) < 0.3
        predict[0] = True
        inputs = {"ids": np.where(predict, 1, ids)}
        out.append(MaskedExample(inputs=inputs, positions=np.arange(n)[:, None].astype(np.int32),
                                 targets={"ids": ids[predict]}, predict=predict,
                                 weights=rng.random(n).astype(np.float32), record=i, window=0,
                                 start=0))
    return out


def _model(backend: str, **kw) -> MaskedEncoderModel:
    cfg = EncoderConfig(hidden_size=32, num_layers=3, num_heads=2, intermediate_size=48,
                        local_window=8, global_every=2, backend=backend, **kw)
    torch.manual_seed(0)
    return MaskedEncoderModel(TrainTestDomain({"vocab": VOCAB}), cfg)


def _step(model, batch):
    model.zero_grad(set_to_none=True)
    out = model(batch)
    out.loss.backward()
    return out.loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


# lengths: short ones padded in groups, a run of equal lengths, one long enough to run blocked
LENGTHS = [5, 9, 7, 20, 20, 20, 3, 70, 11]


@pytest.mark.parametrize("backend", ["sdpa"])
def test_training_step_reads_nothing_back_from_the_device(backend):
    batch = collate(_examples(LENGTHS, np.random.default_rng(0)))
    assert batch.predict_index is not None and batch.cu_seqlens_host is not None
    model = _model(backend)
    host = [batch.cu_seqlens_host]
    watch, python_reads = _SyncWatch(host), []
    with watch, _python_reads_forbidden(host, python_reads):
        loss, grads = _step(model, batch)
    assert watch.syncs == [] and python_reads == [], (watch.syncs, python_reads)
    # the watch itself sees syncs: the same step without the host-side fields has some
    legacy = replace(batch, predict_index=None, cu_seqlens_host=None)
    watch2, reads2 = _SyncWatch([]), []
    with watch2, _python_reads_forbidden([], reads2):
        ref_loss, ref_grads = _step(model, legacy)
    assert watch2.syncs and reads2  # boolean indexing (nonzero) and cu_seqlens.tolist()
    torch.testing.assert_close(loss, ref_loss)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r)


def test_collate_host_fields_match_the_device_tensors():
    batch = collate(_examples(LENGTHS, np.random.default_rng(1)))
    assert torch.equal(batch.predict_index, batch.predict.nonzero().flatten())
    assert torch.equal(batch.cu_seqlens_host, batch.cu_seqlens)
    assert batch.cu_seqlens_host.data_ptr() != batch.cu_seqlens.data_ptr()
    assert batch.num_predicted == int(batch.predict.sum())
    moved = batch.to("meta")
    assert moved.cu_seqlens_host.device.type == "cpu"  # stays on the host
    assert moved.predict_index.device.type == "meta" and moved.num_predicted == batch.num_predicted


def test_plans_use_the_host_copy():
    """Given a host copy, plans never read the device cu_seqlens (here: a meta tensor)."""
    from encoderkit.core.attention import get_backend

    cu = torch.tensor([0, 5, 25, 45, 48], dtype=torch.int32)
    for name in ("sdpa",):
        b = get_backend(name)
        ref = b.plan(cu, 20)
        plan = b.plan(cu.to("meta"), 20, cu)  # reading a meta tensor's values would raise
        assert plan.segments == ref.segments
        assert [u.segments for u in plan.units] == [u.segments for u in ref.units]
    flex = get_backend("flex")
    plan = flex.plan(cu.to("meta"), 20, cu)
    assert plan.doc.shape == (48,)  # T from the host copy
