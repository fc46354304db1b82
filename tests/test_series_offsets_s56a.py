"""Series time columns with two UTC offsets (a logger's local time over a change of daylight
saving time, ``+01:00`` then ``+02:00``).

The reader orders such rows as instants, but two advice paths parsed the cells without
``utc=True``: pandas raised "Mixed timezones detected" from the advice itself, and that was
the whole error (``io._mostly_times``: a time column not named as one; ``times._time_part``:
a time split over two columns). The reference is pandas' ``to_datetime(utc=True)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from domains.timeseries import TimeSeriesDomain
from domains.timeseries.io import _mostly_times, read_csv
from domains.timeseries.times import TimeFormError, _time_part
from encoderkit.errors import DataError
from encoderkit.impute_cells import as_written


def _stamps() -> list[str]:
    """Noon and midnight, 2021-03-20 .. 30, Central European local time (DST from the 28th)."""
    return [f"2021-03-{d:02d}T{h:02d}:00{'+01:00' if d < 28 else '+02:00'}" for d in range(20, 31) for h in (0, 12)]


def test_the_advice_reads_times_of_two_offsets_as_times():
    cells = pd.Series(_stamps())
    assert _mostly_times(cells) and _time_part(cells, "stamp")
    assert pd.to_datetime(cells, utc=True).notna().all()  # the reference: pandas reads them all


def test_an_unnamed_time_column_of_two_offsets_is_named_in_the_error(tmp_path):
    path = tmp_path / "x.csv"
    pd.DataFrame({"stamp": _stamps(), "a": np.arange(22.0)}).to_csv(path, index=False)
    with pytest.raises(DataError) as err:
        read_csv(str(path))
    said = str(err.value)
    assert "Mixed timezones" not in said and "give time_column=stamp" in said, said


def test_a_time_split_over_two_columns_is_said_with_offsets_too(tmp_path):
    path = tmp_path / "x.csv"
    stamps = _stamps()
    pd.DataFrame({"day": [s[8:10] for s in stamps], "stamp": stamps, "a": np.arange(22.0)}).to_csv(path, index=False)
    with pytest.raises(TimeFormError, match=r"span two columns, 'day' and 'stamp'"):
        read_csv(str(path), time_column="day")


def test_a_series_over_a_dst_change_is_ordered_by_instant_and_written_back_as_given(tmp_path):
    stamps = _stamps()
    order = np.random.default_rng(0).permutation(len(stamps))  # the rows out of order in the file
    values = np.arange(len(stamps), dtype=float)
    values[[3, 17]] = np.nan
    src, out = tmp_path / "x.csv", tmp_path / "out.csv"
    pd.DataFrame({"time": np.asarray(stamps)[order], "a": values[order]}).to_csv(src, index=False)
    d = TimeSeriesDomain({}, time_column="time")
    data = d.read_input(str(src))
    instants = pd.to_datetime(data["time"], utc=True)
    sorted_rows = d.time_order(data)
    assert np.array_equal(sorted_rows, np.argsort(instants.to_numpy(), kind="stable"))
    filled = data.assign(a=data["a"].fillna(-1.0))
    d.write_output(as_written(str(src), str(out), data, filled, None), str(out))
    given, back = pd.read_csv(src, dtype=str, keep_default_na=False), pd.read_csv(out, dtype=str, keep_default_na=False)
    assert back["time"].tolist() == given["time"].tolist()  # the times as written, offsets too
    assert (back["a"] != "").all() and (back["a"][given["a"] != ""] == given["a"][given["a"] != ""]).all()


def test_an_offset_beside_none_names_the_first_row_that_differs(tmp_path):
    stamps = _stamps()
    stamps[4] = stamps[4][:-6]  # data row 5: no offset
    path = tmp_path / "x.csv"
    pd.DataFrame({"time": stamps, "a": np.arange(22.0)}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"time column 'time': data row 5 \(line 6\) holds '2021-03-22T00:00', "
                                        r"which has no UTC offset"):
        read_csv(str(path), time_column="time")


def test_a_table_names_the_first_row_whose_offset_differs():
    """A table needs no row order: such a column stays categories (its cells kept), and what
    ingest says now names the rows, as the series reader's refusal does."""
    from domains.tabular.schema import infer_schema

    stamps = _stamps()
    stamps[4] = stamps[4][:-6]
    frame = pd.DataFrame({"ts": stamps, "v": np.arange(22.0)}, index=np.arange(100, 122))  # positions, not labels
    _, said = infer_schema(frame, np.ones(len(frame), dtype=bool))
    named = [m for m in said if "'ts'" in m]
    assert named and "data row 5 holds '2021-03-22T00:00', data row 1 '2021-03-20T00:00+01:00'" in named[0], said
