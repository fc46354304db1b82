"""What a table's cells mean as a downstream reader sees them: decimal-looking codes (``3.1`` /
``3.10``) stay codes; a Parquet file is written back with its own Arrow schema; a DataFrame
with ISO date text is read as the dates its run's schema says; a set named ``NA`` is that
set; a .zip member is streamed; a decimal-comma number column is no date column. References:
hand-made files and values, pyarrow's own reading of the input, the in-memory reading path."""

from __future__ import annotations

import decimal
import io
import tracemalloc
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from domains.tabular.domain import TabularDomain
from domains.tabular.reading import read_table
from domains.tabular.schema import encode_frame, infer_schema


def test_decimal_codes_that_collapse_as_numbers_stay_codes(tmp_path):
    rng = np.random.default_rng(7)
    ver = rng.choice(["3.1", "3.10", "3.9"], 60)
    path = tmp_path / "v.csv"
    path.write_text("py,y\n" + "".join(f"{v},{i}\n" for i, v in enumerate(ver)))
    frame = read_table(str(path)).frame
    assert list(frame["py"].astype(object)) == list(ver)  # as written, not 3.1 == 3.10
    schema, said = infer_schema(frame, np.ones(len(frame), bool))
    col = schema["columns"][0]
    assert col["kind"] == "categorical" and col["categories"] == ["3.1", "3.10", "3.9"]
    assert any("'3.1' and '3.10' are one number" in m for m in said)
    # measurements that merely repeat a spelling are numbers still
    plain = tmp_path / "m.csv"
    plain.write_text("m\n" + "".join(f"{v:.2f}\n" for v in rng.normal(size=60)))
    assert read_table(str(plain)).frame["m"].dtype == np.float64


def test_parquet_output_keeps_the_input_schema(tmp_path):
    n = 40
    rng = np.random.default_rng(5)
    holes = rng.random(n) < 0.2
    table = pa.table({
        "key": pa.array([f"k{i}" for i in range(n)], pa.string()),
        "dec": pa.array([None if h else decimal.Decimal(f"{v:.2f}") for v, h in zip(rng.normal(size=n) * 100, holes)],
                        pa.decimal128(10, 2)),
        "dict": pa.array(rng.choice(["lo", "hi"], n).tolist()).dictionary_encode(),
        "y": pa.array(rng.normal(size=n)),
    }, metadata={b"source": b"my-pipeline v1"})
    src = tmp_path / "a.parquet"
    pq.write_table(table, src)
    domain = TabularDomain.from_frame(read_table(str(src)).frame, {"exclude": ["key"]})
    frame = domain.read_input(str(src))
    from domains.tabular.schema import fill_column

    filled = frame.copy()  # a fill as the model gives it: a float
    filled["dec"] = fill_column(frame["dec"], [1.2345] * int(holes.sum()), holes)
    out = tmp_path / "o.parquet"
    domain.write_output(filled, str(out))
    got = pq.read_table(out)
    assert got.schema.equals(table.schema, check_metadata=False)
    assert got.schema.metadata[b"source"] == b"my-pipeline v1"
    assert got.column("dec").to_pylist()[int(np.flatnonzero(holes)[0])] == decimal.Decimal("1.23")
    kept = ~holes
    assert [v for v, k in zip(got.column("dec").to_pylist(), kept) if k] == \
        [v for v, k in zip(table.column("dec").to_pylist(), kept) if k]


def test_iso_date_text_reads_as_the_dates_of_the_schema(tmp_path):
    n = 30
    rng = np.random.default_rng(0)
    text = pd.DataFrame({"day": pd.date_range("2021-01-01", periods=n).strftime("%Y-%m-%d"),
                         "x": rng.normal(size=n).round(3)})
    path = tmp_path / "d.csv"
    text.to_csv(path, index=False)
    read = read_table(str(path)).frame  # dates, as ingest reads them
    schema, _ = infer_schema(read, np.ones(n, bool))
    assert schema["columns"][0]["datetime"]
    as_dates = encode_frame(read, schema)
    as_text = encode_frame(pd.read_csv(path), schema)  # pandas keeps the dates as text
    assert np.array_equal(as_dates.num, as_text.num) and np.array_equal(as_dates.observed, as_text.observed)
    from domains.tabular.datetext import date_fills
    ns = pd.Timestamp("2021-01-05 07:00").value
    assert date_fills([ns], ["2021-01-01", "2021-01-02"]) == ["2021-01-05"]
    assert date_fills([ns], ["2021-01-01T10:30"]) == ["2021-01-05T07:00"]


def test_a_set_named_na_is_that_set(tmp_path):
    from domains.sets.io import read_csv_frame

    path = tmp_path / "s.csv"
    path.write_text("set,x,y\nA,0,0\nA,1,1\nNA,0,1\nnull,1,2\n")
    frame = read_csv_frame(str(path), None, "set")
    assert list(frame["set"]) == ["A", "A", "NA", "null"]
    holed = tmp_path / "h.csv"
    holed.write_text("set,x,y\nA,0,0\n,1,1\n")
    assert read_csv_frame(str(holed), None, "set")["set"].isna().tolist() == [False, True]


def test_zip_member_is_streamed_not_read_whole(tmp_path):
    from encoderkit.data.textfiles import first_lines, open_text

    body = "a,b\n" + "1.25,2.5\n" * 2_000_000  # 18 MB of text, a small archive
    path = tmp_path / "big.csv.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.csv", body)
    tracemalloc.start()
    lines = first_lines(path, 3)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert lines == body.splitlines()[:3]
    assert peak < 4 << 20, peak  # whole, the member took 18 MB
    with open_text(path) as fh:
        assert fh.read() == io.StringIO(body, newline="").read()


def test_decimal_comma_numbers_are_no_dates(tmp_path):
    from encoderkit.impute import dated_column

    path = tmp_path / "small.csv"
    path.write_text("grp;x;z\na;20,3;40,85\nb;22,5;45,92\na;NA;44,41\nb;21,1;42,18\na;19,7;39,07\n"
                    "b;23,4;46,77\na;20,9;41,52\nb;18,8;37,64\n")
    assert dated_column(str(path), ";") is None
    dated = tmp_path / "dated.csv"
    dated.write_text("grp;when;z\na;2021-01-03;40,85\nb;2021-02-07;45,92\na;2021-03-01;44,41\n")
    assert dated_column(str(dated), ";") == "when"  # a date column is still found
