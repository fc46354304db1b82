"""Period labels and hex codes in table columns after review (session 48, helper m).

Season / fiscal-year labels (``2009-10``) are not months; month fills keep the column's
zero padding; a run trained on hex codes read as integers reads them so again; a column
mixing ISO times with and without an offset is told that, not to "write ISO dates".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from domains.tabular import TabularDomain
from domains.tabular.datetext import date_fills, date_text
from domains.tabular.reading import read_table
from domains.tabular.schema import infer_schema


def _season_frame() -> pd.DataFrame:
    """The review's file (repro 1_season_labels.sh): seasons 2000-01 .. 2011-12, 20 holes."""
    rng = np.random.default_rng(0)
    n = 300
    seasons = [f"{y}-{(y + 1) % 100:02d}" for y in range(2000, 2012)]
    df = pd.DataFrame({"season": rng.choice(seasons, n), "team": rng.choice(list("ABCDEF"), n),
                       "points": rng.integers(20, 90, n)})
    df.loc[rng.choice(n, 20, replace=False), "season"] = np.nan
    return df


def test_season_labels_stay_categories(tmp_path):
    path = tmp_path / "season.csv"
    _season_frame().to_csv(path, index=False)
    frame = read_table(str(path)).frame
    schema, _ = infer_schema(frame, np.ones(len(frame), dtype=bool))
    col = next(c for c in schema["columns"] if c["name"] == "season")
    assert col["kind"] == "categorical"
    # every fill is then a season seen in the column (the vocabulary is the observed labels)
    assert set(col["categories"]) == set(frame["season"].dropna())
    assert date_text(pd.Series(["2009-10", "2010-11", "1999-00", None])) is None


def test_months_not_all_seasons_are_still_months():
    got = date_text(pd.Series(["2009-10", "2010-12", None]))
    assert got is not None
    assert list(got.dropna()) == [pd.Timestamp("2009-10-01", tz="UTC"), pd.Timestamp("2010-12-01", tz="UTC")]


def test_month_fill_keeps_two_digits():
    jan = [pd.Timestamp("2020-01-01").value]
    assert date_fills(jan, ["2019-10", "2019-11", "2019-12", "2020-10"]) == ["2020-01"]
    assert date_fills(jan, ["2019-09", "2019-11"]) == ["2020-01"]
    # a month written with one digit: the column does not pad
    assert date_fills(jan, ["2019-9", "2019-11"]) == ["2020-1"]


def _hex_file(tmp_path):
    rng = np.random.default_rng(5)
    n = 60
    values = rng.choice([1, 2, 4, 8, 16, 31], n)
    df = pd.DataFrame({"flags": [hex(int(v)) for v in values], "x": rng.normal(size=n)})
    path = tmp_path / "hex.csv"
    df.to_csv(path, index=False)
    return str(path), values


def test_hex_read_as_text_for_a_new_schema(tmp_path):
    path, values = _hex_file(tmp_path)
    assert list(read_table(path).frame["flags"]) == [hex(int(v)) for v in values]


def test_hex_read_as_integers_for_a_run_that_holds_numbers(tmp_path):
    path, values = _hex_file(tmp_path)
    # the schema a run trained before hex was text got: pyarrow's integers (0x10 as 16)
    trained = pd.DataFrame({"flags": values, "x": np.linspace(0.0, 1.0, len(values))})
    schema, _ = infer_schema(trained, np.ones(len(trained), dtype=bool))
    assert all(isinstance(v, int) for v in next(c for c in schema["columns"] if c["name"] == "flags")
               .get("categories", [1]))
    frame = TabularDomain(schema).read_input(path)
    assert [int(v) for v in frame["flags"]] == [int(v) for v in values]
    assert list(read_table(path, numbers=["flags"]).frame["flags"]) == [int(v) for v in values]


def test_mixed_offsets_message_says_so():
    times = pd.Series(["2020-01-01T10:00:00", "2020-01-01T10:00:00+01:00"] * 20, dtype=object)
    frame = pd.DataFrame({"ts": times, "v": np.arange(40.0)})
    schema, messages = infer_schema(frame, np.ones(40, dtype=bool))
    said = [m for m in messages if "'ts'" in m]
    assert said and "UTC offset" in said[0] and "ISO dates" not in said[0]


def test_hex_appended_to_a_store_that_holds_the_column_as_numbers(tmp_path, capsys):
    """Rows appended to a store built when hex cells were read as integers (its schema holds
    the column's integer categories) are read as those integers, not as unknown text."""
    from encoderkit.cli import main
    from encoderkit.data.store import RecordStore

    path, values = _hex_file(tmp_path)
    first = tmp_path / "ints.csv"
    pd.DataFrame({"flags": values, "x": np.linspace(0.0, 1.0, len(values))}).to_csv(first, index=False)
    store = tmp_path / "s.zarr"
    assert main(["ingest", "domain=tabular", f"input={first}", f"output={store}"]) == 0
    capsys.readouterr()
    assert main(["ingest", "domain=tabular", f"input={path}", f"output={store}", "append=true"]) == 0
    assert "no category" not in capsys.readouterr().err
    opened = RecordStore(str(store))
    col = next(c for c in opened.schema["columns"] if c["name"] == "flags")
    codes = [int(opened[i]["cat"][0]) for i in range(len(values), 2 * len(values))]  # 0: unknown
    stored = [col["categories"][c - 1] if c else None for c in codes]
    assert stored == [int(v) for v in values]
