"""Drift warnings that were false alarms (review s49 r2, fixes o): the data the run was
trained on, or what the user asked for, draws no word; drift beside it still does.

- a table's later rows (a sorted or trending column) are no change of units: the "other
  units?" question is gone (it fired on 52 of 374 ordinary time-ordered splits);
- infill / impute of a column left blank: the blank column is the request, not drift;
- a sets run's own training file, ingested with ``feature_columns`` and ``min_count``: the
  columns it left out and the items rarer than ``min_count`` are the run's choices;
- a series channel that held no value in training either;
- the schema-check refusal names the fix that always works: the pretraining store itself."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domains.sets import SetsDomain
from domains.sets.drift import rarer_than_min_count
from domains.tabular.domain import TabularDomain, ingest_frame as ingest_table
from domains.tabular.encoding import encode_frame
from domains.timeseries import TimeSeriesDomain
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import DataError
from encoderkit.infer.load import run_domain


def said(fn, *args, **kwargs) -> tuple[object, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [str(w.message) for w in caught]


# ---- tables ------------------------------------------------------------------------------------

def test_the_later_rows_of_a_sorted_table_draw_no_units_question(tmp_path):
    """iris's first 45 rows (all setosa, petals 1.0-1.9 cm) and the rest (petals up to 6.9 cm):
    the old rule asked whether 'petal length (cm)' came in other units."""
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True).frame.drop(columns="target")
    train, rest = iris.iloc[:45], iris.iloc[45:].reset_index(drop=True)
    assert rest["petal length (cm)"].gt(1.25 * train["petal length (cm)"].max()).mean() > 0.5  # far outside
    ingest_table(train, str(tmp_path / "t.zarr"), verbose=False)
    encoded, told = said(encode_frame, rest, RecordStore(str(tmp_path / "t.zarr")).schema)
    assert told == []
    assert encoded.observed.all()  # every value read, as given


def test_infill_of_a_blanked_column_says_nothing_of_it_and_predict_still_does(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    frame["target"] = (frame["a"] + 0.1 * rng.normal(size=80)).round(3)
    ingest_table(frame, str(tmp_path / "t.zarr"), verbose=False)
    domain = TabularDomain(RecordStore(str(tmp_path / "t.zarr")).schema)
    blank = frame.head(20).assign(target=np.nan)
    filled, told = said(domain._fill, blank, None, "iterative")
    assert not [m for m in told if "hold no value" in m]
    assert filled["target"].notna().all()  # the request: every blank cell filled
    _, told = said(domain.to_records, blank)  # predict / embed read it as absent: said
    assert [m for m in told if "hold no value" in m and "['target']" in m]


# ---- sets ------------------------------------------------------------------------------------

def sets_frame(seed: int = 0) -> pd.DataFrame:
    """40 sets; items: 4 common ones and 3 seen once each (below min_count=2); a 'score'
    number column the run leaves out by naming feature_columns=[w]."""
    rng = np.random.default_rng(seed)
    rows = [{"set": f"s{i}", "item": ["pear", "apple", "fig", "kiwi"][rng.integers(4)], "x": rng.normal(),
             "y": rng.normal(), "w": rng.normal(), "score": float(k)} for i in range(40) for k in range(5)]
    for k, name in enumerate(["durian", "quince", "lime"]):
        rows[7 * k + 1]["item"] = name
    return pd.DataFrame(rows)


def sets_run(tmp_path: Path, frame: pd.DataFrame, **options) -> tuple[SetsDomain, Path]:
    """The domain a loaded run reads files with (``infer.load.run_domain``, its store's provenance)."""
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    ingest("sets", [str(path)], str(tmp_path / "s.zarr"), progress=False, verbose=False, **options)
    store = RecordStore(str(tmp_path / "s.zarr"))
    return run_domain(SetsDomain(store.schema).describe(), str(tmp_path / "s.zarr")), path


def test_a_sets_run_says_nothing_of_its_own_training_file(tmp_path):
    frame = sets_frame()
    domain, path = sets_run(tmp_path, frame, min_count=2, feature_columns=["w"], id_column="item")
    assert len(domain.vocab) == 4  # the 3 items seen once are [UNK] in the store too
    _, told = said(domain.read_records, str(path))
    assert told == []
    # ingested without feature_columns, 'score' would have been read: a file that has it is said
    (tmp_path / "plain").mkdir()
    plain, plain_path = sets_run(tmp_path / "plain", frame.drop(columns="score"), id_column="item")
    _, told = said(plain.read_records, str(plain_path))
    assert told == []
    _, told = said(plain.to_records, frame)
    assert [m for m in told if "['score']" in m]


def test_drift_beside_the_run_s_choices_is_still_said(tmp_path):
    frame = sets_frame()
    domain, _ = sets_run(tmp_path, frame, min_count=2, feature_columns=["w"], id_column="item")
    # a third coordinate: ingest (coord_columns not named) would have read it, so training had none
    _, told = said(domain.to_records, frame.assign(z=0.5))
    assert [m for m in told if "['z']" in m and "further coordinate" in m]
    # a quarter of the items new: far above the rate min_count=2 leaves out (1 in 200 elements)
    new = frame.copy()
    new.loc[::4, "item"] = "middle"
    _, told = said(domain.to_records, new)
    mine = [m for m in told if "read as [UNK]" in m]
    assert len(mine) == 1 and "'middle'" in mine[0] and "50 of the 200 items" in mine[0]
    # one new item in one small set: 1 in 5 elements, 40 in 200 once scaled: said
    one = frame[frame["set"] == "s3"].assign(item=["pear", "apple", "mango", "fig", "kiwi"])
    _, told = said(domain.to_records, one)
    assert [m for m in told if "'mango'" in m]


def test_the_items_min_count_explains_by_hand():
    # 200 training elements, min_count 3: an item is as rare as those left out below 3 in 200
    items = ["a"] * 2 + ["b"] * 1 + ["c"] * 5
    assert rarer_than_min_count(items, 200, 200, 3) == {"a", "b"}  # 2, 1 < 3; 5 >= 3
    assert rarer_than_min_count(items, 20, 200, 3) == set()  # 20x the rate: 20, 10, 50 >= 3
    assert rarer_than_min_count(items, 200, 200, 1) == set()  # min_count 1: every item has a token


# ---- series ------------------------------------------------------------------------------------

def test_a_channel_empty_in_training_too_is_not_said(tmp_path):
    rng = np.random.default_rng(3)
    frame = pd.concat([pd.DataFrame({"t": range(30), "sid": k, "a": rng.normal(size=30),
                                     "b": rng.normal(size=30), "d": np.nan}) for k in range(3)],
                      ignore_index=True)
    path = tmp_path / "s.csv"
    frame.to_csv(path, index=False)
    ingest("timeseries", [str(path)], str(tmp_path / "s.zarr"), progress=False, verbose=False,
           time_column="t", series_column="sid")
    schema = dict(RecordStore(str(tmp_path / "s.zarr")).schema)
    assert schema["channel_names"] == ["a", "b", "d"]
    # observed samples per channel, as ingest records them (counted here from the frame)
    counts = [int(frame[c].notna().sum()) for c in ("a", "b", "d")]
    assert counts == [90, 90, 0]
    assert schema["channel_observed"] == counts  # what ingest wrote
    _, told = said(TimeSeriesDomain(schema).read_records, str(path))
    assert not [m for m in told if "hold no value" in m]
    # a run whose training data had values in 'd': the same file is drift, said
    _, told = said(TimeSeriesDomain({**schema, "channel_observed": [90, 90, 90]}).read_records, str(path))
    assert [m for m in told if "hold no value" in m and "['d']" in m]


# ---- the schema-check refusal ----------------------------------------------------------------------

def test_the_schema_refusal_names_the_pretraining_store(tmp_path, monkeypatch):
    from encoderkit.tasks import model as task_model
    from encoderkit.train import checkpoint as ckpt

    frame = sets_frame()
    full, _ = sets_run(tmp_path, frame, id_column="item")
    (tmp_path / "half").mkdir()
    half, _ = sets_run(tmp_path / "half", frame[frame["set"].isin([f"s{i}" for i in range(0, 40, 2)])],
                       id_column="item")
    assert half.pretrained_schema_differences({"schema": full.schema, "options": {}})  # vocab order differs
    pretrained = str(tmp_path / "s.zarr")
    monkeypatch.setattr(ckpt, "read_state", lambda _: {"domain": full.describe(), "inputs": {"store": pretrained}})
    with pytest.raises(DataError) as e:
        task_model.check_pretrained_schema(half, tmp_path / "ckpt", str(tmp_path / "half" / "s.zarr"))
    said_ = str(e.value)
    assert f"pretraining store itself (data.store={pretrained})" in said_
    assert "without a row are unlabelled" in said_ and "\n" not in said_


def test_a_frame_given_to_the_python_api_is_told_of_an_empty_channel(tmp_path):
    """``model.predict(frame)`` / ``embed(frame)`` read a frame through ``to_records``: the file
    readers' empty-channel warning holds there too (s49j, applied by the lead)."""
    rng = np.random.default_rng(4)
    frame = pd.concat([pd.DataFrame({"t": range(20), "sid": k, "a": rng.normal(size=20),
                                     "b": rng.normal(size=20)}) for k in range(3)], ignore_index=True)
    path = tmp_path / "s.csv"
    frame.to_csv(path, index=False)
    ingest("timeseries", [str(path)], str(tmp_path / "s.zarr"), progress=False, verbose=False,
           time_column="t", series_column="sid")
    domain = TimeSeriesDomain(RecordStore(str(tmp_path / "s.zarr")).schema, time_column="t", series_column="sid")
    _, told = said(domain.to_records, frame)
    assert not [m for m in told if "hold no value" in m]
    _, told = said(domain.to_records, frame.assign(b=np.nan))
    assert [m for m in told if "hold no value" in m and "['b']" in m]
