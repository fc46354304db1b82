"""Tabular domain: schema inference, encoding, masking, modules, decode and infill."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from domains.tabular import TabularDomain
from domains.tabular.schema import bin_index, encode_frame, infer_schema
from encoderkit.data.collate import collate
from encoderkit.domain import IngestReport


class Cfg:
    hidden_size = 16
    initializer_range = 0.02
    norm_eps = 1e-5


def mixed_frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "small_int": rng.integers(0, 4, n),  # 4 distinct integers -> categorical
        "big_int": rng.integers(0, 1000, n),  # many integers -> numeric
        "flt": rng.normal(5.0, 2.0, n),
        "flag": rng.random(n) < 0.5,
        "color": rng.choice(["red", "green", "blue"], n),
        "when": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D"),
    })


def by_name(schema):
    return {c["name"]: c for c in schema["columns"]}


class ListWriter:
    """Collects what ingest appends (the RecordWriter protocol)."""

    def __init__(self) -> None:
        self.records: list[dict] = []

    def append(self, fields, meta=None, id=None) -> int:
        self.records.append({**{k: np.asarray(v) for k, v in fields.items()}, "id": id, **(meta or {})})
        return len(self.records) - 1


# ------------------------------------------------------------------ schema

def test_schema_inference_kinds_and_overrides_win():
    df = mixed_frame()
    train = np.ones(len(df), dtype=bool)
    schema, _ = infer_schema(df, train)
    kinds = {c["name"]: c["kind"] for c in schema["columns"]}
    assert kinds == {"small_int": "categorical", "big_int": "numeric", "flt": "numeric",
                     "flag": "categorical", "color": "categorical", "when": "numeric"}
    cols = by_name(schema)
    assert cols["when"]["datetime"] and cols["big_int"]["integer"] and not cols["flt"]["integer"]
    assert cols["color"]["categories"] == ["blue", "green", "red"]
    assert cols["flag"]["categories"] == [False, True]
    schema2, _ = infer_schema(df, train, columns={"small_int": "numeric", "flt": "categorical",
                                                   "color": "exclude"}, exclude=["flag"],
                              categorical_threshold=0)
    kinds2 = {c["name"]: c["kind"] for c in schema2["columns"]}
    assert kinds2 == {"small_int": "numeric", "big_int": "numeric", "flt": "categorical", "when": "numeric"}


def test_numeric_statistics_come_from_the_training_rows_only():
    x = np.arange(100, dtype=np.float64)
    df = pd.DataFrame({"x": x})
    train = x < 80  # rows 80..99 are "validation": they must not move mean/std/edges
    schema, _ = infer_schema(df, train, num_bins=4)
    col = schema["columns"][0]
    ref = x[:80]
    assert col["mean"] == pytest.approx(39.5)
    assert col["std"] == pytest.approx(math.sqrt(sum((v - 39.5) ** 2 for v in ref) / 80))
    # quartiles of 0..79 (linear interpolation): 0, 19.75, 39.5, 59.25, 79
    expected = (np.array([0.0, 19.75, 39.5, 59.25, 79.0]) - 39.5) / col["std"]
    np.testing.assert_allclose(col["edges"], expected, rtol=1e-12)


def test_bad_cells_all_missing_column_and_strict_mode():
    df = pd.DataFrame({"n": ["1.5", "2", "abc", "4", "5", "6", "7", "8", "9", "10"],
                       "empty": [np.nan] * 10, "c": list("abababab") + [None, "a"]})
    train = np.ones(10, dtype=bool)
    schema, messages = infer_schema(df, train)
    assert [c["name"] for c in schema["columns"]] == ["n", "c"]
    assert by_name(schema)["n"]["kind"] == "numeric"
    assert any("'empty'" in m and "dropped" in m for m in messages)
    assert any("'n'" in m and "1 non-numeric" in m and "abc" in m for m in messages)
    enc = encode_frame(df, schema)
    assert enc.observed[:, 0].tolist() == [True, True, False] + [True] * 7
    with pytest.raises(ValueError, match="'n'.*non-numeric.*strict"):
        infer_schema(df, train, strict=True)


def test_ingest_csv_counts_ragged_rows_and_entirely_missing_rows(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,c\n1,x,2.5\n2,y\n3,x,1.0,9\n,,\n4,y,0.5\n5,x,7.0\n")
    writer, report = ListWriter(), IngestReport()
    schema = TabularDomain.ingest([str(path)], writer, report, validation_fraction=0.0,
                                   categorical_threshold=0)
    assert report.skipped["ragged row (wrong number of fields)"] == 2
    assert report.skipped["row entirely missing"] == 1
    assert report.records == 3 and len(writer.records) == 3
    assert [c["name"] for c in schema["columns"]] == ["a", "b", "c"]
    rec = writer.records[1]  # the row "4,y,0.5"
    assert rec["column"].tolist() == [0, 1, 2]
    cols = schema["columns"]
    assert rec["num"][0] == pytest.approx((4 - cols[0]["mean"]) / cols[0]["std"])
    assert cols[1]["categories"][rec["cat"][1] - 1] == "y"


def test_option_validation_names_the_option():
    schema, _ = infer_schema(mixed_frame(), np.ones(60, dtype=bool))
    with pytest.raises(ValueError, match="'mask_rate'.*\\[0.0, 1.0\\].*1.5"):
        TabularDomain(schema, mask_rate=1.5)
    with pytest.raises(ValueError, match="'masker'.*'spans'"):
        TabularDomain(schema, masker="spans")
    with pytest.raises(ValueError, match=r"unknown option\(s\) of the tabular domain: \['bogus'\]"):
        TabularDomain(schema, bogus=1)
    with pytest.raises(ValueError, match="'num_bins'.*>= 1.*0"):
        infer_schema(mixed_frame(), np.ones(60, dtype=bool), num_bins=0)
    assert TabularDomain(schema, column_positions=True).rope_axes == 1
    assert TabularDomain(schema).rope_axes == 0


# ------------------------------------------------------------------ masking

@pytest.mark.parametrize("masker", ["random", "column"])
def test_missing_and_unknown_cells_are_never_targets(masker):
    df = mixed_frame(80).astype({"big_int": "float64"})
    rng = np.random.default_rng(1)
    holes = rng.random(df.shape) < 0.3
    train_df = df.iloc[:40]
    dom = TabularDomain.from_frame(train_df, masker=masker, mask_rate=0.5)
    test = df.mask(holes)
    test.loc[0, "color"] = "purple"  # unseen category: observed, code 0, not a target
    records = dom.to_records(test)
    assert records[0]["cat"][[c["name"] for c in dom.columns].index("color")] == 0
    for i, rec in enumerate(records):
        ex = dom.featurize(rec)
        m = dom.mask(ex, np.random.default_rng(i))
        assert not (m.predict & ~rec["observed"]).any()
        unknown = (~dom.layout.is_numeric[rec["column"]]) & (rec["cat"] == 0)
        assert not (m.predict & unknown).any()
        # hidden cells look exactly like missing ones
        assert not m.inputs["observed"][m.predict].any()
        assert (m.inputs["num"][m.predict] == 0).all() and (m.inputs["cat"][m.predict] == 0).all()
        keep = ~m.predict
        for k in ("cat", "num", "observed"):
            np.testing.assert_array_equal(m.inputs[k][keep], rec[k][keep])
        np.testing.assert_array_equal(m.targets["column"], np.flatnonzero(m.predict))
        np.testing.assert_array_equal(m.targets["num"], rec["num"][m.predict])


def test_random_masker_rate():
    df = pd.DataFrame({f"x{j}": np.random.default_rng(j).normal(size=50) for j in range(20)})
    dom = TabularDomain.from_frame(df, mask_rate=0.3)
    rec = dom.to_records(df)[0]
    rng = np.random.default_rng(0)
    rate = np.mean([dom.mask(dom.featurize(rec), rng).predict.mean() for _ in range(2000)])
    assert rate == pytest.approx(0.3, abs=0.01)


def test_bin_index_matches_hand_computed_bins():
    edges = [-1.0, 0.0, 0.5, 2.0]
    z = np.array([-3.0, -1.0, -0.5, 0.0, 0.49, 0.5, 1.9, 2.0, 5.0])
    assert bin_index(z, edges).tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2]


# ------------------------------------------------------------------ modules

def test_embedder_matches_float64_reference():
    df = pd.DataFrame({"x": np.linspace(-2, 3, 40), "y": np.arange(40) % 3, "z": np.exp(np.linspace(0, 3, 40))})
    dom = TabularDomain.from_frame(df, ingest_options={"num_bins": 4})
    torch.manual_seed(0)
    emb = dom.embedder(Cfg)
    test = df.iloc[[0, 7, 21, 39]].copy()
    test.iloc[1, 0] = np.nan
    test.iloc[2, 2] = 1e6  # beyond the training range: PLE saturates, the raw feature clips at 5
    ex = [dom.unmasked(dom.featurize(r)) for r in dom.to_records(test)]
    batch = collate(ex)
    got = emb(batch.inputs).double()
    W = {k: v.detach().double() for k, v in emb.state_dict().items()}
    f = dom.layout.num_bins + 1
    for t in range(batch.num_tokens):
        j = int(batch.inputs["column"][t])
        ref = W["column.weight"][j].clone()
        if not batch.inputs["observed"][t]:
            ref += W["missing.weight"][j]
        elif dom.layout.is_numeric[j]:
            z = float(batch.inputs["num"][t])
            e = np.asarray(dom.columns[j]["edges"])
            feats = [min(max((z - e[k]) / (e[k + 1] - e[k]), 0.0), 1.0) if k < e.size - 1 else 0.0
                     for k in range(f - 1)] + [min(max(z, -5.0), 5.0)]
            ref += sum(feats[k] * W["numeric.weight"][j * f + k] for k in range(f))
        else:
            ref += W["category.weight"][dom.layout.cat_offset[j] + int(batch.inputs["cat"][t])]
        torch.testing.assert_close(got[t], ref, rtol=1e-5, atol=1e-6)


def test_head_loss_matches_manual_cross_entropy():
    df = pd.DataFrame({"x": np.linspace(-2, 3, 40), "c": np.array(["a", "b", "c", "d"] * 10)})
    dom = TabularDomain.from_frame(df, ingest_options={"num_bins": 4}, cat_weight=2.0, reg_weight=0.5)
    torch.manual_seed(0)
    emb = dom.embedder(Cfg)
    head = dom.head(Cfg, emb)
    rng = np.random.default_rng(0)
    ex = [dom.mask(dom.featurize(r), rng) for r in dom.to_records(df)]
    batch = collate(ex)
    hidden = torch.randn(batch.num_predicted, Cfg.hidden_size)
    out = head(hidden, batch.targets)
    p = out.predictions
    col = batch.targets["column"]
    cat_ce, num_ce, mse = [], [], []
    for i in range(len(col)):
        if col[i] == 1:  # categorical "c": its 4 known categories sit after its unknown row
            start = int(dom.layout.cat_offset[1]) + 1
            logits = p["cat_logits"][i, start:start + 4].double()
            cat_ce.append(-torch.log_softmax(logits, 0)[int(batch.targets["cat"][i]) - 1])
        else:
            nb = len(dom.columns[0]["edges"]) - 1
            logits = p["bin_logits"][i, :nb].double()
            num_ce.append(-torch.log_softmax(logits, 0)[int(batch.targets["bin"][i])])
            mse.append((p["value"][i].double() - batch.targets["num"][i].double()) ** 2)
    ref = (2.0 * torch.stack(cat_ce).mean() + 1.0 * (torch.stack(num_ce).mean() + 0.5 * torch.stack(mse).mean())) / 3.0
    torch.testing.assert_close(out.loss.double(), ref, rtol=1e-5, atol=1e-6)
    assert set(out.metrics) == {"cat_accuracy", "bin_accuracy", "num_rmse"}


def test_decode_clips_regression_to_the_argmax_bin():
    df = pd.DataFrame({"x": np.linspace(0, 1, 9), "c": list("aabbccdde")})
    dom = TabularDomain.from_frame(df, ingest_options={"num_bins": 4})
    rec = dom.to_records(df.iloc[[0]])[0]
    m = dom.unmasked(dom.featurize(rec))
    m.predict = np.array([True, True])
    r = dom.layout.num_cat_rows
    cat_logits = np.zeros((2, r))
    start = int(dom.layout.cat_offset[1]) + 1
    cat_logits[1, start + 2] = 5.0  # third category "c"
    cat_logits[1, start - 1] = 50.0  # the unknown row is never chosen
    bin_logits = np.array([[0.0, 0.0, 3.0, 0.0], [0, 0, 0, 0]])
    value = np.array([10.0, 0.0])  # far above bin 2: clipped to its upper edge
    out = dom.decode({"cat_logits": cat_logits, "bin_logits": bin_logits, "value": value}, m)
    assert out["num"][0] == pytest.approx(dom.columns[0]["edges"][3])
    assert dom.columns[1]["categories"][out["cat"][1] - 1] == "c"
    assert out["observed"].all()
    # numeric_decode=regression: the regression value itself, clipped to the training range only
    dom.options["numeric_decode"] = "regression"
    edges = dom.columns[0]["edges"]
    for v, ref in ((0.3, 0.3), (10.0, edges[-1]), (-10.0, edges[0])):
        value = np.array([v, 0.0])
        out = dom.decode({"cat_logits": cat_logits, "bin_logits": bin_logits, "value": value}, m)
        assert out["num"][0] == pytest.approx(ref, rel=1e-6)


# ------------------------------------------------------------------ infill

def bag_predict(dom: TabularDomain, seed: int = 0):
    """A deterministic model without the core (embedder -> mean over the row -> head):
    infill's invariants do not depend on the encoder."""
    torch.manual_seed(seed)
    emb = dom.embedder(Cfg)
    head = dom.head(Cfg, emb)

    def predict(examples):
        batch = collate(examples)
        with torch.no_grad():
            h = emb(batch.inputs)  # [T, d]
            seq = batch.sequence_ids()
            pooled = torch.zeros(batch.num_sequences, h.shape[1]).index_add_(0, seq, h)
            h = h + pooled[seq]  # every cell sees its row
            preds = head(h[batch.predict]).predictions
        counts = np.cumsum([int(e.predict.sum()) for e in examples])[:-1]
        split = {k: np.split(v.numpy(), counts) for k, v in preds.items()}
        return [{k: split[k][i] for k in split} for i in range(len(examples))]

    return predict


def dtype_frame() -> pd.DataFrame:
    df = mixed_frame(50)
    df["nullable"] = pd.array(np.arange(50) * 7, dtype="Int64")
    df["f32"] = np.linspace(0, 1, 50).astype(np.float32)
    df["cat"] = pd.Categorical(np.array(["lo", "hi"])[np.arange(50) % 2])
    df["s"] = pd.array(np.array(["u", "v", "w"])[np.arange(50) % 3], dtype="string")
    df["flag"] = df["flag"].astype(object)
    return df


def test_infill_fills_every_hole_keeps_observed_cells_and_dtypes():
    full = dtype_frame()
    dom = TabularDomain.from_frame(full)
    rng = np.random.default_rng(3)
    holes = rng.random(full.shape) < 0.25
    holes[5, :] = True  # an entirely missing row
    data = full.copy()
    for j, c in enumerate(full.columns):
        data.loc[holes[:, j], c] = None
    data.loc[1, "color"] = "purple"  # unseen category: kept as is
    data["extra"] = np.arange(50)  # a column the schema does not know: passes through
    out = dom.infill(data, bag_predict(dom))
    assert list(out.columns) == list(data.columns)
    assert out.dtypes.to_dict() == data.dtypes.to_dict()
    assert out.isna().sum().sum() == 0
    observed = data.notna()
    for c in data.columns:  # observed cells bit-identical
        pd.testing.assert_series_equal(out[c][observed[c]], data[c][observed[c]])
    assert out.loc[1, "color"] == "purple"
    cats = by_name(dom.schema)
    assert set(out["color"]) <= {"red", "green", "blue", "purple"}
    assert set(out["small_int"]) <= set(cats["small_int"]["categories"])
    assert (out["big_int"] == out["big_int"].round()).all()  # integral column stays integral


def test_infill_missing_column_and_permuted_columns():
    full = dtype_frame()
    dom = TabularDomain.from_frame(full)
    predict = bag_predict(dom)
    rng = np.random.default_rng(4)
    data = full.mask(rng.random(full.shape) < 0.3)
    out = dom.infill(data, predict)
    perm = list(np.random.default_rng(0).permutation(data.columns))
    out_perm = dom.infill(data[perm], predict)
    pd.testing.assert_frame_equal(out_perm, out[perm])
    # a schema column absent at infill time is read as missing and not added
    dropped = data.drop(columns=["flt", "color"])
    out_drop = dom.infill(dropped, predict)
    assert list(out_drop.columns) == list(dropped.columns)
    assert out_drop.isna().sum().sum() == 0
    # the same cells, with flt and color given as missing, are predicted identically
    as_missing = data.assign(flt=np.nan, color=None)
    ref = dom.infill(as_missing, predict).drop(columns=["flt", "color"])
    pd.testing.assert_frame_equal(out_drop, ref)


def test_infill_numpy_array_and_file_round_trip(tmp_path):
    x = np.random.default_rng(0).normal(size=(30, 4))
    dom = TabularDomain.from_frame(x)
    holes = x.copy()
    holes[np.random.default_rng(1).random(x.shape) < 0.2] = np.nan
    out = dom.infill(holes, bag_predict(dom))
    assert isinstance(out, np.ndarray) and out.dtype == x.dtype and not np.isnan(out).any()
    obs = ~np.isnan(holes)
    np.testing.assert_array_equal(out[obs], holes[obs])
    for name in ("o.csv", "o.parquet", "o.tsv"):
        frame = pd.DataFrame(out, columns=[f"c{i}" for i in range(4)])
        dom.write_output(frame, str(tmp_path / name))
        back = dom.read_input(str(tmp_path / name)) if not name.endswith("tsv") else \
            pd.read_csv(tmp_path / name, sep="\t")
        np.testing.assert_allclose(back.to_numpy(), out)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
