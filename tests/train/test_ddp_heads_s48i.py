"""Every trainable parameter gets a gradient (possibly zero) on any batch: the condition DDP
checks at each step (``find_unused_parameters=False``: a parameter without a gradient on one
rank stops the run at its next step, or mismatches the ranks' collectives), checked here
without processes (audit s48 d1: tabular pretraining on an all-number table failed at step 2
because ``head.cat_bias`` had no gradient).

Registry-driven: every registered domain's pretraining model, and every task model on it,
runs backward on batches that lack each optional kind of target -- no predicted token, each
single predicted token alone (so a batch holding only one kind of cell, element or patch), no
labelled unit, no same-label pair -- and every ``requires_grad`` parameter must have
``.grad is not None``. Plus tables of only numbers / only categories, and one real 2-process
gloo run of tabular pretraining on an all-number table."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from encoderkit.core import EncoderConfig
from encoderkit.data.collate import collate
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.domain import MaskedExample, NotSupportedError
from encoderkit.modeling import MaskedEncoderModel
from encoderkit.registry import available_domains, get_domain
from encoderkit.tasks.model import TaskModel
from encoderkit.tasks.objective import Prepare
from encoderkit.tasks.spec import TaskSpec

# the sets domain warns, rightly, that its sample's input order meets sliding windows: not the point here
pytestmark = pytest.mark.filterwarnings("ignore:sets with coordinates in input order")

MAX_SEQLEN = 48
SINGLES = 12  # single-predicted-token batches tried per domain (spread over the batch)


def config_for(domain) -> EncoderConfig:
    return EncoderConfig(hidden_size=32, num_heads=2, num_layers=2, intermediate_size=48,
                         local_window=8, backend="sdpa", rope_axes=domain.rope_axes)


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict:
    """name -> (domain, windows): each registered domain's bundled samples, ingested once."""
    out = {}
    for name in available_domains():
        cls = get_domain(name)
        root = tmp_path_factory.mktemp(f"s48i-{name}")
        try:
            paths, options = cls.sample_sources(str(root))
        except NotImplementedError:
            continue
        ingest(name, paths, str(root / "store"), progress=False, verbose=False, **options)
        store = RecordStore(str(root / "store"))
        domain = cls(store.schema)
        windows = [w for rec in store.read_many(range(min(4, len(store))))
                   for w in domain.windows(domain.featurize(rec), MAX_SEQLEN)[:1]]
        for i, w in enumerate(windows):
            w.record = i
        out[name] = (domain, windows)
    return out


def missing_grads(model: torch.nn.Module, loss: torch.Tensor) -> list[str]:
    """Names of the trainable parameters that ``loss.backward()`` leaves without a gradient."""
    model.zero_grad(set_to_none=True)
    loss.backward()
    return [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]


def keys(out) -> tuple[list[str], list[str]]:
    """The loss parts and metrics a batch reports: the trainer sums each over the ranks, so a
    key that one rank's batch lacks desynchronises that collective (a hang, or gloo
    "collective mismatch")."""
    return sorted(out.losses), sorted(out.metrics)


def keep_predicted(m: MaskedExample, chosen: np.ndarray) -> MaskedExample:
    """``m`` with only the predicted tokens ``chosen`` (indices among its predicted tokens)
    still predicted; the others keep their corrupted input but carry no target."""
    where = np.flatnonzero(m.predict)
    predict = np.zeros_like(m.predict)
    predict[where[chosen]] = True
    return dataclasses.replace(m, predict=predict, targets={k: v[chosen] for k, v in m.targets.items()})


def sub_batches(masked: list[MaskedExample]) -> dict[str, list[MaskedExample]]:
    """The batch itself, the batch with no predicted token, and batches of one predicted token."""
    out = {"all": masked, "none": [keep_predicted(m, np.zeros(0, np.int64)) for m in masked]}
    owners = [(i, j) for i, m in enumerate(masked) for j in range(int(m.predict.sum()))]
    for k in np.unique(np.linspace(0, len(owners) - 1, SINGLES).astype(int)) if owners else []:
        i, j = owners[k]
        out[f"token{k}"] = [keep_predicted(m, np.asarray([j] if n == i else [], np.int64))
                            for n, m in enumerate(masked)]
    return out


@pytest.mark.parametrize("name", available_domains())
def test_pretraining_model_gives_every_parameter_a_gradient(samples, name):
    if name not in samples:
        pytest.skip(f"{name} has no bundled samples")
    domain, windows = samples[name]
    rng = np.random.default_rng(0)
    masked = [domain.mask(w, rng) for w in windows]
    assert sum(int(m.predict.sum()) for m in masked) >= 2, "the sample batch predicts too little"
    torch.manual_seed(0)
    model = MaskedEncoderModel(domain, config_for(domain))
    reported = None
    for what, examples in sub_batches(masked).items():
        out = model(collate(examples))
        assert out.loss is not None, what
        assert missing_grads(model, out.loss) == [], f"{name}, batch {what}"
        reported = reported or keys(out)
        assert keys(out) == reported, f"{name}, batch {what}"


def _labels(kind: str, windows) -> list:
    """Per-record labels ``y`` for a task of ``kind`` (two classes / one target per record,
    per token for token tasks: long enough for any window)."""
    if kind in ("classification", "supervised_contrastive"):
        return np.asarray([i % 2 for i in range(len(windows))], np.int64)
    if kind == "regression":
        return np.arange(len(windows), dtype=np.float32)[:, None]
    if kind == "multilabel":
        return np.asarray([[i % 2, 1 - i % 2] for i in range(len(windows))], np.float32)
    if kind == "token_classification":
        return [np.arange(4 * MAX_SEQLEN) % 2 for _ in windows]
    return [np.arange(4 * MAX_SEQLEN, dtype=np.float32)[:, None] for _ in windows]


TASKS = [("classification", {}), ("regression", {}), ("multilabel", {}),
         ("token_classification", {}), ("token_regression", {}),
         ("supervised_contrastive", {"projection": "mlp"}),
         ("contrastive", {"projection": "mlp"}), ("contrastive", {"projection": "linear", "mlm_weight": 0.5})]


def task_batches(domain, windows, spec: TaskSpec) -> dict[str, list[MaskedExample]]:
    """The task's training batch and its variants that lack one kind of unit."""
    y = _labels(spec.type, windows)
    prepare = Prepare(domain, spec, y, False, "", np.arange(len(windows)))
    rng = np.random.default_rng(0)
    if spec.type == "contrastive":
        pairs = [prepare(w, rng, True) for w in windows]
        out = {"all": [m for p in pairs for m in p], "one record": list(pairs[0])}
        if spec.mlm_weight > 0:  # the masked-LM part: one kind of predicted token alone
            out.update(sub_batches(out["all"]))
        return out
    examples = [prepare(w, rng, True) for w in windows]
    unlabelled = [dataclasses.replace(m, labels={**m.labels, "mask": np.zeros_like(m.labels["mask"])})
                  for m in examples]
    out = {"all": examples, "no labelled unit": unlabelled, "one record": examples[:1]}
    if spec.type == "supervised_contrastive":  # labels 0, 1: records 0 and 1 have no positive
        out["no same-label pair"] = examples[:2]
    return out


@pytest.mark.parametrize("kind,options", TASKS, ids=[f"{k}-{'-'.join(map(str, o.values()))}" for k, o in TASKS])
@pytest.mark.parametrize("name", available_domains())
def test_task_model_gives_every_parameter_a_gradient(samples, name, kind, options):
    if name not in samples:
        pytest.skip(f"{name} has no bundled samples")
    domain, windows = samples[name]
    spec = TaskSpec(type=kind, classes=["a", "b"], targets=["t"], mean=[0.0], std=[1.0], **options)
    try:
        batches = task_batches(domain, windows, spec)
    except NotSupportedError as e:  # a domain may refuse token tasks: nothing to train then
        pytest.skip(str(e))
    torch.manual_seed(0)
    model = TaskModel(domain, config_for(domain), spec)
    reported = None
    for what, examples in batches.items():
        out = model(collate(examples))
        assert out.loss is not None, what
        assert missing_grads(model, out.loss) == [], f"{name} {kind}, batch {what}"
        reported = reported or keys(out)
        assert keys(out) == reported, f"{name} {kind}, batch {what}"


def _table_store(tmp: Path, frame: pd.DataFrame):
    from domains.tabular import TabularDomain

    frame.to_csv(tmp / "t.csv", index=False)
    ingest("tabular", [str(tmp / "t.csv")], str(tmp / "t.zarr"), progress=False, verbose=False)
    store = RecordStore(str(tmp / "t.zarr"))
    return store, TabularDomain(store.schema)


@pytest.mark.parametrize("kind", ["numbers", "categories"])
def test_table_of_one_cell_kind_trains_every_parameter(tmp_path, kind):
    """The d1 case itself: a table without categorical columns (diabetes) or without numeric
    ones; every batch of it lacks the other kind of cell."""
    rng = np.random.default_rng(0)
    n = 40
    if kind == "numbers":
        frame = pd.DataFrame({c: rng.normal(size=n).round(3) for c in "abcd"})
    else:
        frame = pd.DataFrame({c: rng.choice(["x", "y", "z"], n) for c in "abcd"})
    store, domain = _table_store(tmp_path, frame)
    assert {c["kind"] for c in store.schema["columns"]} == {"numeric" if kind == "numbers" else "categorical"}
    masked = [domain.mask(domain.featurize(r), rng) for r in store.read_many(range(8))]
    torch.manual_seed(0)
    model = MaskedEncoderModel(domain, config_for(domain))
    out = model(collate(masked))
    assert missing_grads(model, out.loss) == []


def _torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", "-m", "encoderkit", *args],
                          env=env, capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["numbers", "mixed"])
def test_two_gloo_ranks_pretrain_a_table(tmp_path, kind):
    """2 DDP ranks, tabular pretraining. ``numbers``: no categorical column, "did not receive
    grad: head.cat_bias" at step 2 before the fix. ``mixed``: batches of 3 cells, so a rank's
    batch often has no categorical (or no numeric) cell: its missing gradients and missing
    loss keys desynchronised the ranks (gloo "collective mismatch", or a hang)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({c: rng.normal(size=64).round(3) for c in "abcdef"})
    small = []
    if kind == "mixed":
        frame["g"] = rng.choice(["x", "y", "z"], 64)
        small = ["data.max_tokens=36", "data.max_seqlen=36"]
    frame.to_csv(tmp_path / "t.csv", index=False)
    ingest("tabular", [str(tmp_path / "t.csv")], str(tmp_path / "t.zarr"), progress=False, verbose=False)
    run = tmp_path / "run"
    proc = _torchrun(["pretrain", "domain=tabular", f"data.store={tmp_path / 't.zarr'}", "model=tiny",
                      "train.steps=6", "train.eval_every=0", "train.checkpoint_every=6",
                      "train.progress=false", f"run.dir={run}", "run.device=cpu", *small], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (run / "checkpoints" / "6" / "model.safetensors").is_file()
