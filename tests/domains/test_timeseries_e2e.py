"""Time series end to end on statsmodels' bundled CO2 + US macro series: ingest,
pretrain a tiny encoder a few steps (loss goes down), embed, infill every NaN."""

from __future__ import annotations

import json

import numpy as np
import pytest

from domains.timeseries import TimeSeriesDomain
from encoderkit.data.store import RecordStore

from .sample_store import TINY_MODEL, ingest_sample

TINY = [*TINY_MODEL, "model.local_window=8"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ingest_sample("timeseries", tmp_path_factory.mktemp("timeseries"))


def test_ingested_store_holds_the_series_exactly(store):
    import statsmodels.api as sm

    s = RecordStore(store)
    assert len(s) == 2 and s.domain == "timeseries" and s.schema["max_channels"] == 3
    co2 = s[0]
    assert (int(co2["channels"]), int(co2["length"])) == (1, 1040)
    ref = sm.datasets.co2.load_pandas().data["co2"].to_numpy(np.float32)[:1040]
    np.testing.assert_array_equal(np.asarray(co2["values"], np.float32), ref)  # NaN where missing


def test_pretrain_embed_infill_end_to_end(store, tmp_path):
    from encoderkit.infer.load import load
    from encoderkit.train import pretrain

    run = pretrain(["domain=timeseries", f"data.store={store}", f"run.dir={tmp_path / 'run'}",
                    "train.steps=60", "train.log_every=5", "train.progress=false",
                    "train.eval_every=0", "data.max_seqlen=48", "data.max_tokens=256",
                    "domain.patch=8", "domain.baseline=none", "optim.lr=5e-3", "schedule.warmup=4", *TINY])
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [x["loss"] for x in lines if "loss" in x]
    assert len(losses) >= 6
    # training losses of single micro-batches are noisy: compare the first and last thirds
    k = len(losses) // 3
    assert np.mean(losses[-k:]) < 0.9 * np.mean(losses[:k]), losses

    model = load(run)
    assert model.domain.patch == 8 and model.domain.rope_axes == 2
    assert model.domain.options["baseline"] == "none"  # the run dir rebuilt the options
    emb = model.embed(store)
    assert emb.shape == (2, 32) and np.isfinite(emb).all()

    data = model.domain.sample_infill_input()
    filled = model.infill(data)
    miss = np.isnan(data)
    assert filled.shape == data.shape and np.isfinite(filled).all()
    np.testing.assert_array_equal(filled[~miss], data[~miss])  # observed values bit-identical
    # the fills are plausible CO2 values (not far outside the observed range)
    lo, hi = np.nanmin(data), np.nanmax(data)
    assert (filled[miss] > lo - (hi - lo)).all() and (filled[miss] < hi + (hi - lo)).all()

    # the CLI file path: read, infill, write (atomic), same format back
    path = tmp_path / "gaps.csv"
    import pandas as pd

    pd.DataFrame({"time": np.arange(len(data)), "co2": data}).to_csv(path, index=False)
    assert model.domain.options["time_column"] == "time"  # from the store's schema (ingest)
    out = model.infill(model.domain.read_input(str(path)))
    model.domain.write_output(out, str(tmp_path / "filled.csv"))
    back = pd.read_csv(tmp_path / "filled.csv")
    assert list(back.columns) == ["time", "co2"] and not back["co2"].isna().any()
    np.testing.assert_array_equal(back["time"], np.arange(len(data)))


def test_python_api_ingest_keeps_lengths_channels_and_missingness(tmp_path):
    a = np.array([1.0, np.nan, 3.0, np.inf])
    b = np.arange(14.0).reshape(2, 7)
    report = TimeSeriesDomain.ingest_arrays([a, b, np.full(5, np.nan)], str(tmp_path / "s"),
                                            ids=["a", "b", "empty"])
    assert report.skipped["all values missing"] == 1
    s = RecordStore(str(tmp_path / "s"))
    assert len(s) == 2 and [s[i]["id"] for i in range(2)] == ["a", "b"]
    np.testing.assert_array_equal(s[0]["values"], [1.0, np.nan, 3.0, np.nan])  # inf -> missing
    assert (int(s[1]["channels"]), int(s[1]["length"])) == (2, 7)
    np.testing.assert_array_equal(np.asarray(s[1]["values"]).reshape(2, 7), b)
