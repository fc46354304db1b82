"""A loaded model in a long-lived service (a web service calling the Python API for hours).

1. ``evaluate``'s per-part figures belong to the weights in memory: the run's split and store
   identity are read when the model is loaded, not again at each call (a run folder replaced
   on disk by a newer training made the same model report the other run's split).
2. The ``sdpa`` mask cache is bounded by bytes (ragged inputs filled it with ~330 MB of masks
   never used again) and safe under threads; a batch's layers still share its masks.
3. An empty array, table or dict given to ``infill`` / ``embed`` / ``predict`` gets the one
   line an empty list gets (an empty series array reached numpy's ``np.stack``).
4. ``FineTuned.predict(max_tokens=N)`` applies to that call only.
"""

from __future__ import annotations

import json
import sys
import threading

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

import encoderkit
import testdomain as td
from encoderkit.core import EncoderConfig
from encoderkit.core.attention import sdpa
from encoderkit.errors import UsageError
from encoderkit.infer.pretrained import Pretrained
from encoderkit.modeling import MaskedEncoderModel
from encoderkit.tasks.model import TaskModel
from encoderkit.tasks.predict import FineTuned
from encoderkit.tasks.spec import TaskSpec
from tests.domains.sample_store import TINY_MODEL

N = 120


# ---------------------------------------------------------------- 1. evaluate after the run folder changes

@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A tiny tabular run fine-tuned with a train / val / test split file."""
    pytest.importorskip("domains.tabular")
    from domains.tabular.domain import sample_frame
    from encoderkit.data.ingest import ingest
    from encoderkit.tasks import finetune

    tmp = tmp_path_factory.mktemp("swap")
    table = sample_frame().iloc[:N].reset_index(drop=True)
    table.drop(columns=["vote"]).to_csv(tmp / "t.csv", index=False)
    store = str(tmp / "t.zarr")
    ingest("tabular", [str(tmp / "t.csv")], store, progress=False, verbose=False)
    ids = np.asarray([f"row{i}" for i in range(N)], dtype=object)
    labels = tmp / "labels.csv"
    pd.DataFrame({"id": ids, "label": table["vote"]}).to_csv(labels, index=False)
    part = np.asarray(["train"] * N, dtype=object)
    order = np.random.default_rng(0).permutation(N)
    part[order[:30]], part[order[30:60]] = "val", "test"
    split = tmp / "split.csv"
    pd.DataFrame({"id": ids, "split": part}).to_csv(split, index=False)
    run = finetune(["checkpoint=none", "domain=tabular", f"data.store={store}", f"run.dir={tmp / 'ft'}",
                    f"task.labels={labels}", f"task.split={split}", "task.ensemble=1", "train.steps=2",
                    "train.eval_every=2", "train.progress=false", "run.device=cpu",
                    "data.max_tokens=512", "data.max_seqlen=64", *TINY_MODEL])
    return {"run": run, "store": store, "labels": str(labels), "ids": ids, "part": part}


def test_evaluate_keeps_the_split_of_the_run_it_was_loaded_from(tuned):
    """The run folder's split.json replaced after loading (another training finishing under
    that name: here its train and test parts trade places): the model in memory still reports
    the split its weights were trained on, the split file given to finetune."""
    model = encoderkit.load(tuned["run"])
    with pytest.warns(UserWarning, match="trained the model"):
        before = model.evaluate(tuned["store"], tuned["labels"], verbose=False)
    file = tuned["run"] / "split.json"
    body = json.loads(file.read_text())
    original = file.read_text()
    try:
        body["train"], body["test"] = body["test"], body["train"]
        file.write_text(json.dumps(body))
        with pytest.warns(UserWarning, match="trained the model"):
            after = model.evaluate(tuned["store"], tuned["labels"], verbose=False)
    finally:
        file.write_text(original)
    train = set(tuned["ids"][tuned["part"] == "train"])
    test = set(tuned["ids"][tuned["part"] == "test"])
    for result in (before, after):
        assert set(result.trained_on) == train
        assert result.held_out == "test"
        assert result.parts["test"]["records"] == len(test)
        assert result.parts["train"]["records"] == len(train)
    assert after.parts == before.parts
    # a model loaded now reads the replaced folder: its own split, as the file says
    try:
        file.write_text(json.dumps(body))
        with pytest.warns(UserWarning, match="trained the model"):
            fresh = encoderkit.load(tuned["run"]).evaluate(tuned["store"], tuned["labels"], verbose=False)
    finally:
        file.write_text(original)
    assert set(fresh.trained_on) == test


# ---------------------------------------------------------------- 2. the sdpa mask cache

def _reference(q, k, v, lengths):
    """Attention of each sequence on its own (global layer), for an independent check."""
    outs, start = [], 0
    for n in lengths:
        s = slice(start, start + n)
        one = F.scaled_dot_product_attention(*(x[s].transpose(0, 1) for x in (q, k, v)))  # [H, n, Dh]
        outs.append(one.transpose(0, 1))
        start += n
    return torch.cat(outs)


def _ragged(rng, count=120):
    """Short sequences of every length 40..63: one padded group, a key that never repeats."""
    lengths = rng.integers(40, 64, count).tolist()
    cu = torch.tensor(np.concatenate([[0], np.cumsum(lengths)]), dtype=torch.int32)
    return lengths, cu


def test_mask_cache_holds_a_bounded_number_of_bytes():
    """Ragged batches of short sequences (each group's mask ~1.5 MB, a key never seen again):
    the masks kept stay within the cache's byte budget, where 256 of them were kept (~390 MB);
    each output matches attention computed sequence by sequence."""
    sdpa._MASKS.clear()
    backend = sdpa.SdpaBackend()
    rng = np.random.default_rng(0)
    for _ in range(40):
        lengths, cu = _ragged(rng)
        q, k, v = torch.randn(3, int(cu[-1]), 1, 4).unbind(0)
        out = backend.attend(q, k, v, backend.plan(cu, max(lengths)), None)
        torch.testing.assert_close(out, _reference(q, k, v, lengths), atol=1e-5, rtol=1e-5)
    held = sum(m.numel() * m.element_size() for m in sdpa._MASKS.values() if m is not None)
    assert held <= 32 << 20
    assert held > 0  # masks are still kept: later batches of the same lengths reuse them


def test_a_batch_shares_its_masks_across_layers_whatever_the_cache_keeps(monkeypatch):
    """A plan builds each of its masks once however many layers ask (the shared cache may
    have dropped them): counted by the builds of ``_allowed``."""
    built = []
    allowed = sdpa.SdpaPlan._allowed
    monkeypatch.setattr(sdpa.SdpaPlan, "_allowed", lambda self, *a: built.append(a) or allowed(self, *a))
    sdpa._MASKS.clear()
    lengths, cu = _ragged(np.random.default_rng(1))
    plan = sdpa.SdpaBackend().plan(cu, max(lengths))
    first = plan.mask(0, 16, torch.float32, None)
    sdpa._MASKS.clear()  # the shared cache forgot it (other threads' batches)
    for _ in range(5):  # the other layers
        assert plan.mask(0, 16, torch.float32, None) is first
    assert len(built) == 1


def test_the_mask_cache_is_safe_under_threads(monkeypatch):
    """Threads asking one shared cache of a single entry for masks (each lookup races an
    eviction by another thread): no error, and each mask the one its plan builds alone. The
    unlocked OrderedDict raised KeyError in move_to_end (9,419 of 80,000 lookups, 4 threads)."""
    from encoderkit.core.attention.mask_cache import MaskCache

    monkeypatch.setattr(sdpa, "_MASKS", MaskCache(max_entries=1, max_bytes=32 << 20))
    backend = sdpa.SdpaBackend()
    # three short sequences (3, k, k + 3 tokens): one padded group, a key per k
    plans = [backend.plan(torch.tensor([0, 3, 3 + k, 6 + 2 * k], dtype=torch.int32), 40)
             for k in range(4, 12)]
    refs = [p.mask(0, None, torch.float32, None).clone() for p in plans]
    errors: list[str] = []

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for i in rng.integers(0, len(plans), 5000):
                plans[i].masks.clear()  # every call asks the shared cache, as a new batch's plan does
                assert torch.equal(plans[i].mask(0, None, torch.float32, None), refs[i])
        except Exception as e:  # noqa: BLE001 - any failure in a thread is the finding
            errors.append(f"{type(e).__name__}: {e}")

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert errors == []
    held = sdpa._MASKS.values()
    assert len(held) == 1
    assert sdpa._MASKS.nbytes == sum(m.numel() * m.element_size() for m in held if m is not None)


# ---------------------------------------------------------------- 3. empty inputs

def _pretrained(name: str, tmp_path, source) -> Pretrained:
    """An untrained model of domain ``name`` over a store ingested from ``source``."""
    from encoderkit.data.ingest import ingest
    from encoderkit.data.store import RecordStore
    from encoderkit.registry import get_domain

    ingest(name, [str(source)], str(tmp_path / f"{name}.zarr"), progress=False, verbose=False)
    domain = get_domain(name)(RecordStore(str(tmp_path / f"{name}.zarr")).schema)
    config = EncoderConfig(hidden_size=32, num_heads=2, num_layers=2, intermediate_size=48,
                           backend="sdpa", rope_axes=domain.rope_axes)
    torch.manual_seed(0)
    return Pretrained(MaskedEncoderModel(domain, config), domain, config, max_seqlen=64, max_tokens=512)


def _said(call) -> tuple[type, str]:
    with pytest.raises(ValueError) as e:
        call()
    return type(e.value), str(e.value)


@pytest.mark.parametrize("name", ["timeseries", "tabular"])
def test_empty_arrays_tables_and_dicts_are_said_as_an_empty_list_is(name, tmp_path):
    """An empty numpy array, DataFrame or dict: infill, embed and predict each say what they
    say of an empty list (the series' infill raised numpy's 'need at least one array to
    stack'; a table of no rows came back from infill as an empty table, a dict as {})."""
    pytest.importorskip(f"domains.{name}")
    rng = np.random.default_rng(0)
    if name == "timeseries":
        series = rng.normal(size=(6, 2, 40)).astype(np.float32)
        np.save(tmp_path / "s.npy", series)
        model = _pretrained(name, tmp_path, tmp_path / "s.npy")
        empties = [series[:0], np.zeros((0, 40)), pd.DataFrame(columns=["id", "time", "value"]), {}]
        full = series[:2].copy()
        full[:, 0, 5] = np.nan
    else:
        frame = pd.DataFrame({"a": rng.normal(size=30), "b": rng.choice(["x", "y"], 30)})
        frame.to_csv(tmp_path / "t.csv", index=False)
        model = _pretrained(name, tmp_path, tmp_path / "t.csv")
        empties = [frame.iloc[:0], pd.DataFrame(), frame.to_numpy()[:0], {}]
        full = frame.iloc[:3].copy()
        full.loc[1, "a"] = np.nan
    filled = model.infill(full)  # the same model fills data that has records
    assert np.isfinite(np.asarray(filled if name == "timeseries" else filled["a"], dtype=float)).all()
    infill_said = _said(lambda: model.infill([]))
    embed_said = _said(lambda: model.embed([], progress=False))
    assert infill_said[0] is UsageError
    for empty in empties:
        assert _said(lambda: model.infill(empty)) == infill_said, type(empty)
        assert _said(lambda: model.embed(empty, progress=False)) == embed_said, type(empty)


# ---------------------------------------------------------------- 4. max_tokens per call

CONFIG = EncoderConfig(hidden_size=32, num_heads=2, num_layers=2, intermediate_size=48, local_window=8,
                       backend="sdpa", rope_axes=1)


def _finetuned(seed: int) -> FineTuned:
    domain = td.TrainTestDomain({"vocab": td.VOCAB})
    torch.manual_seed(seed)
    spec = TaskSpec(type="classification", classes=["a", "b"])
    return FineTuned(TaskModel(domain, CONFIG, spec).eval(), domain, CONFIG, max_seqlen=64, max_tokens=4096)


def _batches(model: FineTuned) -> list[int]:
    """Tokens of each batch the model's encoder runs on, as a list that grows."""
    seen: list[int] = []
    model.model.encoder.register_forward_hook(lambda mod, args, out: seen.append(int(args[0].shape[0])))
    return seen


def test_predict_max_tokens_applies_to_that_call_only(tmp_path):
    """``predict(max_tokens=64)`` runs that call in batches of at most 64 tokens, every
    member too, and the next call without it in the model's own budget again (it was stored
    on the model and each member: every later call, in every thread, ran in 64-token batches)."""
    store = td.write_store(tmp_path / "s.zarr", n=40, seed=0)
    model, member = _finetuned(0), _finetuned(1)
    model.members = [member]
    seen, seen_member = _batches(model), _batches(member)
    small = model.predict(store, max_tokens=64, progress=False)
    assert max(seen) <= 64 and max(seen_member) <= 64 and len(seen) > 5
    assert model.max_tokens == 4096 and member.max_tokens == 4096
    seen.clear(), seen_member.clear()
    again = model.predict(store, progress=False)
    assert len(seen) == 1 and len(seen_member) == 1  # 40 records of < 40 tokens: one batch
    assert seen[0] == sum(len(r) for r in td.make_records(40, 0))
    np.testing.assert_allclose(small.filter(like="proba").to_numpy(), again.filter(like="proba").to_numpy(),
                               atol=1e-5)
