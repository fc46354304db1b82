"""Unusual ``.npy`` / ``.npz`` files and time columns of a series file: what a valid one
reads as, and the one line (naming the file, the member or row, and the problem) that
refuses a bad one at ingest, at read-back (infill / predict / embed) and in ``impute``.
Found by an audit of the command line over such files."""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np
import pytest

from domains.timeseries import TimeSeriesDomain
from domains.timeseries.io import read_csv, read_numpy
from encoderkit import cli
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import DataError
from encoderkit.impute import impute


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=arr.dtype.hasobject)
    return buf.getvalue()


def _npz(path, members: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return str(path)


def _ingest(path: str, out, **options) -> RecordStore:
    ingest("timeseries", [path], str(out), progress=False, verbose=False, **options)
    return RecordStore(str(out))


def _refusals(path: str, tmp_path) -> list[str]:
    """The messages of every reader of a series file: ingest, the read-back of infill /
    predict / embed, and the reader ingest uses; each must be a ``DataError``."""
    msgs = []
    for read in (lambda: _ingest(path, tmp_path / "s.zarr"),
                 lambda: TimeSeriesDomain({}).read_records(path),
                 lambda: read_numpy(path)):
        with pytest.raises(DataError) as e:
            read()
        msgs.append(str(e.value))
    assert not (tmp_path / "s.zarr").exists()  # nothing half-written
    return msgs


def _one_line(msg: str, path: str, *parts: str, absent: tuple[str, ...] = ()) -> None:
    assert "\n" not in msg and path in msg, msg
    for p in parts:
        assert p in msg, msg
    for p in absent:
        assert p not in msg, msg


# ------------------------------------------------------------------ .npz members
GOOD = _npy_bytes(np.arange(6.0))
TRUNCATED = _npy_bytes(np.arange(100.0))[:300]
BAD_HEADER = b"\x93NUMPY\x01\x00\x10\x00{'descr': <f8', }\n"
_head = io.BytesIO()
np.lib.format.write_array_header_1_0(_head, {"descr": "<f8", "fortran_order": False, "shape": (10**15,)})
HUGE = _head.getvalue() + bytes(8)  # a damaged header declaring 8 PB


@pytest.mark.parametrize("members, name, what", [
    ({"a.txt": b"hello"}, "a.txt", "is not a .npy array"),                  # not an array at all
    ({"a.npy": b"hello world"}, "a.npy", "is not a .npy array"),            # named .npy, is not one
    ({"ok.npy": GOOD, "b.npy": TRUNCATED}, "b.npy", "truncated"),
    ({"a.npy": BAD_HEADER}, "a.npy", "not a valid .npy array"),
    ({"a.npy": HUGE}, "a.npy", "truncated"),
    ({"a.npy": _npy_bytes(np.array([np.ones(3), np.ones(4)], dtype=object))}, "a.npy",
     "separate arrays of one .npz"),
])
def test_a_bad_npz_member_is_named(tmp_path, members, name, what):
    """``NpzFile[key]`` gives the raw bytes of a member that is no .npy array: ingest and
    impute failed with "'bytes' object has no attribute 'dtype'" (a bug report); a
    truncated or object member was reported in numpy's words, without the member."""
    path = _npz(tmp_path / "z.npz", members)
    for msg in _refusals(path, tmp_path):
        _one_line(msg, path, f"member {name!r}", what)


def test_a_bad_npz_member_is_one_line_from_the_command_line(tmp_path, capsys):
    path = _npz(tmp_path / "z.npz", {"a.txt": b"hello"})
    for argv in (["ingest", "domain=timeseries", f"input={path}", f"output={tmp_path / 's.zarr'}"],
                 ["impute", f"input={path}", f"output={tmp_path / 'o.npz'}"]):
        assert cli.main(argv) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err and f"{path}: member 'a.txt' is not a .npy array" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.npz"]


def test_valid_npz_files_read_as_written(tmp_path):
    """The checks leave valid files as numpy reads them: keys, shapes, values, compressed
    too, and a member whose name has no .npy suffix but holds an array."""
    arrays = {"a": np.arange(5.0), "b": np.arange(18, dtype=np.int32).reshape(2, 9),
              "c": np.zeros((3, 1, 4), dtype=np.float16), "d": np.array([True, False, True])}
    np.savez(tmp_path / "s.npz", **arrays)
    np.savez_compressed(tmp_path / "c.npz", **arrays)
    raw = _npz(tmp_path / "r.npz", {"x": _npy_bytes(np.arange(3.0))})
    for path in (str(tmp_path / "s.npz"), str(tmp_path / "c.npz")):
        back = TimeSeriesDomain({}).read_input(path)
        assert list(back) == list(arrays)
        for k, a in arrays.items():
            assert back[k].dtype == a.dtype and np.array_equal(back[k], a)
        series = read_numpy(path)
        base = path.rsplit("/", 1)[1]
        assert [s.id for s in series] == [f"{base}:{k}" for k in ("a", "b", "c[0]", "c[1]", "c[2]", "d")]
        assert series[1].values.tolist() == arrays["b"].astype(float).tolist()
        assert series[5].values.tolist() == [[1.0, 0.0, 1.0]]
    assert [s.values.tolist() for s in read_numpy(raw)] == [[[0.0, 1.0, 2.0]]]
    assert list(TimeSeriesDomain({}).read_input(raw)) == ["x"]


# ------------------------------------------------------------------ dtypes
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_complex_series_are_refused(tmp_path, dtype):
    """A complex array was read as its real part (numpy's ComplexWarning, exit 0): the
    imaginary half of the data was dropped without a word."""
    x = (np.sin(np.arange(50.0)) + 1j * np.arange(50)).astype(dtype)
    x[3] = np.nan
    np.save(tmp_path / "c.npy", x)
    np.savez(tmp_path / "c.npz", ok=np.arange(5.0), z=x)
    for path, label in ((str(tmp_path / "c.npy"), "c.npy"), (str(tmp_path / "c.npz"), "member 'z.npy'")):
        for msg in _refusals(path, tmp_path):
            _one_line(msg, path, label, f"dtype {np.dtype(dtype)}", "complex", "x.real")
    # the Python API refuses it as the files are refused
    domain = TimeSeriesDomain({})
    import pandas as pd

    for data in (x, {"z": x}, [x], pd.DataFrame({"a": x})):
        with pytest.raises(DataError, match=r"complex.*x\.real"):
            domain.to_records(data)
    assert np.asarray(domain.to_records(x.real)[0]["values"]).tolist() \
        == pytest.approx(x.real.astype(np.float32).tolist(), nan_ok=True)  # its real part reads
    with pytest.raises(DataError, match="complex"):
        TimeSeriesDomain.ingest_arrays([x], str(tmp_path / "a.zarr"))
    assert not (tmp_path / "a.zarr").exists()


def test_impute_refuses_a_complex_file_before_any_work(tmp_path):
    np.save(tmp_path / "c.npy", np.arange(200.0) + 1j * np.arange(200))
    with pytest.raises(DataError) as e:
        impute(str(tmp_path / "c.npy"), str(tmp_path / "o.npy"), progress=False)
    _one_line(str(e.value), str(tmp_path / "c.npy"), "complex128")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npy"]


# ------------------------------------------------------------------ damaged .npy
DAMAGED: dict[str, tuple[bytes, tuple[str, ...]]] = {  # content, what the message says
    "text": (b"time,value\n1,2\n", ("not a .npy or .npz file",)),
    "truncated": (_npy_bytes(np.arange(200.0))[:500], ("truncated", "shape (200,)", "1600 bytes")),
    "header": (BAD_HEADER, ("not a valid .npy array",)),
    "huge": (HUGE, ("truncated", "but only 8 bytes follow")),  # was "too large to read into memory"
    "empty": (b"", ("empty",)),
    "pickle": (pickle.dumps([1.0, 2.0]), ("a Python pickle", "never loaded")),
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_npy_is_not_told_to_avoid_pickle(tmp_path, case):
    """Every ValueError of np.load was reported as "cannot read without pickle ...; store
    series of unequal lengths as separate arrays": wrong advice for a text file named .npy
    or a file cut short (numpy itself calls any file without the .npy signature pickled)."""
    content, parts = DAMAGED[case]
    path = str(tmp_path / "x.npy")
    (tmp_path / "x.npy").write_bytes(content)
    for msg in _refusals(path, tmp_path):
        _one_line(msg, path, *parts, absent=("unequal lengths", "allow_pickle"))


def test_an_object_npy_still_gets_the_unequal_lengths_advice(tmp_path):
    np.save(tmp_path / "o.npy", np.array([np.ones(3), np.ones(4)], dtype=object), allow_pickle=True)
    path = str(tmp_path / "o.npy")
    for msg in _refusals(path, tmp_path):
        _one_line(msg, path, "holds an object array", "pickle", "separate arrays of one .npz (np.savez(")


def test_valid_npy_files_read_as_written(tmp_path):
    arrays = [np.arange(7.0), np.arange(12, dtype=np.int64).reshape(3, 4),
              np.asfortranarray(np.arange(12.0).reshape(2, 6)), np.arange(8.0).astype(">f8"),
              np.ones((2, 1, 5), dtype=np.float32)]
    for i, a in enumerate(arrays):
        path = str(tmp_path / f"a{i}.npy")
        np.save(path, a)
        back = TimeSeriesDomain({}).read_input(path)
        assert back.dtype == a.dtype and np.array_equal(back, a)
        want = list(a) if a.ndim == 3 else [a.reshape(1, -1) if a.ndim == 1 else a]  # [C, L] each
        assert [s.values.tolist() for s in read_numpy(path)] == [w.astype(float).tolist() for w in want]
    with open(tmp_path / "v2.npy", "wb") as fh:  # format 2.0 (a header over 64 KiB long)
        np.lib.format.write_array(fh, np.arange(4.0), version=(2, 0))
    assert read_numpy(str(tmp_path / "v2.npy"))[0].values.tolist() == [[0.0, 1.0, 2.0, 3.0]]


# ------------------------------------------------------------------ time zones
def _csv(tmp_path, rows: list[str], name: str = "t.csv") -> str:
    (tmp_path / name).write_text("time,v\n" + "".join(f"{r}\n" for r in rows))
    return str(tmp_path / name)


def test_times_with_different_utc_offsets_are_ordered_as_instants(tmp_path):
    """A column whose cells all carry a UTC offset names one instant per row (a logger's
    local time over a change of daylight saving time has two offsets): ordered as
    instants. pandas refused it with "Mixed timezones detected. Pass utc=True ..."."""
    rows = ["2020-01-01T10:00:00+02:00,1",   # 08:00 UTC
            "2020-01-01T08:30:00+00:00,2",   # 08:30 UTC
            "2020-01-01T08:15:00+01:00,3"]   # 07:15 UTC; as text it would sort before row 2
    path = _csv(tmp_path, rows)
    assert [s.values.tolist() for s in read_csv(path, time_column="time")] == [[[3.0, 1.0, 2.0]]]
    store = _ingest(path, tmp_path / "s.zarr", time_column="time")
    assert np.asarray(store[0]["values"]).tolist() == [3.0, 1.0, 2.0]
    back = TimeSeriesDomain(store.schema).read_records(path)  # infill / predict order the same
    assert np.asarray(back[0]["values"]).tolist() == [3.0, 1.0, 2.0]
    # one instant written in two offsets is one time twice
    twice = _csv(tmp_path, ["2020-01-01T10:00:00+02:00,1", "2020-01-01T08:00:00+00:00,2"], "d.csv")
    with pytest.raises(DataError, match="appears twice"):
        read_csv(twice, time_column="time")


@pytest.mark.parametrize("rows, line, cell", [
    (["2020-01-01T00:00:00+00:00,1", "2020-01-02T00:00:00,2", "2020-01-03T00:00:00+05:00,3"],
     3, "2020-01-02T00:00:00"),
    (["2020-01-01,1", "2020-01-02,2", "2020-01-03T00:00:00+05:00,3"], 4, "2020-01-03T00:00:00+05:00"),
])
def test_times_with_and_without_a_zone_are_refused_at_the_row(tmp_path, rows, line, cell):
    """A time without an offset beside times with one names no instant: which comes first
    is a guess, so the first row whose zone differs from the first row's is named."""
    path = _csv(tmp_path, rows)
    with pytest.raises(DataError) as e:
        _ingest(path, tmp_path / "s.zarr", time_column="time")
    with pytest.raises(DataError) as back:
        TimeSeriesDomain({"time_column": "time"}).read_records(path)
    assert not (tmp_path / "s.zarr").exists()
    for msg in (str(e.value), str(back.value)):
        _one_line(msg, path, "time column 'time'", f"line {line}", repr(cell), "UTC offset",
                  absent=("Mixed timezones", "Pass utc=True"))


def test_times_in_one_zone_or_none_read_as_before(tmp_path):
    for rows in (["2020-01-02T00:00:00+05:00,2", "2020-01-01T00:00:00+05:00,1"],
                 ["2020-01-02,2", "2020-01-01,1"], ["2,2", "1,1"]):
        path = _csv(tmp_path, rows)
        assert [s.values.tolist() for s in read_csv(path, time_column="time")] == [[[1.0, 2.0]]]
