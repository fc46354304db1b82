"""What a notebook user passes to a loaded run and to ``EncoderImputer`` besides pandas and
numpy (leftovers of session 53's containers work). Reference: the same data as pandas /
as numpy, which these paths read already.

- a table whose ``__dataframe__`` / ``__arrow_c_stream__`` raised a RuntimeError let the
  raw error through (a traceback of another library);
- a lazy frame ended in the words of whatever read it ("got polars.LazyFrame", scikit-learn's
  "Expected 2D array, got scalar array"), none saying to ``.collect()`` it;
- a list of row dicts (``df.to_dict("records")``) was refused by a tabular run's infill and
  embed, and read as stored records (a KeyError of a missing field) by the other domains' embed;
- a torch tensor was refused by a series run's infill and embed ("unsupported data of type
  torch.Tensor"), and a tensor that needs grad by ``EncoderImputer``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import encoderkit
from encoderkit.errors import DataError


def quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(*args, **kwargs)


@pytest.fixture(scope="module")
def loaded(runs):
    """The reliability suite's tiny runs (``conftest.runs``, made once a session), loaded,
    with the raw table each was ingested from (none for genomic's FASTA)."""
    return {name: (encoderkit.load(run.dir), pd.read_csv(run.raw[0]) if name != "genomic" else None)
            for name, run in runs.items() if name in ("tabular", "timeseries", "sets", "genomic")}


class ExportRaises:
    """A table whose export fails inside its own library (a RuntimeError, as a dataframe
    library raises for a frame it cannot export)."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol

    def __getattr__(self, name):
        if name != self.protocol:
            raise AttributeError(name)

        def export(*args, **kwargs):
            raise RuntimeError("cannot export a frame holding object columns")
        return export


class LazyFrame:
    """A lazy query as polars' and narwhals' are: no table until ``.collect()`` runs it."""

    def collect(self):
        raise AssertionError("encoderkit must not run the user's query")


def _entries(loaded):
    """Every Python entry of tables in memory: (name, call)."""
    from encoderkit.sklearn import EncoderImputer

    out = [("EncoderImputer.fit", EncoderImputer(model="tiny", steps=1, overrides=("run.device=cpu",)).fit)]
    for name, (model, _) in loaded.items():
        if name != "genomic":  # reads sequences, never tables
            out += [(f"{name}.infill", model.infill), (f"{name}.embed", model.embed)]
    return out


@pytest.mark.parametrize("protocol", ["__dataframe__", "__arrow_c_stream__"])
def test_a_table_whose_export_raises_is_a_data_error_naming_it(loaded, protocol):
    for where, call in _entries(loaded):
        with pytest.raises(DataError) as said:
            call(ExportRaises(protocol))
        text = str(said.value)
        assert "\n" not in text, where
        for part in ("ExportRaises could not be read as a table", protocol, "RuntimeError",
                     "cannot export a frame holding object columns", "pass a pandas DataFrame"):
            assert part in text, (where, text)


def test_a_lazy_frame_is_refused_with_collect_and_never_run(loaded):
    for where, call in _entries(loaded):
        with pytest.raises(DataError, match=r"LazyFrame is a lazy query, not a table: call \.collect\(\)"):
            call(LazyFrame())


def test_a_polars_lazy_frame_is_refused_with_collect(loaded):
    pl = pytest.importorskip("polars")
    model, frame = loaded["tabular"]
    lazy = pl.from_pandas(frame.head(10)).lazy()
    for call in (model.infill, model.embed, loaded["sets"][0].infill):
        with pytest.raises(DataError, match=r"^polars\.LazyFrame is a lazy query, not a table: call \.collect\(\)"):
            call(lazy)


def _rows_with_holes(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts, one key dropped from some rows (a missing cell, as pandas reads it)."""
    rows = frame.to_dict("records")
    for r in rows[1::4]:  # not the first: pandas orders columns as they first appear
        del r["selfLR"]
    return rows


def test_tabular_rows_as_dicts_are_the_table_pandas_reads(loaded):
    model, frame = loaded["tabular"]
    rows = _rows_with_holes(frame.head(24))
    reference = pd.DataFrame(rows)  # the missing keys as NaN
    assert list(reference.columns) == list(frame.columns) and reference["selfLR"].iloc[1::4].isna().all()
    filled = quiet(model.infill, rows)
    pd.testing.assert_frame_equal(filled, quiet(model.infill, reference))
    assert filled.notna().all().all()
    np.testing.assert_array_equal(quiet(model.embed, rows), quiet(model.embed, reference))
    np.testing.assert_array_equal(quiet(model.embed, tuple(rows)), quiet(model.embed, reference))


def test_tabular_row_dicts_holding_a_list_are_refused_naming_the_cell(loaded):
    model, frame = loaded["tabular"]
    rows = frame.head(3).to_dict("records")
    rows[2] = {**rows[2], "age": [30, 31]}
    for call in (model.infill, model.embed):
        with pytest.raises((TypeError, ValueError), match=r"row 2, key 'age' holds a list, not one value"):
            call(rows)


def test_series_and_sets_rows_as_dicts_are_their_tables(loaded):
    model, frame = loaded["timeseries"]
    frame = frame.head(120).copy()
    frame.iloc[[5, 6, 40], 1] = np.nan
    rows = frame.to_dict("records")
    pd.testing.assert_frame_equal(quiet(model.infill, rows), quiet(model.infill, frame))
    np.testing.assert_array_equal(quiet(model.embed, rows), quiet(model.embed, frame))
    model, long = loaded["sets"]
    long = long[long["set"].isin(long["set"].unique()[:3])].reset_index(drop=True)
    long.loc[[1, 7], "intensity"] = np.nan
    rows = long.to_dict("records")
    pd.testing.assert_frame_equal(quiet(model.infill, rows), quiet(model.infill, long))
    np.testing.assert_array_equal(quiet(model.embed, rows), quiet(model.embed, long))


def test_sets_dicts_stay_sets(loaded):
    model, long = loaded["sets"]
    g = long[long["set"] == long["set"].iloc[0]]
    sets = [{"coords": g[["x", "y"]].to_numpy(), "features": g[["intensity"]].to_numpy()}]
    as_set = quiet(model.embed, sets)
    np.testing.assert_array_equal(as_set, quiet(model.embed, g.reset_index(drop=True)))
    with pytest.raises(DataError, match="unknown keys"):  # a set dict's key among scalars: still a set
        model.infill([{"features": 1.0, "colour": "red"}])


def test_torch_tensors_are_read_as_their_arrays(loaded):
    model, frame = loaded["timeseries"]
    values = frame.iloc[:150, 1].to_numpy(dtype=np.float64)[None, :].copy()  # [C, L]
    values[0, [3, 4, 90]] = np.nan
    want, vectors = quiet(model.infill, values), quiet(model.embed, values)
    for tensor in (torch.from_numpy(values), torch.tensor(values, requires_grad=True)):
        np.testing.assert_array_equal(quiet(model.infill, tensor), want)
        np.testing.assert_array_equal(quiet(model.embed, tensor), vectors)
        np.testing.assert_array_equal(quiet(model.infill, [tensor])[0], want)
    with pytest.raises(encoderkit.errors.UsageError, match="empty input"):
        model.infill(torch.zeros(0, 10))
    sets_model, long = loaded["sets"]
    g = long[long["set"] == long["set"].iloc[0]]
    as_numpy = [{"coords": g[["x", "y"]].to_numpy(), "features": g[["intensity"]].to_numpy()}]
    as_torch = [{k: torch.tensor(v) for k, v in s.items()} for s in as_numpy]
    np.testing.assert_array_equal(quiet(sets_model.embed, as_torch), quiet(sets_model.embed, as_numpy))
    tab, table = loaded["tabular"]
    array = table.select_dtypes("number").to_numpy()[:5]
    with pytest.raises(DataError) as by_array:
        quiet(tab.infill, array)
    with pytest.raises(DataError) as by_tensor:  # refused as its array is, not as a Tensor
        quiet(tab.infill, torch.tensor(array, requires_grad=True))
    assert str(by_tensor.value) == str(by_array.value)


def test_tensor_as_array_detaches_and_names_what_numpy_cannot_hold():
    from encoderkit.frames import tensor_as_array

    t = torch.arange(6, dtype=torch.float32).reshape(2, 3).requires_grad_(True)
    got = tensor_as_array(t)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    np.testing.assert_array_equal(got, np.arange(6, dtype=np.float32).reshape(2, 3))
    half = tensor_as_array(torch.tensor([1.5, -2.25], dtype=torch.bfloat16))  # numpy has no bfloat16
    assert half.dtype == np.float32 and half.tolist() == [1.5, -2.25]
    np.testing.assert_array_equal(tensor_as_array(torch.eye(2).to_sparse()), np.eye(2, dtype=np.float32))
    with pytest.raises(DataError, match=r"torch\.Tensor of dtype float32 on meta could not be read"):
        tensor_as_array(torch.empty(2, device="meta"))
    assert tensor_as_array([1, 2]) == [1, 2]


def test_encoder_imputer_reads_rows_as_dicts_as_their_table():
    from encoderkit.sklearn import EncoderImputer

    rows = [{"a": 1.5, "k": "x"}, {"a": None, "k": "y"}, {"k": "x"}, {"a": 4.0}]
    reference = pd.DataFrame(rows)  # what pandas reads: the keys a row lacks missing
    got, _ = EncoderImputer(model="tiny")._frame(rows, reset=True)  # was scikit-learn's "not 'dict'"
    want, _ = EncoderImputer(model="tiny")._frame(reference, reset=True)
    pd.testing.assert_frame_equal(got, want)
    assert got.isna().to_numpy().tolist() == [[False, False], [True, False], [True, False], [False, True]]


def test_genomic_refuses_rows_and_tensors_as_what_it_reads(loaded):
    model, _ = loaded["genomic"]
    said = "genomic data must be a sequence string, a list of strings"
    for given in ([{"chr1": "ACGT"}], torch.zeros(2, 4)):
        for call in (model.infill, model.embed):  # embed read the rows as stored records (a KeyError)
            with pytest.raises(TypeError, match=said):
                call(given)
