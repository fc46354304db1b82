"""A series file read takes no session lock (helper j, session 55).

Every warnings-filter section holds the session lock (``session_state.warnings_kept``), and
``Trainer.fit`` holds that lock for a whole training: a series CSV read for infill / predict /
embed in another thread of a service waited for the training to end (5.01 s behind a 5 s
section). The read path's sections are gone: what they silenced is not said in the first place
(text read as ``object``; ``format="mixed"`` dates, which pandas parses without a guessed
format; the read's own check run with ``warn=False``). The values must be pandas' own.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from domains.timeseries import io as tsio
from domains.timeseries.layout import _is_time, text_cells
from domains.timeseries.times import _time_part
from encoderkit import session_state
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.registry import get_domain

WAIT_S = 4.0  # the read takes well under 0.1 s alone


def _finishes_while_held(call: Callable[[], Any]) -> Any:
    """``call()`` in a worker thread while another thread holds the session lock: its result,
    or a test failure when it has not finished within ``WAIT_S`` (it waits for the lock)."""
    held, release, done = threading.Event(), threading.Event(), threading.Event()
    out: dict[str, Any] = {}

    def holder() -> None:  # stands for Trainer.fit in another thread (session_state.training)
        with session_state.held():
            held.set()
            release.wait(30)

    def worker() -> None:
        try:
            out["value"] = call()
        except BaseException as e:  # handed to the test's thread
            out["error"] = e
        done.set()

    h = threading.Thread(target=holder, daemon=True)
    h.start()
    assert held.wait(10)
    w = threading.Thread(target=worker, daemon=True)
    w.start()
    finished = done.wait(WAIT_S)
    release.set()  # the held section ends either way: a failing read is not left waiting
    h.join(10)
    w.join(10)
    assert finished, f"the read waited for another thread's section under the session lock (> {WAIT_S} s)"
    if "error" in out:
        raise out["error"]
    return out["value"]


def _semicolon_file(path) -> None:
    """Day-first dates (the time column's checks), a decimal comma (``file_decimal`` reads the
    cells as text first), holes."""
    days = pd.date_range("2021-01-01", periods=40, freq="D").strftime("%d/%m/%Y")
    rows = [f"{d};{'' if i in (3, 17) else f'{i / 4:.2f}'.replace('.', ',')}" for i, d in enumerate(days)]
    path.write_text("date;v\n" + "\n".join(rows) + "\n")


def test_a_series_read_input_finishes_while_another_thread_holds_the_session_lock(tmp_path):
    src = tmp_path / "s.csv"
    _semicolon_file(src)
    ingest("timeseries", [str(src)], str(tmp_path / "s.zarr"), progress=False, verbose=False,
           time_column="date", delimiter=";")
    dom = get_domain("timeseries")(RecordStore(str(tmp_path / "s.zarr")).schema, time_column="date",
                                   delimiter=";")
    alone = dom.read_input(str(src))
    got = _finishes_while_held(lambda: dom.read_input(str(src)))
    pd.testing.assert_frame_equal(got, alone)
    # the values as pandas reads the file (its own parse of the decimal comma)
    ref = pd.read_csv(src, sep=";", decimal=",", dtype={"date": str})
    assert got["date"].tolist() == ref["date"].tolist()
    np.testing.assert_array_equal(got["v"].to_numpy(dtype=np.float64), ref["v"].to_numpy(dtype=np.float64))


# the cells of each check of the read path; pandas' own verdict is the reference
# (a series read with a separator ending every data row is left out: ``keep_integer_columns``
# reads such a file's columns shifted by one, HEAD's code too; see the report of helper j)
TRICKY = [
    ["2020-01-01", "Jan 2 2020", "2020/01/03", "4 January 2020", "2020-01-05 00:00"],  # mixed forms
    ["13/01/2020", "14/01/2020", "01/02/2020"],  # day first
    ["01/02/2020", "02/02/2020", "03/02/2020"],  # day or month first
    ["2021-03-28T01:00:00+01:00", "2021-03-28T03:00:00+02:00"],  # UTC offsets over a DST change
    ["2020-01-01T00:00:00Z", "2020-01-01T01:00:00Z"],
    ["1959Q1", "1959Q2", "1959Q3"],  # periods: pandas reads none
    ["1", "2.5", "3"],  # numbers as text
    ["10:00", "11:30:00"],  # times of day
    ["abc", "def 12", "x1"],  # words
]


@pytest.mark.parametrize("cells", TRICKY, ids=lambda c: c[0])
def test_the_date_checks_say_pandas_verdict_and_take_no_lock(cells):
    texts = pd.Series(cells, name="x")
    for cell in cells:  # a header cell: pandas' parse of the cell alone
        when = pd.to_datetime(cell, errors="coerce", format="mixed")
        is_number = pd.notna(pd.to_numeric(cell, errors="coerce"))
        assert _finishes_while_held(lambda: _is_time(cell)) == bool(
            any(ch.isdigit() for ch in cell) and not is_number and pd.notna(when))
    if "+02:00" in cells[-1]:  # two UTC offsets: pandas refuses the column (as before: HEAD too)
        return
    parsed = pd.to_datetime(texts, errors="coerce", format="mixed")  # pandas' own parse
    numbers = pd.to_numeric(texts, errors="coerce").notna().any()
    assert _finishes_while_held(lambda: tsio._mostly_times(texts)) == bool(
        not numbers and parsed.notna().mean() >= 0.9)
    if not texts.str.fullmatch(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?").all():
        assert _finishes_while_held(lambda: _time_part(texts, "x")) == bool(not numbers and parsed.notna().all())


def test_text_reads_of_a_file_with_a_separator_ending_every_row_are_pandas_str_reads(tmp_path):
    """Text read as ``object`` then ``str``: the frame pandas gives with ``dtype=str`` (values,
    dtypes, columns), and no ParserWarning said (nor filtered), without the lock."""
    src = tmp_path / "t.csv"
    src.write_text("t,v,w\n2020-01-01,1,\n2020-01-02,,x\n\"2020-01-03\",3,4\n".replace("\n", ",\n").replace("w,", "w", 1))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        ref = pd.read_csv(src, sep=",", index_col=False, dtype=str, keep_default_na=False)
    assert any(issubclass(w.category, pd.errors.ParserWarning) for w in said)  # what was silenced
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning said would fail the read
        cells = _finishes_while_held(lambda: text_cells(str(src), ","))
        table = _finishes_while_held(lambda: tsio._read_table(str(src), ",", dtype=str, keep_default_na=False))
    pd.testing.assert_frame_equal(cells, ref)
    pd.testing.assert_frame_equal(table, ref)


def test_dates_that_could_be_day_or_month_first_are_said_once_by_a_read(tmp_path):
    """The read's own check (``warn=False``) neither says it nor counts it said: under the old
    filter the check counted it said, so reading the records never said it."""
    first = pd.date_range("2015-01-01", periods=30, freq="MS")
    for name, dates in (("a.csv", first), ("b.csv", first + pd.DateOffset(years=5))):
        pd.DataFrame({"when_s55j": dates.strftime("%m/%d/%Y"), "v": np.arange(30.0)}).to_csv(
            tmp_path / name, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ingest("timeseries", [str(tmp_path / "a.csv")], str(tmp_path / "a.zarr"), progress=False,
               verbose=False, time_column="when_s55j")
    dom = get_domain("timeseries")(RecordStore(str(tmp_path / "a.zarr")).schema, time_column="when_s55j")
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        dom.read_records(str(tmp_path / "b.csv"))
    assert sum("could be day or month first" in str(w.message) for w in said) == 1
