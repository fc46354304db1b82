"""Session 54's review of its own changes: an empty bzip2 stream is bzip2, a zip file named
.csv is told it may be a spreadsheet, huge magnitudes do not snap every fill, and a row dict
whose cells are 0-d numpy arrays is a row."""

from __future__ import annotations

import bz2
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from encoderkit.data.textfiles import check_compression, sniff_compression
from encoderkit.errors import DataError
from encoderkit.frames import holds_rows, rows_as_frame
from encoderkit.plausible_fills import column_range, plausible_values


def test_an_empty_bzip2_stream_is_bzip2(tmp_path: Path) -> None:
    assert sniff_compression(bz2.compress(b"")[:10]) == "bz2"
    path = tmp_path / "empty.csv.bz2"
    path.write_bytes(bz2.compress(b""))
    assert check_compression(path) is None  # was: "holds no bz2 data: name it .csv"


def test_zip_data_named_csv_says_it_may_be_a_spreadsheet(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    np.savez(tmp_path / "b.npz", a=np.zeros(2), b=np.ones(2))
    path.write_bytes((tmp_path / "b.npz").read_bytes())
    with pytest.raises(DataError, match=r"name it \.csv\.zip \(if it is one zipped text file; a spreadsheet"):
        check_compression(path)


def test_huge_magnitudes_keep_their_fills() -> None:
    r = column_range(np.array([0.0, 1e200, 2e200, 3e200]))
    assert np.isfinite(r.sd)
    np.testing.assert_array_equal(plausible_values(np.array([0.6e200, 1.4e200]), r), [0.6e200, 1.4e200])


def test_rows_with_0d_array_cells_are_rows() -> None:
    rows = [{"a": np.array(3.0), "b": "x"}, {"a": np.float64(4.0), "b": "y"}]
    assert holds_rows(rows)
    frame = rows_as_frame(rows)
    pd.testing.assert_frame_equal(frame, pd.DataFrame({"a": [3.0, 4.0], "b": ["x", "y"]}))


def test_a_columns_range_is_worded_as_one_of_its_statistics() -> None:
    """The schema's new ``low`` / ``high`` differ between files as the mean does: two parts'
    schemas say "other statistics" once, not a line per key."""
    from domains.tabular.schema_match import schema_differences

    col = {"name": "x", "kind": "numeric", "dtype": "float64", "mean": 1.0, "std": 1.0, "edges": [0.0],
           "quantiles": [0.0], "integer": False, "low": 0.0, "high": 2.0}
    found = schema_differences({"columns": [col]}, {"columns": [{**col, "low": -1.0, "high": 3.0}]})
    assert found == ["numeric column 'x' has other statistics (mean, std, quantile edges: each file's own)"]
