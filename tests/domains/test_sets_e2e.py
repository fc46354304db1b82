"""Sets end to end on scikit-learn's bundled digits as 2-D point sets: ingest (CSV),
pretrain a tiny encoder a few steps, loss goes down, load the run, embed, infill."""

from __future__ import annotations

import json

import numpy as np
import pytest

from domains.sets import SetsDomain
from domains.sets.digits import CSV_OPTIONS, digit_frame, load_digit_sets
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore

TINY = ["model.hidden_size=64", "model.num_layers=2", "model.num_heads=2",
        "model.intermediate_size=128"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("sets")
    sets, _ = load_digit_sets(limit=200)
    digit_frame(sets).to_csv(d / "digits.csv", index=False)
    ingest("sets", [str(d / "digits.csv")], str(d / "store"), progress=False, verbose=False,
           **CSV_OPTIONS)
    return str(d / "store")


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_pretrain_embed_infill_end_to_end(store, tmp_path):
    from encoderkit.infer.load import load
    from encoderkit.train import pretrain

    run = pretrain(["domain=sets", f"data.store={store}", f"run.dir={tmp_path / 'run'}",
                    "train.steps=80", "train.log_every=10", "train.progress=false",
                    "train.eval_every=0", "optim.lr=3e-3", "data.max_seqlen=64",
                    "data.max_tokens=768", "domain.pooling_token=true", "domain.unit=0.1", *TINY])
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [x["loss"] for x in lines if "loss" in x]
    assert len(losses) >= 4 and np.mean(losses[-2:]) < 0.85 * np.mean(losses[:2]), losses

    model = load(run)
    assert isinstance(model.domain, SetsDomain) and model.domain.rope_axes == 2
    assert model.config.global_every == 1  # the sets config makes every layer global
    records = RecordStore(store)
    emb = model.embed(records, pooling="mean")
    assert emb.shape == (len(records), 64) and np.isfinite(emb).all()
    cls = model.embed(records, pooling="cls")
    assert cls.shape == emb.shape and not np.allclose(cls, emb)

    # translated digits embed the same (rotary positions are relative)
    sets, _ = load_digit_sets(limit=3)
    moved = [dict(s, coords=s["coords"] + np.array([100.0, -40.0])) for s in sets]
    np.testing.assert_allclose(model.embed(moved), model.embed(sets), rtol=1e-5, atol=1e-5)

    data = model.domain.sample_infill_input()
    missing = data["intensity"].isna().to_numpy()
    filled = model.infill(data)
    values = filled["intensity"].to_numpy()
    assert np.isfinite(values).all()
    np.testing.assert_array_equal(values[~missing], data["intensity"].to_numpy()[~missing])

    # a CSV of whole numbers with holes, through the file path of `encoderkit infill`: observed
    # cells are written back as the file held them ("16", was "16.0"), fills as whole numbers
    import pandas as pd

    src, dst = tmp_path / "holes.csv", tmp_path / "filled.csv"
    data.assign(intensity=data["intensity"].astype("Int64")).to_csv(src, index=False)
    model.domain.write_output(model.infill(model.domain.read_input(str(src))), str(dst))
    given = pd.read_csv(src, dtype=str, keep_default_na=False)["intensity"]
    out = pd.read_csv(dst, dtype=str, keep_default_na=False)["intensity"]
    assert (given == "").sum() == missing.sum()
    assert (out[given != ""] == given[given != ""]).all()
    assert out[given == ""].str.fullmatch(r"-?\d+").all(), out[given == ""].tolist()


def test_pretrain_chunked_sets_with_curve_order_and_local_windows(store, tmp_path):
    """Digits (up to ~40 elements) under max_seqlen=16: every set is cut into spatial
    chunks by the loader; Hilbert order + sliding-window layers train without error."""
    from encoderkit.infer.load import load
    from encoderkit.train import pretrain

    run = pretrain(["domain=sets", f"data.store={store}", f"run.dir={tmp_path / 'run'}",
                    "train.steps=3", "train.log_every=1", "train.progress=false",
                    "train.eval_every=0", "data.max_seqlen=16", "data.max_tokens=256",
                    "domain.order=hilbert", "model.global_every=2", "model.local_window=8",
                    *TINY])
    model = load(run)
    assert model.config.global_every == 2
    records = RecordStore(store)
    first = [records[i] for i in range(4)]
    emb = model.embed(first, pooling="mean")
    # a chunked set's embedding is deterministic: the same twice, and the same alone
    np.testing.assert_array_equal(emb, model.embed(first, pooling="mean"))
    np.testing.assert_allclose(model.embed(first[:1], pooling="mean"), emb[:1], rtol=1e-5,
                               atol=1e-6)
