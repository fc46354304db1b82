"""A loaded run's infill / embed / evaluate on the containers a notebook user has (audit A3
of session 53). Reference: the same data as pandas / as NaN, which these paths read already.

- polars / pyarrow tables were refused ("must be a pandas DataFrame ... got DataFrame",
  "unsupported data of type DataFrame", "Got DataFrame instead"), and a fine-tuned run's
  ``evaluate`` of a table holding the label column said it "needs labels";
- a numpy masked array's masked values were read as observed (series, sets, tables);
- sets: ``None`` features of a list / object array were left unfilled; a float32 feature
  column of a long table raised pandas' TypeError at the write-back;
- a list of row dicts reached the tabular reader as stored records (a KeyError); since
  session 54 it is the table pandas reads (tests/test_notebook_inputs_s54a.py).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import encoderkit
from tests.domains.sample_store import TINY_MODEL


def quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(*args, **kwargs)


def arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from tests.reliability.conftest import make_run

    out = {}
    for name in ("tabular", "timeseries", "sets"):
        run = make_run(name, tmp_path_factory.mktemp(f"s53f-{name}"))
        out[name] = (encoderkit.load(run.dir), pd.read_csv(run.raw[0]))
    return out


def test_tables_of_other_libraries_fill_and_embed_as_pandas(runs):
    model, frame = runs["tabular"]
    frame = frame.head(40).copy()
    frame.iloc[::5, 1] = np.nan
    want, vectors = quiet(model.infill, frame), quiet(model.embed, frame)
    for given in (arrow(frame), pa.RecordBatch.from_pandas(frame, preserve_index=False)):
        pd.testing.assert_frame_equal(quiet(model.infill, given), want)
        np.testing.assert_array_equal(quiet(model.embed, given), vectors)
    from domains.tabular.encoding import as_frame

    holes = frame.isna().to_numpy()  # an array's columns c0, c1, ...: a run ingested from one
    masked = np.ma.array(np.where(holes, -5.0, frame.to_numpy(dtype=np.float64)), mask=holes)
    np.testing.assert_array_equal(as_frame(masked).to_numpy(), frame.to_numpy(dtype=np.float64))


def test_rows_as_dicts_are_read_alike_by_infill_and_embed(runs):
    model, frame = runs["tabular"]  # session 54: the table pandas reads (refused in session 53)
    rows = frame.head(5).to_dict("records")
    pd.testing.assert_frame_equal(quiet(model.infill, rows), quiet(model.infill, frame.head(5)))
    np.testing.assert_array_equal(quiet(model.embed, rows), quiet(model.embed, frame.head(5)))  # was "KeyError: 'column'"


def test_polars_tables_fill_as_pandas(runs):
    pl = pytest.importorskip("polars")
    model, frame = runs["tabular"]
    frame = frame.head(40).copy()
    frame.iloc[::5, 1] = np.nan
    pd.testing.assert_frame_equal(quiet(model.infill, pl.from_pandas(frame)), quiet(model.infill, frame))
    sets, long = runs["sets"]
    np.testing.assert_array_equal(quiet(sets.embed, pl.from_pandas(long)), quiet(sets.embed, long))


def _series(runs):
    model, frame = runs["timeseries"]
    frame = frame.head(200).copy()
    frame.loc[[5, 6, 7, 50], frame.columns[1]] = np.nan
    return model, frame


def test_series_masked_samples_are_missing(runs):
    model, frame = _series(runs)
    values = frame.iloc[:, 1].to_numpy()[None, :]  # [C, L]
    want = quiet(model.infill, values)
    holes = np.isnan(values)
    got = quiet(model.infill, np.ma.array(np.where(holes, 0.0, values), mask=holes))
    np.testing.assert_array_equal(got, want)  # 0 under the mask was kept as observed
    in_list = quiet(model.infill, [np.ma.array(np.where(holes, 0.0, values), mask=holes)])
    np.testing.assert_array_equal(in_list[0], want)


def test_series_arrow_tables_read_as_pandas(runs):
    model, frame = _series(runs)
    pd.testing.assert_frame_equal(quiet(model.infill, arrow(frame)), quiet(model.infill, frame))
    with pytest.raises(TypeError, match="unsupported data of type pyarrow.ChunkedArray"):
        model.infill(pa.chunked_array([frame.iloc[:, 1].to_numpy()]))


def _sets(runs):
    model, long = runs["sets"]
    long = long[long["set"].isin(long["set"].unique()[:3])].reset_index(drop=True)
    long.loc[[1, 7, 30], "intensity"] = np.nan
    sets = [{"coords": g[["x", "y"]].to_numpy(), "features": g[["intensity"]].to_numpy()}
            for _, g in long.groupby("set", sort=False)]
    return model, long, sets


def test_sets_arrow_tables_read_as_pandas(runs):
    model, long, _ = _sets(runs)
    pd.testing.assert_frame_equal(quiet(model.infill, arrow(long)), quiet(model.infill, long))
    with pytest.raises(TypeError, match="Got pyarrow.ChunkedArray instead"):
        model.infill(pa.chunked_array([[1.0]]))


def test_sets_float32_feature_column_is_filled_in_its_dtype(runs):
    model, long, _ = _sets(runs)
    want = quiet(model.infill, long)
    narrow = quiet(model.infill, long.astype({"intensity": np.float32}))  # was pandas' TypeError
    assert narrow["intensity"].dtype == np.float32
    np.testing.assert_array_equal(narrow["intensity"].to_numpy(),
                                  want["intensity"].to_numpy().astype(np.float32))


def _same_features(got, reference):
    for a, b in zip(got, reference):
        np.testing.assert_array_equal(np.asarray(a["features"], dtype=np.float64), b["features"])


def test_sets_none_features_are_filled(runs):
    model, _, sets = _sets(runs)
    reference = quiet(model.infill, sets)
    nones = [{"coords": s["coords"], "features": np.where(np.isnan(s["features"]), None, s["features"])}
             for s in sets]
    lists = [{"coords": s["coords"].tolist(), "features": s["features"].tolist()} for s in nones]
    for given in (nones, lists):
        _same_features(quiet(model.infill, given), reference)


def test_sets_masked_features_are_missing(runs):
    model, _, sets = _sets(runs)
    reference = quiet(model.infill, sets)
    masked = [{"coords": s["coords"], "features": np.ma.array(np.nan_to_num(s["features"], nan=-1.0),
                                                              mask=np.isnan(s["features"]))} for s in sets]
    _same_features(quiet(model.infill, masked), reference)


def test_evaluate_finds_the_label_column_of_an_arrow_table(tmp_path):
    from encoderkit.data.ingest import ingest
    from encoderkit.tasks import finetune

    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 3))
    frame = pd.DataFrame(x, columns=list("abc")).assign(y=np.where(x[:, 0] > 0, "pos", "neg"))
    frame.to_csv(tmp_path / "t.csv", index=False)
    ingest("tabular", [str(tmp_path / "t.csv")], str(tmp_path / "t.zarr"), progress=False, verbose=False)
    run = quiet(finetune, ["checkpoint=none", "domain=tabular", f"data.store={tmp_path / 't.zarr'}",
                           f"run.dir={tmp_path / 'ft'}", "task=classification", "task.label_column=y",
                           "task.ensemble=1", "train.steps=2", "train.eval_every=2", "train.progress=false",
                           "run.device=cpu", "data.max_tokens=512", "data.max_seqlen=64", *TINY_MODEL])
    model = encoderkit.load(run)
    want = quiet(model.evaluate, frame, verbose=False)
    got = quiet(model.evaluate, arrow(frame), verbose=False)  # was "evaluate needs labels"
    assert dict(got) == dict(want) and want["records"] == 60
