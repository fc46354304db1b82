"""Two rules of reading a table that misread ordinary files (``domains/tabular``):

- ``quoting.py`` / ``words.py``: a pandas ``to_csv`` file whose number columns are complete
  and whose text holes are empty cells keeps a category ``NA`` (North America) as a value,
  told from R's ``write.csv`` (every text quoted, an empty string ``""``, a missing one ``NA``
  bare) and readr's ``write_csv`` (``""`` and a bare ``NA``) by how the file quotes its cells;
- ``bigids.py``: integers beyond int64 of 20-24 digits drawn evenly within their lengths
  (account numbers) are identifiers, not amounts; amounts stay numbers.

References: files written by pandas itself and the bytes R and readr write (by hand, quoting
and all), read back by pandas with explicit dtypes and missing-value words; hand-computed
leading digits."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domains.tabular.bigids import spread_ids
from domains.tabular.reading import read_table
from domains.tabular.schema import _infer_kind, infer_schema
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore

OPTS = {"categorical_threshold": 10}


def _frame(n: int = 60) -> pd.DataFrame:
    """region NA (North America) / EU / APAC with holes, note with holes, numbers complete."""
    rng = np.random.default_rng(0)
    region = rng.choice(np.array(["NA", "EU", "APAC", None], dtype=object), n, p=[0.3, 0.3, 0.3, 0.1])
    note = np.where(np.arange(n) % 7 == 3, None, rng.choice(["ok", "late, paid"], n)).astype(object)
    return pd.DataFrame({"region": region, "note": note, "x": rng.normal(size=n).round(3), "k": np.arange(n)})


def _written_as_pandas_reads_it(path: Path) -> pd.Series:
    """The region column as pandas reads it told that only an empty cell is missing."""
    return pd.read_csv(path, dtype={"region": str}, keep_default_na=False, na_values={"region": [""]})["region"]


def test_pandas_file_with_complete_numbers_keeps_na_as_a_category(tmp_path):
    frame = _frame()
    path = tmp_path / "p.csv"
    frame.to_csv(path, index=False)
    reference = _written_as_pandas_reads_it(path)
    assert reference.isna().tolist() == frame["region"].isna().tolist()  # pandas writes a hole empty
    res = read_table(str(path))
    got = res.frame["region"].astype(object)
    assert got.isna().tolist() == reference.isna().tolist()
    assert got[got.notna()].tolist() == reference[reference.notna()].tolist()
    assert int((got == "NA").sum()) == int((frame["region"] == "NA").sum()) == 17
    assert res.kept_words == ["NA"]
    said = [m for m in res.messages if "'region'" in m]
    assert said == [f"{path}: column 'region': 17 cell(s) 'NA' kept as a value (the column leaves its own "
                    f"missing cells empty and writes its text unquoted, as pandas' to_csv does, and the file's "
                    f"columns of numbers hold no such word); missing_value=NA reads them as missing"]
    assert int(frame["region"].isna().sum()) == 5
    assert read_table(str(path), missing_value="NA").frame["region"].isna().sum() == 17 + 5


def test_the_kept_word_is_recorded_and_warned_at_ingest(tmp_path):
    path = tmp_path / "p.csv"
    _frame().to_csv(path, index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ingest("tabular", str(path), str(tmp_path / "s.zarr"), progress=False, verbose=False)
    assert [str(w.message) for w in caught if "kept as a value" in str(w.message)] != []
    schema = RecordStore(str(tmp_path / "s.zarr")).schema
    assert schema["ingest_options"]["keep_words"] == ["NA"]
    assert "NA" in next(c for c in schema["columns"] if c["name"] == "region")["categories"]


def _quoted(cell: object) -> str:
    return '"' + str(cell).replace('"', '""') + '"'


def _r_write_csv(frame: pd.DataFrame, path: Path) -> None:
    """The bytes of R's ``write.csv(df, path)``: row names, every text quoted, a missing text
    ``NA`` bare, an empty string ``""``, numbers bare (here complete)."""
    lines = ['"",' + ",".join(_quoted(c) for c in frame.columns)]
    for i, row in enumerate(frame.itertuples(index=False), start=1):
        cells = [_quoted(i)] + ["NA" if pd.isna(v) else _quoted(v) if isinstance(v, str) else str(v) for v in row]
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")


def _readr_write_csv(frame: pd.DataFrame, path: Path) -> None:
    """The bytes of readr's ``write_csv(df, path)``: a cell quoted only when it must be, a
    missing one ``NA``, an empty string ``""``."""
    def cell(v: object) -> str:
        if pd.isna(v):
            return "NA"
        text = str(v)
        return _quoted(text) if text == "" or any(c in text for c in ',"\n') else text
    lines = [",".join(frame.columns)] + [",".join(cell(v) for v in row) for row in frame.itertuples(index=False)]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("writer", [_r_write_csv, _readr_write_csv])
def test_r_and_readr_files_keep_a_bare_na_missing(tmp_path, writer):
    """Their region holds no category NA: a bare NA is a hole, beside empty notes ``""``."""
    frame = _frame()
    frame["region"] = frame["region"].replace({"NA": "AMER"})
    frame["note"] = frame["note"].where(frame["note"].notna(), "")  # empty strings, no hole
    frame.loc[frame.index % 11 == 5, "note"] = None  # and a few holes, written NA
    path = tmp_path / "r.csv"
    writer(frame, path)
    reference = pd.read_csv(path, dtype={"region": str})["region"]  # pandas: a bare NA is missing
    res = read_table(str(path))
    assert res.frame["region"].isna().tolist() == reference.isna().tolist() == frame["region"].isna().tolist()
    assert res.kept_words == []
    said = [m for m in res.messages if "'region'" in m]
    holes = int(frame["region"].isna().sum())
    assert len(said) == 1 and f"{holes} cell(s) 'NA' read as missing" in said[0] and "keep_words=[NA]" in said[0]


# ------------------------------------------------------------------ integers beyond int64

def _accounts(rng: np.random.Generator, n: int) -> list[str]:
    """Account numbers of 20-24 random digits, as ints write them (a leading zero dropped)."""
    return [str(int("".join(map(str, rng.integers(0, 10, size=k))))) for k in rng.integers(20, 25, size=n)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_account_numbers_of_several_lengths_are_identifiers(tmp_path, seed):
    rng = np.random.default_rng(seed)
    accounts = _accounts(rng, 50)
    assert len({len(a) for a in accounts}) >= 4 and len(set(accounts)) == 50
    path = tmp_path / "a.csv"
    pd.DataFrame({"account": accounts, "balance": rng.normal(size=50).round(2)}).to_csv(path, index=False)
    frame = read_table(str(path)).frame
    assert frame["account"].tolist() == pd.read_csv(path, dtype={"account": str})["account"].tolist() == accounts
    schema, said = infer_schema(frame, np.ones(len(frame), dtype=bool))
    assert [c["name"] for c in schema["columns"]] == ["balance"]  # was numeric: fills were invented ids
    assert "column 'account' is an identifier (each of its 50 values occurs once)" in " ".join(said)
    repeated = pd.DataFrame({"account": accounts * 3, "amount": rng.normal(size=150)})  # transactions
    schema, said = infer_schema(repeated, np.ones(150, dtype=bool))
    assert next(c for c in schema["columns"] if c["name"] == "account")["kind"] == "categorical"
    assert any("integers beyond int64's range" in m and "read as categories" in m for m in said)


def test_leading_digits_decide_as_computed_by_hand():
    """A value led by 9.00-9.19: log10 fraction 0.954-0.963, ln-likelihood ratio of an id
    0.954 * ln 10 - ln(9 / ln 10) = +0.83 or more each (ids); led by 1.00-1.02: fraction under
    0.01, -1.34 or less each (amounts)."""
    nines = pd.Series([f"9{i:02d}" + "7" * (17 + i % 5) for i in range(20)])
    ones = pd.Series([f"10{i:02d}" + "3" * (16 + i % 5) for i in range(20)])
    assert spread_ids(nines) and not spread_ids(ones)
    assert not spread_ids(pd.Series([f"-{v}" for v in nines]))  # a sign: a debit, an amount
    assert not spread_ids(nines[:19])  # too few to tell


def test_amounts_stay_numbers():
    rng = np.random.default_rng(0)
    unrounded = [str(int(v) * 10 ** 12 + int(rng.integers(1, 10 ** 12))) for v in rng.lognormal(18, 2.5, 300)]
    wei = [str(int(round(e * 10 ** 4)) * 10 ** 14) for e in np.round(rng.lognormal(0, 1.5, 400), 4)]
    for values in (unrounded, wei):
        col = pd.Series(values, dtype=object)
        assert not spread_ids(col) and _infer_kind(col, OPTS) == "numeric"
