"""Two silent misalignments an audit of the fine-tuning outputs found (2026-12-06):

1. A table given from Python as a slice (``df.iloc[[15, 3]]``) had its records named
   ``row0, row1`` while its index said 15, 3 and the file's store names those rows
   ``row15, row3``: predictions merged on ``id`` landed on other rows.
2. A series table read back for a run (predict / embed / infill) took every number column as
   a channel: an extra column became a second channel, and predictions came from another
   input. A wide table's ingest now records its channel names, and a table read back gives
   the model those columns, by name; others are left as they are.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from domains.tabular import TabularDomain
from encoderkit.cli import main
from encoderkit.data.store import RecordStore

TINY = ["model.hidden_size=16", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=32",
        "train.steps=2", "train.progress=false"]


def test_table_slice_records_are_named_by_the_frame_index(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=20), "b": rng.normal(size=20)})
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    assert main(["ingest", "domain=tabular", f"input={path}", f"output={tmp_path / 's.zarr'}"]) == 0
    store = RecordStore(str(tmp_path / "s.zarr"))
    stored = {rec["id"]: rec["num"] for rec in (store[i] for i in range(len(store)))}
    domain = TabularDomain(store.schema)
    part = frame.iloc[[15, 3, 7]]
    records = domain.to_records(part)
    assert [r["id"] for r in records] == ["row15", "row3", "row7"]
    for r in records:  # the record named row15 is the store's row15
        np.testing.assert_array_equal(r["num"], stored[r["id"]])
    # a whole table read from its file keeps positional ids; a repeated index falls back to them
    assert [r["id"] for r in domain.to_records(frame)][:2] == ["row0", "row1"]
    twice = pd.concat([frame.iloc[:2], frame.iloc[:2]])
    assert [r["id"] for r in domain.to_records(twice)] == ["row0", "row1", "row2", "row3"]


@pytest.fixture(scope="module")
def series_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("series")
    t = np.arange(48)
    frame = pd.concat([pd.DataFrame({"seg": f"s{k}", "t": t, "v": np.sin(t / 4 + k) * 10 + k})
                       for k in range(4)], ignore_index=True)
    frame.to_csv(d / "train.csv", index=False)
    assert main(["ingest", "domain=timeseries", f"input={d / 'train.csv'}", f"output={d / 's.zarr'}",
                 "time_column=t", "series_column=seg"]) == 0
    assert RecordStore(str(d / "s.zarr")).schema["channel_names"] == ["v"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["pretrain", "domain=timeseries", f"data.store={d / 's.zarr'}",
                     f"run.dir={d / 'run'}", *TINY]) == 0
    return d, frame


def test_series_table_read_back_gives_the_model_the_runs_channels_only(series_run):
    import encoderkit

    d, frame = series_run
    model = encoderkit.load(str(d / "run"))
    extra = frame.assign(other=np.linspace(-500, 500, len(frame)))[["other", "t", "v", "seg"]]
    with pytest.warns(UserWarning, match=r"\['other'\] are not channels the run was trained on"):
        got = model.embed(extra)
    np.testing.assert_array_equal(got, model.embed(frame))
    holed = extra.copy()
    holed.loc[5, "v"] = np.nan
    holed.loc[6, "other"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        filled = model.infill(holed)
    assert np.isfinite(filled.loc[5, "v"])
    assert np.isnan(filled.loc[6, "other"])  # not a channel: left as it is
    pd.testing.assert_series_equal(filled["other"].drop(6), holed["other"].drop(6))


def test_series_table_without_a_run_channel_is_refused(series_run):
    import encoderkit
    from encoderkit.errors import DataError

    d, frame = series_run
    model = encoderkit.load(str(d / "run"))
    with pytest.raises((ValueError, DataError), match="no column 'v'"):
        model.embed(frame.rename(columns={"v": "w"}))


def test_encoder_imputer_fit_transform_says_each_warning_once():
    """Each warning about reading X (a text cell in a number column) came twice from
    fit_transform: once at fit, once at transform of the same X."""
    from encoderkit.sklearn import EncoderImputer

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=30).round(3).astype(object), "b": rng.normal(size=30)})
    X.loc[4, "a"] = "oops"
    X.loc[7, "b"] = np.nan
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        EncoderImputer(random_state=0, steps=2, progress=False).fit_transform(X)
    said = [str(w.message) for w in got if "oops" in str(w.message)]
    assert len(said) == 1, said
