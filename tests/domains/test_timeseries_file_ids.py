"""A raw series file read by ``predict`` / ``evaluate`` / ``embed`` names its records as
``ingest`` names them (``x.npy[2]``, ``x.npz:key``), so predictions join a store of the
same file by id; a CSV keeps its series-column names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from domains.timeseries import TimeSeriesDomain
from encoderkit import cli
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore

TINY = ["model=tiny", "model.hidden_size=32", "model.num_heads=2", "model.num_layers=2",
        "model.intermediate_size=48", "model.local_window=8", "model.backend=sdpa",
        "train.log_every=1", "train.progress=false", "data.max_tokens=1024", "data.max_seqlen=128",
        "run.device=cpu"]


def _series(n: int, length: int = 96, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    x = np.sin(t / (4 + rng.random((n, channels, 1)) * 8)) + 0.1 * rng.standard_normal((n, channels, length))
    x[:, :, 10:13] = np.nan
    return x


def _store_ids(path, out, **options) -> list[str]:
    ingest("timeseries", [str(path)], str(out), progress=False, verbose=False, **options)
    store = RecordStore(str(out))
    return [store[i]["id"] for i in range(len(store))]


def test_read_records_names_npy_and_npz_series_as_ingest_does(tmp_path):
    npy = tmp_path / "three.npy"
    np.save(npy, _series(3))
    one = tmp_path / "one.npy"
    np.save(one, _series(1)[0])  # [C, L]: one series, named by the file
    npz = tmp_path / "mixed.npz"
    np.savez(npz, batch=_series(2, seed=1), single=_series(1, seed=2)[0, 0])
    for path in (npy, one, npz):
        ids = _store_ids(path, tmp_path / f"{path.stem}.zarr")
        domain = TimeSeriesDomain(RecordStore(str(tmp_path / f"{path.stem}.zarr")).schema)
        assert [r["id"] for r in domain.read_records(str(path))] == ids
    assert ids == ["mixed.npz:batch[0]", "mixed.npz:batch[1]", "mixed.npz:single"]
    # the records are to_records' records, only renamed
    data = TimeSeriesDomain().read_input(str(npy))
    for a, b in zip(TimeSeriesDomain().to_records(data), TimeSeriesDomain().read_records(str(npy))):
        np.testing.assert_array_equal(a["values"], b["values"])


def test_read_records_keeps_csv_names(tmp_path):
    path = tmp_path / "long.csv"
    pd.DataFrame({"sid": ["a"] * 20 + ["b"] * 20, "t": list(range(20)) * 2,
                  "v": np.arange(40.0)}).to_csv(path, index=False)
    domain = TimeSeriesDomain({}, time_column="t", series_column="sid")
    data = domain.read_input(str(path))
    assert [r["id"] for r in domain.read_records(str(path))] == \
        [r["id"] for r in domain.to_records(data)] == ["a", "b"]


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    """A 3-series .npy, its store, a tiny pretrained run and a classifier fine-tuned on it."""
    from encoderkit.train import pretrain

    tmp = tmp_path_factory.mktemp("series_ids")
    raw = tmp / "three.npy"
    np.save(raw, _series(3))
    store = tmp / "store.zarr"
    ids = _store_ids(raw, store)
    pre = pretrain(["domain=timeseries", f"data.store={store}", f"run.dir={tmp / 'pre'}", *TINY,
                    "train.steps=2", "train.eval_every=0", "train.checkpoint_every=0"])
    labels = tmp / "labels.csv"
    pd.DataFrame({"id": ids, "label": ["a", "b", "a"]}).to_csv(labels, index=False)
    ft = tmp / "ft"
    rc = cli.main(["finetune", f"checkpoint={pre}", f"data.store={store}", "task.type=classification",
                   f"task.labels={labels}", f"run.dir={ft}", "train.steps=2", "train.eval_every=2",
                   "train.checkpoint_every=0", *[o for o in TINY if not o.startswith("model")]])
    assert rc == 0
    return tmp, raw, store, ids, pre, ft, labels


def test_predict_and_evaluate_on_a_raw_npy_give_the_ingested_ids(finetuned, capsys):
    from encoderkit.infer import load

    tmp, raw, store, ids, _, ft, labels = finetuned
    assert ids == ["three.npy[0]", "three.npy[1]", "three.npy[2]"]
    out = tmp / "raw_preds.csv"
    assert cli.main(["predict", f"checkpoint={ft}", f"input={raw}", f"output={out}"]) == 0
    raw_frame = pd.read_csv(out)
    assert raw_frame["id"].tolist() == ids
    from_store = tmp / "store_preds.csv"
    assert cli.main(["predict", f"checkpoint={ft}", f"input={store}", f"output={from_store}"]) == 0
    pd.testing.assert_frame_equal(raw_frame, pd.read_csv(from_store), atol=1e-5)
    model = load(ft)
    assert model.predict(raw)["id"].tolist() == ids  # a Path
    assert model.predict(str(raw))["id"].tolist() == ids  # a str
    # labels named by the store's ids join the raw file's records
    assert model.evaluate(str(raw), str(labels), verbose=False)["records"] == 3
    assert cli.main(["evaluate", f"checkpoint={ft}", f"input={raw}", f"labels={labels}"]) == 0
    capsys.readouterr()


def test_embed_on_a_raw_npy_gives_the_ingested_ids(finetuned):
    tmp, raw, store, ids, pre, _, _ = finetuned
    out = tmp / "emb.npy"
    assert cli.main(["embed", f"checkpoint={pre}", f"input={raw}", f"output={out}"]) == 0
    assert np.load(tmp / "emb.ids.npy").tolist() == ids
    assert np.load(out).shape[0] == 3
