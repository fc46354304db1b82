"""The series domain's ``delimiter`` and ``decimal`` options (domains/timeseries): a
``;``-separated file with decimal commas, as a spreadsheet in a German or French locale
writes it, ingested, read back, filled by ``encoderkit impute`` / ``infill`` and written
back with its own separator and decimal mark. References: the numbers written into the
files (known by construction) and the files' own text, byte for byte."""

from __future__ import annotations

import datetime
import re

import numpy as np
import pytest

from domains.timeseries import TimeSeriesDomain
from encoderkit.cli import main
from encoderkit.domain import IngestReport
from encoderkit.errors import DataError
from encoderkit.impute import infer_domain, series_column, time_column
from tests.domains.test_timeseries import ListWriter, zero_predict
from tests.test_impute import TINY

COMMA_NUMBER = r"-?\d+,\d+"


def comma_series(n: int = 96) -> tuple[list[str], list[tuple[float, float]]]:
    """The lines of a ``;`` file of two channels written ``20,10`` (two decimals, so pandas
    would rewrite ``20,10`` as ``20,1``), with a 6-day gap in ``temp`` and two holes in
    ``flow``; and the numbers written, as (temp, flow) per row (NaN: empty cell)."""
    t = np.arange(n)
    temp, flow = 20 + 5 * np.sin(t / 6), -3 + 2 * np.cos(t / 9)
    lines, numbers = ["date;temp;flow"], []
    for i in range(n):
        day = (datetime.date(2020, 1, 1) + datetime.timedelta(days=i)).isoformat()
        a = "" if 30 <= i < 36 else f"{temp[i]:.2f}"
        b = "" if i in (10, 70) else f"{flow[i]:.2f}"
        lines.append(f"{day};{a.replace('.', ',')};{b.replace('.', ',')}")
        numbers.append((float(a) if a else np.nan, float(b) if b else np.nan))
    return lines, numbers


def check_written_back(given: list[str], written: list[str], lo: float, hi: float) -> None:
    """``written`` is ``given`` with every empty cell filled by a number written with a
    decimal comma in [lo, hi], every other cell byte for byte, ``;``-separated."""
    assert len(written) == len(given) and written[0] == given[0]
    for g, w in zip(given[1:], written[1:]):
        cells, out = g.split(";"), w.split(";")
        assert len(out) == len(cells) and out[0] == cells[0], w
        for x, y in zip(cells[1:], out[1:]):
            if x:
                assert y == x, (g, w)
            else:
                assert re.fullmatch(COMMA_NUMBER, y), w
                assert lo <= float(y.replace(",", ".")) <= hi, w


# ------------------------------------------------------------------ ingest and read back
def test_ingest_reads_decimal_commas_and_the_schema_carries_the_delimiter_to_read_back(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("date;a;b\n2020-01-03;2,25;10\n2020-01-01;-0,5;\n2020-01-02;0,3915000806360837783;12\n")
    w = ListWriter()
    schema = TimeSeriesDomain.ingest([str(path)], w, IngestReport(), time_column="date", delimiter=";")
    assert schema["delimiter"] == ";" and "decimal" not in schema  # auto: resolved per file read
    want = np.array([[-0.5, 0.3915000806360837783, 2.25], [np.nan, 12, 10]])  # in time order
    np.testing.assert_array_equal(w.series(0), want.astype(np.float32))

    reader = TimeSeriesDomain(schema)  # as predict / embed / infill build it from the store
    assert reader.options["delimiter"] == ";" and reader.options["time_column"] == "date"
    frame = reader.read_input(str(path))
    assert reader.read_decimal == ","
    assert list(frame.columns) == ["date", "a", "b"] and list(frame["date"]) == ["2020-01-03", "2020-01-01",
                                                                                   "2020-01-02"]
    assert frame["a"].tolist() == [2.25, -0.5, 0.3915000806360837783]  # float64, parsed exactly
    assert frame["b"].isna().tolist() == [False, True, False] and frame["b"].dropna().tolist() == [10, 12]


def test_a_semicolon_file_read_by_its_name_is_refused_naming_the_option(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("date;a\n2020-01-01;2,25\n")
    with pytest.raises(DataError, match=r"semicolon-separated, but the file's name says comma-separated: "
                                        r"give delimiter=';'"):
        TimeSeriesDomain.ingest([str(path)], ListWriter(), IngestReport(), time_column="date")


@pytest.mark.parametrize("spelled", ["tab", "\\t", "\t"])
def test_a_tab_is_given_as_the_tabular_option_takes_it(tmp_path, spelled):
    path = tmp_path / "w.txt"  # a .txt is comma-separated by its name
    path.write_text("t\tx\n1\t1,5\n2\t\n3\t-3,25\n")
    w = ListWriter()
    schema = TimeSeriesDomain.ingest([str(path)], w, IngestReport(), time_column="t", delimiter=spelled)
    assert schema["delimiter"] == "\t"
    np.testing.assert_array_equal(w.series(0), [[1.5, np.nan, -3.25]])


def test_decimal_auto_keeps_a_file_of_points_and_each_mark_names_the_other_as_no_number(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("t;a;b\n1;2.5;1,5\n2;3.5;2,5\n")
    with pytest.raises(DataError, match=r"'1,5'.*column 'b'.*decimal=','"):
        TimeSeriesDomain.ingest([str(path)], ListWriter(), IngestReport(), time_column="t", delimiter=";")
    with pytest.raises(DataError, match=r"'2.5'.*column 'a'.*a point is no decimal mark"):
        TimeSeriesDomain.ingest([str(path)], ListWriter(), IngestReport(), time_column="t", delimiter=";",
                                decimal=",")
    w = ListWriter()
    path.write_text("t;a\n1;2.5\n2;\n3;1e3\n")  # points, no comma: auto reads them as written
    TimeSeriesDomain.ingest([str(path)], w, IngestReport(), time_column="t", delimiter=";")
    np.testing.assert_array_equal(w.series(0), [[2.5, np.nan, 1000.0]])


def test_write_output_writes_with_the_separator_and_decimal_mark_read(tmp_path):
    lines, numbers = comma_series(24)
    src, out = tmp_path / "w.csv", tmp_path / "out.csv"
    src.write_text("\n".join(lines) + "\n")
    reader = TimeSeriesDomain({"delimiter": ";", "time_column": "date"}, patch=2)
    frame = reader.read_input(str(src))
    np.testing.assert_array_equal(frame[["temp", "flow"]].to_numpy(np.float64), numbers)
    reader.write_output(reader.infill(frame, zero_predict), str(out))
    written = out.read_text().splitlines()
    assert written[0] == "date;temp;flow" and all(line.count(";") == 2 for line in written)
    assert re.fullmatch(COMMA_NUMBER, written[11].split(";")[2])  # flow's hole at row 10, filled
    assert "." not in "".join(line.split(";", 1)[1] for line in written[1:])  # no decimal point


# ------------------------------------------------------------------ impute and infill
def test_impute_finds_time_and_series_columns_with_the_delimiter_given(tmp_path):
    src = tmp_path / "sites.csv"
    src.write_text("date;level;site\n" + "".join(
        f"2020-01-0{d};{d},5;{s}\n" for s in "AB" for d in range(1, 5)))
    assert time_column(str(src)) is None and infer_domain(str(src), {}) == "tabular"  # one column at ','
    assert time_column(str(src), ";") == "date" and infer_domain(str(src), {"delimiter": ";"}) == "timeseries"
    assert series_column(str(src), "date", ";") == "site"  # level, written 1,5, is no text column


def test_impute_fills_a_semicolon_series_and_infill_writes_it_back_the_same_way(tmp_path, capsys):
    """``delimiter=;`` keeps a file whose first column is a date a series (it was a table,
    its date dropped as an identifier); the fills are written ``;``-separated with decimal
    commas and every observed cell as the file holds it. The kept run fills the same file
    through ``encoderkit infill``, which reads it back as the store was ingested."""
    lines, numbers = comma_series()
    src, out, again = tmp_path / "meteo.csv", tmp_path / "filled.csv", tmp_path / "infilled.csv"
    src.write_text("\n".join(lines) + "\n")
    lo, hi = np.nanmin(numbers) - 10, np.nanmax(numbers) + 10
    code = main(["impute", f"input={src}", f"output={out}", "delimiter=;", f"run_dir={tmp_path / 'run'}",
                 *TINY])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "impute timeseries: filled 8 cell(s)" in cap.out  # a series (progress=false: no stage lines)
    check_written_back(lines, out.read_text().splitlines(), lo, hi)

    code = main(["infill", f"checkpoint={tmp_path / 'run' / 'model0'}", f"input={src}", f"output={again}"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    check_written_back(lines, again.read_text().splitlines(), lo, hi)


# ------------------------------------------------------------------ refused values
@pytest.mark.parametrize("words, option, got", [
    (["delimiter=';;'"], "delimiter", "';;'"),
    (["decimal=x"], "decimal", "'x'"),
    (["delimiter=';'", "decimal=';'"], "decimal", "';'"),
])
def test_an_option_value_is_refused_with_a_one_line_error(tmp_path, capsys, words, option, got):
    src = tmp_path / "w.csv"
    src.write_text("t;x\n1;1,5\n2;2,5\n")
    code = main(["ingest", "domain=timeseries", f"input={src}", f"output={tmp_path / 's.zarr'}",
                 "time_column=t", "progress=false", *words])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1, err
    assert f"The '{option}' option of the timeseries domain must be" in err[0] and f"Got {got}" in err[0]
    assert not (tmp_path / "s.zarr").exists()
