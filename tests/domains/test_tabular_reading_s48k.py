"""The bare-``NA`` rule and the big-id rule of reading a table, mended (``domains/tabular``):

- ``words.py`` / ``quoting.py``: a bare ``NA`` is a value only where the column that holds it
  leaves its own holes empty and writes its text bare; an empty cell of another column is
  no evidence (R's ``write.table(quote=FALSE)``, a sheet typed by hand, a spreadsheet export
  with quoted amounts keep their ``NA`` / ``N/A`` missing);
- ``quoting.py``: the sample is split as a CSV reader splits it, so a pandas file whose every
  row holds a quoted cell (an address with a comma) is read for its quoting, not left out;
- ``bigids.py``: a column made ids by its leading digits alone is said with the option that
  models it as numbers (it may be amounts).

References: pandas' own reading of the same bytes (its default missing-value words, or only
an empty cell missing for a pandas-written file), the csv module's split, hand-computed
leading digits."""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domains.tabular.bigids import identifier_override, spread_ids
from domains.tabular.quoting import sample_quoting, split_rows
from domains.tabular.reading import read_table

N = 40


def _r_write_table_tsv() -> list[str]:
    """R's ``write.table(df, sep="\\t", quote=FALSE, row.names=FALSE)``: status ``NA`` is a
    missing cell, comment an empty string written empty, score complete."""
    return ["gene\tstatus\tcomment\tscore"] + [
        f"g{i}\t{['up', 'down', 'NA'][i % 3]}\t{'' if i % 5 == 0 else 'c' + str(i % 4)}\t{i * 1.5}"
        for i in range(N)]


def _sheet_typed() -> list[str]:
    """A sheet typed by hand: ``N/A`` / ``NA`` where the employer is unknown, some countries
    left blank, ages complete."""
    country = ["FR", "DE", "US"]
    employer = ["Acme", "N/A", "Initech", "NA"]
    return ["name,country,employer,age"] + [
        f"p{i},{'' if i % 6 == 0 else country[i % 3]},{employer[i % 4]},{20 + i}" for i in range(N)]


def _sheet_amounts() -> list[str]:
    """A spreadsheet export: amounts with a thousands mark (so quoted), ``NA`` for a missing
    amount, some names blank, quantities complete."""
    def amount(i: int) -> str:
        return "NA" if i % 5 == 0 else '"' + format(1000 + 137 * i * i, ",") + '.50"'
    return ["name,amount,qty"] + [f"{'' if i % 7 == 0 else 'n' + str(i % 9)},{amount(i)},{i}" for i in range(N)]


@pytest.mark.parametrize("name, lines, column, missing", [
    ("r_quote_false.tsv", _r_write_table_tsv(), "status", 13),
    ("sheet_typed.csv", _sheet_typed(), "employer", 20),
    ("sheet_amounts.csv", _sheet_amounts(), "amount", 8),
])
def test_an_empty_cell_of_another_column_keeps_na_missing(tmp_path, name, lines, column, missing):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    # pandas' default words: NA and N/A missing
    reference = pd.read_csv(path, sep="\t" if name.endswith(".tsv") else ",", dtype=str)[column]
    assert int(reference.isna().sum()) == missing
    res = read_table(str(path))
    got = res.frame[column].astype(object)
    assert got.isna().tolist() == reference.isna().tolist()  # was: every one kept as a category
    assert got[got.notna()].tolist() == reference[reference.notna()].tolist()
    assert res.kept_words == []
    said = [m for m in res.messages if f"column {column!r}" in m]
    assert said and all("read as missing" in m and "keep_words=[" in m for m in said)
    assert not any("kept as a value" in m for m in res.messages)


def test_a_number_column_na_keeps_every_na_missing_even_where_text_holes_are_empty(tmp_path):
    """pandas-like text (region's own holes empty, bare) beside a number column that writes
    ``NA``: R's way for numbers, so no ``NA`` of the file is a value."""
    path = tmp_path / "mixed.csv"
    rows = ["region,x"] + [f"{'' if i % 7 == 0 else r},{'NA' if i % 4 == 1 else i}"
                           for i, r in enumerate(["NA", "EU", "APAC"] * 10)]
    path.write_text("\n".join(rows) + "\n")
    reference = pd.read_csv(path, dtype={"region": str})
    res = read_table(str(path))
    assert res.frame["region"].isna().tolist() == reference["region"].isna().tolist()
    assert res.frame["x"].isna().tolist() == reference["x"].isna().tolist()
    assert int(res.frame["x"].isna().sum()) == 8 and res.kept_words == []


def _regions_with_addresses(path: Path, address: str) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 60
    region = rng.choice(np.array(["NA", "EU", "APAC", None], dtype=object), n, p=[0.3, 0.3, 0.3, 0.1])
    frame = pd.DataFrame({"region": region, "address": [address.format(i) for i in range(n)], "k": np.arange(n)})
    frame.to_csv(path, index=False)
    return frame


@pytest.mark.parametrize("address", ["{} Main St, Springfield", '{} "Main" St\nSpringfield'])
def test_pandas_file_whose_every_row_holds_a_quoted_cell_keeps_na(tmp_path, address):
    """Every row's address is quoted (a comma, or quotes and a line end): the rows were left
    out of the sample, so the file showed nothing and its category NA read as missing."""
    path = tmp_path / "p.csv"
    frame = _regions_with_addresses(path, address)
    assert all(line.count('"') >= 2 for line in path.read_text().splitlines()[1:] if "Main" in line)
    reference = pd.read_csv(path, dtype={"region": str}, keep_default_na=False, na_values={"region": [""]})
    res = read_table(str(path))
    got = res.frame["region"].astype(object)
    assert got.isna().tolist() == reference["region"].isna().tolist() == frame["region"].isna().tolist()
    assert int((got == "NA").sum()) == int((frame["region"] == "NA").sum()) == 17
    assert res.kept_words == ["NA"]
    assert res.frame["address"].tolist() == frame["address"].tolist()


def test_rows_are_split_as_the_csv_module_splits_them():
    rows = [["a", "", "x, y"], ['say "hi"', "line\nend", ""], ["", "", ""], ["NA", "crlf\r\nin", "z"]]
    for delimiter in (",", "\t", ";"):
        for ending in ("\n", "\r\n"):
            buf = io.StringIO()
            csv.writer(buf, delimiter=delimiter, lineterminator=ending).writerows(rows)
            text = buf.getvalue()
            reference = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
            got = [[c[1:-1].replace('""', '"') if c.startswith('"') else c for c in r]
                   for r in split_rows(text, delimiter)]
            assert got == reference == rows


def test_quoting_counts_empty_cells_apart_from_quoted_empty_strings():
    """``""`` (R's empty string) is no empty cell; a row with a quote left open is left out
    (hand-counted: rows 1, 2 and 4 read; the third opens a quote it never closes)."""
    sample = b'r,n\nNA,""\nEU,\n"oops,x\nAPAC,"a, b"\n'
    got = sample_quoting(sample, ",", 2, whole=True)
    assert got is not None
    assert got.empty == [0, 1] and got.bare == [2, 0] and got.quoted == [0, 1]
    assert got.holes_empty(1) is False and got.holes_empty(0) is False  # n: quoted values; r: no hole


# ------------------------------------------------------------------ integers beyond int64

NINES = pd.Series([f"9{i:02d}" + "7" * (17 + i % 5) for i in range(20)])  # led by 9: ids by the digits
ONES = pd.Series([f"10{i:02d}" + "3" * (16 + i % 5) for i in range(20)])  # led by 1: amounts


def test_ids_by_their_leading_digits_are_said_with_the_numeric_override():
    """Both spread over 20-24 digits (amounts by their lengths); only the nines are ids by
    their leading digits (+0.83 each in log-likelihood, s48b's hand computation), and the
    advice for them names the option that models them as numbers first."""
    assert spread_ids(NINES) and not spread_ids(ONES)
    said = identifier_override("balance", NINES)
    assert "'columns={balance: numeric}' models them as numbers" in said
    assert said.index("numeric") < said.index("categorical")
    default = "the ingest option 'columns={balance: categorical}' keeps it in"
    assert identifier_override("balance", ONES) == identifier_override("balance") == default
    same_length = pd.Series([f"9{i:02d}" + "7" * 18 for i in range(20)])  # one length: codes, not amounts
    assert spread_ids(same_length) and identifier_override("balance", same_length) == default



@pytest.mark.parametrize("case", ["pandas", "r_quote_false"])
def test_streamed_ingest_decides_each_column_as_the_whole_file(tmp_path, monkeypatch, case):
    from domains.tabular import streaming
    from encoderkit.data.ingest import ingest
    from encoderkit.data.store import RecordStore

    path = tmp_path / ("p.csv" if case == "pandas" else "r.tsv")
    if case == "pandas":
        _regions_with_addresses(path, "{} Main St, Springfield")
    else:
        path.write_text("\n".join(_r_write_table_tsv()) + "\n")
    kept, warned = {}, {}
    for stream in (False, True):
        monkeypatch.setattr(streaming, "STREAM_BYTES", 0 if stream else 1 << 62)
        out = tmp_path / f"s{int(stream)}.zarr"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ingest("tabular", str(path), str(out), progress=False, verbose=False)
        kept[stream] = RecordStore(str(out)).schema["ingest_options"]["keep_words"]
        warned[stream] = [str(w.message) for w in caught if "kept as a value" in str(w.message)]
    assert kept[False] == kept[True] == (["NA"] if case == "pandas" else [])
    assert warned[False] == warned[True] and len(warned[True]) == (1 if case == "pandas" else 0)
