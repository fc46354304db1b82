"""Tabular end to end on the anes96 survey table bundled with statsmodels: ingest a
CSV, pretrain a tiny encoder a few steps (loss goes down), load, embed, infill."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from domains.tabular import sample_frame
from encoderkit.data.store import RecordStore

from .sample_store import TINY_MODEL, ingest_sample

TINY = TINY_MODEL


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ingest_sample("tabular", tmp_path_factory.mktemp("tabular"))


def test_ingested_store_holds_the_table(store):
    s = RecordStore(store)
    frame = sample_frame().iloc[:200]
    assert len(s) == 200 and s.domain == "tabular"
    cols = s.schema["columns"]
    assert [c["name"] for c in cols] == list(frame.columns)
    kinds = {c["name"]: c["kind"] for c in cols}
    assert kinds["vote"] == kinds["PID"] == "categorical" and kinds["age"] == kinds["popul"] == "numeric"
    rec = s[7]
    age = cols[list(frame.columns).index("age")]
    j = list(frame.columns).index("age")
    assert rec["num"][j] == pytest.approx((frame["age"].iloc[7] - age["mean"]) / age["std"], rel=1e-6)
    v = list(frame.columns).index("vote")
    assert cols[v]["categories"][int(rec["cat"][v]) - 1] == frame["vote"].iloc[7]


def test_pretrain_embed_infill_end_to_end(store, tmp_path):
    from encoderkit.infer.load import load
    from encoderkit.train import pretrain

    run = pretrain(["domain=tabular", f"data.store={store}", f"run.dir={tmp_path / 'run'}",
                    "train.steps=60", "train.log_every=5", "train.progress=false",
                    "train.eval_every=0", "data.max_tokens=704", "data.max_seqlen=64", "optim.lr=5e-3",
                    "schedule.warmup=4", *TINY])
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [x["loss"] for x in lines if "loss" in x]
    assert len(losses) >= 6
    k = len(losses) // 3
    assert np.mean(losses[-k:]) < 0.9 * np.mean(losses[:k]), losses

    model = load(run)
    assert model.domain.rope_axes == 0
    emb = model.embed(store)
    assert emb.shape == (200, 32) and np.isfinite(emb).all()

    data = model.domain.sample_infill_input()
    data.loc[3, :] = np.nan  # an entirely missing row
    filled = model.infill(data)
    assert filled.isna().sum().sum() == 0 and filled.dtypes.equals(data.dtypes)
    obs = data.notna().to_numpy()
    np.testing.assert_array_equal(filled.to_numpy()[obs], data.to_numpy()[obs])
    cats = {c["name"]: c["categories"] for c in model.domain.columns if c["kind"] == "categorical"}
    for name, levels in cats.items():
        assert set(filled[name]) <= set(levels), name
    # column identity is by name: a permuted frame gets the same fills
    perm = list(data.columns[::-1])
    pd.testing.assert_frame_equal(model.infill(data[perm]), filled[perm])

    # the CLI file path: read, infill, write atomically, same format back
    data.to_csv(tmp_path / "holes.csv", index=False)
    out = model.infill(model.domain.read_input(str(tmp_path / "holes.csv")))
    model.domain.write_output(out, str(tmp_path / "filled.csv"))
    back = pd.read_csv(tmp_path / "filled.csv")
    assert list(back.columns) == list(data.columns) and back.isna().sum().sum() == 0
    # `encoderkit infill` on a Parquet file gives the same fills
    from encoderkit.cli import main

    data.to_parquet(tmp_path / "holes.parquet", index=False)
    assert main(["infill", f"checkpoint={run}", f"input={tmp_path / 'holes.parquet'}",
                 f"output={tmp_path / 'filled.parquet'}"]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "filled.parquet"), filled)
