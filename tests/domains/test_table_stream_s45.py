"""A large table is ingested column by column (``domains/tabular/streaming.py``) into the very
store the whole-file ingest writes. Reference: the whole-file ingest of the same file (the
path every table took before), compared array by array, attribute by attribute, with the
same report and warnings. The streamed path is forced on small tables by lowering its
threshold, and made to meet many blocks and row groups by lowering their sizes."""

from __future__ import annotations

import gzip
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from domains.tabular import spill, streaming
from domains.tabular.reading import read_table
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import DataError


def _arrays(group: zarr.Group, prefix: str = "") -> dict[str, np.ndarray]:
    out = {}
    for key, member in group.members():
        if isinstance(member, zarr.Group):
            out.update(_arrays(member, f"{prefix}{key}/"))
        else:
            out[prefix + key] = member[...]
    return out


def _attrs(path: Path) -> str:
    attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    for block in attrs.values():
        if isinstance(block, dict) and isinstance(block.get("provenance"), dict):
            block["provenance"].pop("created_unix", None)
    return json.dumps(attrs, sort_keys=True, default=str)


def _ingest(monkeypatch, path: Path, out: Path, stream: bool, **options):
    """Ingest ``path`` (streamed or whole); the report, the warnings given, and whether the
    streamed path ran."""
    monkeypatch.setattr(streaming, "STREAM_BYTES", 0 if stream else 1 << 62)
    ran = []
    real = streaming._survey

    def spy(*a, **k):
        ran.append(True)
        return real(*a, **k)

    monkeypatch.setattr(streaming, "_survey", spy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = ingest("tabular", str(path), str(out), progress=False, verbose=False, **options)
    monkeypatch.setattr(streaming, "_survey", real)
    return report, [str(w.message) for w in caught], bool(ran)


def assert_same_store(monkeypatch, tmp_path: Path, path: Path, block: int = 256, batch: int = 1024,
                      **options) -> Path:
    """Ingest ``path`` whole and streamed (in blocks of ``block`` bytes, row groups of ``batch``
    bytes of cells) and check that the stores, reports and warnings are the same."""
    whole, streamed = tmp_path / "whole.zarr", tmp_path / "streamed.zarr"
    rep_a, said_a, ran_a = _ingest(monkeypatch, path, whole, False, **options)
    monkeypatch.setattr(spill, "BLOCK_BYTES", block)
    monkeypatch.setattr(spill, "BATCH_BYTES", batch)
    monkeypatch.setattr(streaming, "WRITE_ROWS", 7)  # records written in many small blocks
    rep_b, said_b, ran_b = _ingest(monkeypatch, path, streamed, True, **options)
    assert not ran_a and ran_b
    a = _arrays(zarr.open_group(str(whole), mode="r"))
    b = _arrays(zarr.open_group(str(streamed), mode="r"))
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert _attrs(whole) == _attrs(streamed)
    assert rep_a.warnings == rep_b.warnings
    assert dict(rep_a.skipped) == dict(rep_b.skipped)
    assert (rep_a.records, rep_a.tokens) == (rep_b.records, rep_b.tokens)
    assert said_a == said_b
    return whole


def _sklearn(name: str) -> pd.DataFrame:
    from sklearn import datasets

    data = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = data.frame.copy()
    frame["target"] = np.asarray(data.target_names)[data.target.to_numpy()]  # a text column
    return frame


@pytest.mark.parametrize("name", ["wine", "breast_cancer"])
def test_sklearn_tables_stream_into_the_same_store(monkeypatch, tmp_path, name):
    frame = _sklearn(name)
    rng = np.random.default_rng(0)
    frame = frame.mask(rng.random(frame.shape) < 0.05)  # holes
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    store = assert_same_store(monkeypatch, tmp_path, path, block=1024)
    assert len(RecordStore(str(store))) == len(frame)


@pytest.mark.parametrize("name", ["anes96", "fair", "heart", "statecrime"])
def test_statsmodels_tables_stream_into_the_same_store(monkeypatch, tmp_path, name):
    import importlib

    frame = importlib.import_module(f"statsmodels.datasets.{name}").load_pandas().data
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=name == "statecrime")  # state names: an identifier column
    assert_same_store(monkeypatch, tmp_path, path, block=512)


def _messy(rows: int = 300) -> str:
    """A CSV with what real files hold, each thing also in the last rows (the last block)."""
    rng = np.random.default_rng(1)
    lines = ["id,x,n,grade,late,code,when,flag,note,mostly_numbers"]
    for i in range(rows):
        x = "" if i % 17 == 0 else "." if i % 23 == 0 else f"{rng.normal():.4f}"
        n = str(int(rng.integers(0, 50)))
        grade = "ABC"[i % 3]
        late = f"{rng.normal():.2f}" if i < rows - 3 else "oops"  # numbers, then text at the end
        code = f"0{int(rng.integers(1000, 9999))}"
        when = f"2020-01-{1 + i % 28:02d}"
        flag = "" if i % 11 == 0 else ("true" if i % 2 else "false")
        note = '"two\nlines"' if i in (5, rows - 2) else '"a, b"' if i % 7 == 0 else "plain"
        numbers = f"{i}" if i < rows - 1 else "2.5"  # integers, then one float at the end
        lines.append(",".join([f"r{i}", x, n, grade, late, code, when, flag, note, numbers]))
        if i in (3, 150, rows - 4):
            lines.append("1,2,3")  # ragged
        if i in (40, rows - 5):
            lines.append(",,,,,,,,,")  # a row with no value
    lines[-1] = lines[-1].replace(",C,", ",Z,")  # a category seen only in the last row
    return "\n".join(lines) + "\n"


def test_messy_csv_streams_into_the_same_store(monkeypatch, tmp_path):
    path = tmp_path / "messy.csv"
    path.write_text(_messy())
    store = assert_same_store(monkeypatch, tmp_path, path, block=200, batch=500)
    # the file holds what the test means it to (read whole): text at the end of a column of
    # numbers, a float after integers, a category of the last row, ragged and empty rows
    res = read_table(str(path))
    assert res.frame["late"].dtype != np.float64 and res.frame["mostly_numbers"].dtype == np.float64
    assert res.ragged_rows == 3 and res.frame["note"].tolist()[5] == "two\nlines"
    schema = RecordStore(str(store)).schema
    kinds = {c["name"]: c["kind"] for c in schema["columns"]}
    assert kinds["late"] == "numeric" and "id" in schema["dropped"]
    grades = res.frame["grade"].tolist()
    assert grades[-1] == "Z" and "Z" not in grades[:-1]


@pytest.mark.parametrize("options", [{}, {"missing_value": -999}, {"exclude": ["n"], "max_categories": 2},
                                     {"columns": {"n": "categorical", "code": "exclude"}},
                                     {"validation_fraction": 0.5, "num_bins": 4}])
def test_ingest_options_hold_in_the_streamed_path(monkeypatch, tmp_path, options):
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"n": rng.integers(0, 6, 400), "x": np.round(rng.normal(size=400), 3),
                          "c": rng.choice(["u", "v", "w", "x"], 400, p=[0.4, 0.3, 0.2, 0.1])})
    frame.loc[rng.random(400) < 0.1, "x"] = -999
    frame["code"] = [f"{i:05d}" for i in range(400)]
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    assert_same_store(monkeypatch, tmp_path, path, **options)


def test_decimal_commas_marks_and_blanks_stream_into_the_same_store(monkeypatch, tmp_path):
    rng = np.random.default_rng(3)
    rows = ["a;b;c;d"]
    for i in range(200):
        a = f"{rng.normal():.3f}".replace(".", ",")
        b = " " if i % 13 == 0 else "?" if i % 19 == 0 else f"{rng.integers(0, 9)}"
        c = "-" if i % 7 == 0 else f"{rng.normal():.2f}".replace(".", ",")
        d = "x" if i % 2 else "y"
        rows.append(";".join([a, b, c, d]))
    path = tmp_path / "comma.csv"
    path.write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode())  # a BOM, CRLF line ends
    assert_same_store(monkeypatch, tmp_path, path, block=128, delimiter=";")
    res = read_table(str(path), ";")
    assert res.decimal == "," and res.frame["b"].isna().sum() > 0 and res.frame["c"].dtype == np.float64


def test_unusual_layouts_stream_into_the_same_store(monkeypatch, tmp_path):
    # a pandas row index (blank name over values), a separator at the end of every line
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x": rng.normal(size=120), "g": rng.choice(["a", "b"], 120)})
    path = tmp_path / "index.csv"
    text = frame.to_csv(index=True)
    path.write_text("\n".join(line + "," for line in text.splitlines()) + "\n")
    assert_same_store(monkeypatch, tmp_path, path, block=128)
    # one column, with empty lines (its missing cells)
    one = tmp_path / "one.csv"
    one.write_text("v\n" + "\n".join("" if i % 9 == 0 else f"{i % 5}.5" for i in range(150)) + "\n")
    assert_same_store(monkeypatch, tmp_path / "b", one, block=64)


def test_compressed_and_parquet_files_stream_into_the_same_store(monkeypatch, tmp_path):
    frame = _sklearn("wine")
    frame["when"] = pd.date_range("2020-01-01", periods=len(frame), freq="D")
    frame["ok"] = pd.array([True, False, None] * (len(frame) // 3) + [True] * (len(frame) % 3), dtype="boolean")
    frame["kind"] = pd.Categorical(np.where(frame["alcohol"] > 13, "strong", "light"))
    gz = tmp_path / "wine.csv.gz"
    with gzip.open(gz, "wt") as fh:
        frame.to_csv(fh, index=False)
    assert_same_store(monkeypatch, tmp_path / "gz", gz, block=1024)
    pq = tmp_path / "wine.parquet"
    frame.to_parquet(pq)
    assert_same_store(monkeypatch, tmp_path / "pq", pq)


def test_a_parquet_file_with_an_index_is_read_whole(tmp_path):
    frame = pd.DataFrame({"x": [1.0, 2.0]}, index=pd.Index(["a", "b"], name="k"))
    frame.to_parquet(tmp_path / "i.parquet")
    frame.reset_index(drop=True).to_parquet(tmp_path / "plain.parquet")
    assert not streaming._plain_parquet(str(tmp_path / "i.parquet"))
    assert streaming._plain_parquet(str(tmp_path / "plain.parquet"))


@pytest.mark.parametrize("text", [
    "a,b\nx,y\n1,2\na,b\n3,4\n",  # the header repeated (files joined)
    "Report 2020,,\na,b,c\n1,2,3\n",  # a title above the header
    "a,a\n1,2\n3,4\n",  # a name twice
    "a,b\n1,\xe9\n",  # not UTF-8
    "",  # empty
    "a,b\n",  # a header, no row
    "a,b\n1,2,3\n4,5,6\n",  # every row ragged
])
def test_bad_files_are_refused_alike(monkeypatch, tmp_path, text):
    path = tmp_path / "bad.csv"
    path.write_bytes(text.encode("latin-1"))
    said = []
    for stream in (False, True):
        monkeypatch.setattr(streaming, "STREAM_BYTES", 0 if stream else 1 << 62)
        monkeypatch.setattr(spill, "BLOCK_BYTES", 64)
        with pytest.raises(DataError) as err:
            ingest("tabular", str(path), str(tmp_path / f"s{stream}.zarr"), progress=False, verbose=False)
        said.append(str(err.value))
        assert not (tmp_path / f"s{stream}.zarr").exists()
    assert said[0] == said[1]


def test_a_quoted_line_end_at_a_block_boundary_is_one_cell(tmp_path):
    """pyarrow's default reader cut a row at a line end inside quotes where one of its 1 MiB
    blocks ended, so the row was read as two ragged rows (skipped) or failed to parse. Reference:
    Python's csv module (pandas), which reads the cell whole."""
    rows, size, i = ["a,b,c"], 6, 0
    while size < (1 << 20) - 20:  # the quoted cell spans the first block's end
        row = f"{i},{i * 0.5},w"
        rows.append(row)
        size += len(row) + 1
        i += 1
    rows.append('5,"' + "x" * 40 + "\n" + "y" * 40 + '",3')
    rows += [f"{j},{j},z" for j in range(100)]
    path = tmp_path / "q.csv"
    path.write_text("\n".join(rows) + "\n")
    res = read_table(str(path))
    expect = pd.read_csv(path, engine="python")
    assert res.ragged_rows == 0 and len(res.frame) == len(expect)
    assert res.frame["b"].tolist()[i] == expect["b"].tolist()[i] == "x" * 40 + "\n" + "y" * 40


def test_the_threshold_picks_large_single_files(monkeypatch, tmp_path):
    small = tmp_path / "s.csv"
    small.write_text("a\n1\n")
    monkeypatch.setattr(streaming, "STREAM_BYTES", 4)
    assert streaming.streams([str(small)])
    assert streaming.streams([str(small), str(small)])  # several files: counted together
    monkeypatch.setattr(streaming, "STREAM_BYTES", 1 << 20)
    assert not streaming.streams([str(small)])


def test_a_full_disk_while_spilling_is_one_line_naming_the_folder(monkeypatch, tmp_path):
    import errno

    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,x\n2,y\n")

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(streaming, "STREAM_BYTES", 0)
    monkeypatch.setattr(streaming, "spill_text", full)
    with pytest.raises(DataError, match="no room left .* set TMPDIR") as err:
        ingest("tabular", str(path), str(tmp_path / "s.zarr"), progress=False, verbose=False)
    assert str(path) in str(err.value) and not (tmp_path / "s.zarr").exists()


def test_text_columns_are_counted_without_a_python_object_a_cell():
    """``column_entry`` counts a ``str`` column's values and its share of numbers from the
    column as it is (not a Python object per cell): the same counts, in the same order (ties
    too: they decide which categories ``max_categories`` keeps), and the same share.
    Reference: the expressions used before, on every cell."""
    from domains.tabular.schema import _category_counts, _json_value, _number_share, numeric_values

    pool = np.array(["1", "2.5", "abc", "nan", "inf", "1e5", " 7 ", "0x10", "1_000", "+3", "True",
                     "12345678901234567890", "1,5", " ", "1e400", ".5", "x", "y", "z"])
    for seed in range(30):
        rng = np.random.default_rng(seed)
        k = int(rng.integers(1, len(pool)))
        s = pd.Series(pd.array(rng.choice(pool, k, replace=False)[rng.integers(0, k, 500)], dtype="str"))
        s[rng.random(500) < 0.1] = None
        expect = s.dropna().map(_json_value).value_counts(sort=True)
        got = _category_counts(s)
        assert list(got.index) == list(expect.index) and list(got) == list(expect)
        present = s.dropna()
        assert _number_share(present) == (~np.isnan(numeric_values(present))).mean()
