"""A table ingested in parts: ``ingest ... append=true`` encodes the new rows with the store's
schema (audit s44, finding 2: tables could not be appended at all, so a table larger than
memory could not be ingested). The reference for an appended part is ``encode_frame`` of
that part with the stored schema, independent of the append path; the first part's records
must come back unchanged. Real data: scikit-learn's breast_cancer, a tiny model."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import UnknownValueWarning, UsageError

from domains.tabular.schema import encode_frame

from .sample_store import TINY_MODEL


def table() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame["size"] = np.where(frame["mean radius"] > 14, "large", "small")  # a categorical column
    rng = np.random.default_rng(44)
    holes = rng.random(frame.shape) < 0.05
    return frame.mask(holes)


def records(store) -> list[dict]:
    s = RecordStore(store)
    return [s[i] for i in range(len(s))]


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("parts")
    frame = table()
    p1, p2 = root / "p1.csv", root / "p2.csv"
    frame.iloc[:300].to_csv(p1, index=False)
    second = frame.iloc[300:].copy()
    second.loc[second.index[:5], "size"] = "huge"  # a category the first part never held
    second.loc[second.index[5], "mean area"] = 1e5  # far outside the first part's range
    second["note"] = "x"  # a column the schema does not hold: ignored
    second = second.drop(columns=["worst area"])  # a schema column the part lacks: missing
    second.iloc[:, ::-1].to_csv(p2, index=False)  # column order does not matter
    store = str(root / "t.zarr")
    ingest("tabular", str(p1), store, progress=False, verbose=False)
    before = records(store)
    schema = RecordStore(store).schema
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = ingest("tabular", str(p2), store, append=True, progress=False, verbose=False)
    return {"root": root, "store": store, "before": before, "schema": schema, "p2": p2,
            "report": report, "caught": caught}


def test_appended_records_are_the_part_encoded_with_the_stored_schema(parts):
    after = records(parts["store"])
    before = parts["before"]
    assert RecordStore(parts["store"]).schema == parts["schema"]  # the schema is kept
    assert len(after) == 569 and len(before) == 300
    for a, b in zip(after[:300], before):  # the first part is unchanged
        assert a["id"] == b["id"]
        for k in ("column", "cat", "num", "observed"):
            np.testing.assert_array_equal(a[k], b[k])
    part = pd.read_csv(parts["p2"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = encode_frame(part, parts["schema"])
    new = after[300:]
    np.testing.assert_array_equal(np.stack([r["cat"] for r in new]), ref.cat)
    np.testing.assert_array_equal(np.stack([r["num"] for r in new]), ref.num)
    np.testing.assert_array_equal(np.stack([r["observed"] for r in new]), ref.observed)
    names = [c["name"] for c in parts["schema"]["columns"]]
    assert not np.stack([r["observed"] for r in new])[:, names.index("worst area")].any()
    # the far value is kept as it is (standardised by the first part's statistics)
    col = parts["schema"]["columns"][names.index("mean area")]
    assert new[5]["num"][names.index("mean area")] == np.float32((1e5 - col["mean"]) / col["std"])


def test_unknown_category_is_warned_and_stored_as_unknown(parts):
    names = [c["name"] for c in parts["schema"]["columns"]]
    j = names.index("size")
    after = records(parts["store"])
    assert all(r["observed"][j] and r["cat"][j] == 0 for r in after[300:305])
    said = [str(w.message) for w in parts["caught"] if issubclass(w.category, UnknownValueWarning)]
    assert len(said) == 1 and "'size'" in said[0] and "5 of its" in said[0] and "huge" in said[0]
    text = "\n".join(parts["report"].warnings)
    assert "'note'" in text and "ignored" in text  # the column the schema lacks
    assert "'worst area'" in text and "missing" in text  # the schema column the part lacks


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_ids_continue_the_numbering_and_stay_unique(parts, tmp_path):
    after = records(parts["store"])
    ids = [r["id"] for r in after]
    assert len(set(ids)) == len(ids)
    assert ids[299] == "row299" and ids[300] == "row300" and ids[-1] == "row568"
    assert [int(r["row"]) for r in after] == list(range(569))
    # a part whose first row is entirely missing: skipped, and the numbering counts it
    store = str(tmp_path / "s.zarr")
    frame = table()
    frame.iloc[:100].to_csv(tmp_path / "a.csv", index=False)
    b = frame.iloc[100:150].copy()
    b.iloc[0] = np.nan
    b.to_csv(tmp_path / "b.csv", index=False)
    frame.iloc[150:160].to_csv(tmp_path / "c.csv", index=False)
    ingest("tabular", str(tmp_path / "a.csv"), store, progress=False, verbose=False)
    report = ingest("tabular", [str(tmp_path / "b.csv"), str(tmp_path / "c.csv")], store, append=True,
                    progress=False, verbose=False)
    assert report.skipped["row entirely missing"] == 1
    ids = [r["id"] for r in records(store)]
    assert len(ids) == 159 and len(set(ids)) == 159
    assert "row100" not in ids and ids[100] == "row101" and ids[-1] == "row159"


def test_an_ingest_option_contradicting_the_store_is_refused(tmp_path):
    store = str(tmp_path / "s.zarr")
    frame = table()
    frame.iloc[:100].to_csv(tmp_path / "a.csv", index=False)
    frame.iloc[100:200].to_csv(tmp_path / "b.csv", index=False)
    ingest("tabular", str(tmp_path / "a.csv"), store, progress=False, verbose=False, num_bins=8)
    with pytest.raises(UsageError, match="'num_bins' ingest option contradicts the store"):
        ingest("tabular", str(tmp_path / "b.csv"), store, append=True, progress=False, verbose=False,
               num_bins=16)
    assert len(RecordStore(store)) == 100  # the store is unchanged
    # the same value again is no contradiction
    ingest("tabular", str(tmp_path / "b.csv"), store, append=True, progress=False, verbose=False, num_bins=8)
    assert len(RecordStore(store)) == 200


def test_a_part_with_none_of_the_store_columns_is_refused(parts, tmp_path):
    from encoderkit.errors import DataError

    pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(DataError, match="none of the file's columns"):
        ingest("tabular", str(tmp_path / "other.csv"), parts["store"], append=True, progress=False,
               verbose=False)
    assert len(RecordStore(parts["store"])) == 569


def test_pretrain_runs_on_the_appended_store(parts):
    from encoderkit.train import pretrain

    run = pretrain(["domain=tabular", f"data.store={parts['store']}", f"run.dir={parts['root'] / 'run'}",
                    "train.steps=3", "train.progress=false", "train.eval_every=0",
                    "data.max_tokens=512", "data.max_seqlen=64", *TINY_MODEL])
    assert (run / "metrics.jsonl").exists()


def test_a_row_observed_only_in_an_ignored_column_is_skipped(tmp_path):
    """(review s44) A row whose only value is in a column the schema does not have held
    nothing the model reads: stored with every cell unobserved, it is skipped as an empty row."""
    first = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.5, 0.1, 0.7, 0.2]})
    first.to_csv(tmp_path / "p1.csv", index=False)
    pd.DataFrame({"a": [5.0, np.nan], "b": [0.3, np.nan], "extra": ["x", "y"]}).to_csv(
        tmp_path / "p2.csv", index=False)
    store = str(tmp_path / "t.zarr")
    ingest("tabular", str(tmp_path / "p1.csv"), store, progress=False, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = ingest("tabular", str(tmp_path / "p2.csv"), store, append=True, progress=False,
                        verbose=False)
    assert len(RecordStore(store)) == 5 and report.skipped["row entirely missing"] == 1
    assert all(r["observed"].any() for r in records(store))
