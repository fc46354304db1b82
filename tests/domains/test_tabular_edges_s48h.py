"""Table cells at the edges of what a float64 or a text reader holds (session 48, helper h):
19-digit integer codes kept exact end to end, hexadecimal codes read as written, a file's
infinite cell named by its data row, an all-missing text column filled with its text, ISO
dates and period labels given as text read and filled as dates, and times with and without
a UTC offset told apart. Each test compares with an independent reference: pandas with
explicit types, the file reader's own parse, or values worked out by hand."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from domains.tabular import TabularDomain
from domains.tabular.columnfill import fill_column
from domains.tabular.datetext import date_fills
from domains.tabular.encoding import encode_frame
from domains.tabular.reading import read_table
from domains.tabular.schema import infer_schema
from encoderkit.errors import DataError
from encoderkit.impute_scores import _equal

CODES = [1456789012345678901, 1456789012345678917, 1523456789012345673, 1600000000000000001]


def _codes_frame(n: int = 80, seed: int = 3) -> pd.DataFrame:
    """A column of four 19-digit codes (two of them one float64 apart) with holes, beside a
    number that tells the second code from the others (p/gen_t3.py of the audit)."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(CODES), n)
    codes = pd.array(np.array(CODES, dtype=np.int64)[pick], dtype="Int64")
    frame = pd.DataFrame({"account": codes, "x": rng.normal(size=n) + (pick == 1) * 3})
    frame.loc[rng.random(n) < 0.15, "account"] = pd.NA
    return frame


def _everything(train: pd.DataFrame) -> np.ndarray:
    return np.ones(len(train), dtype=bool)


def _first_category(domain: TabularDomain):
    """A stand-in for a model's predict: every categorical cell its first category, every
    number the middle of its first bin (zero logits)."""
    width = int(np.sum(domain.layout.cat_sizes)) + 1

    def predict(examples):
        out = []
        for m in examples:
            p = int(np.sum(m.predict))
            out.append({"cat_logits": np.zeros((p, width)), "bin_logits": np.zeros((p, 64)),
                        "value": np.zeros(p)})
        return out
    return predict


# ---------------------------------------------------------------- p1: 19-digit codes

def test_an_int64_category_fill_keeps_every_digit():
    s = pd.Series(pd.array([CODES[0], None, CODES[2], None], dtype="Int64"))
    rows = s.isna().to_numpy()
    out = fill_column(s, [CODES[1], CODES[3]], rows)  # category values, as the schema keeps them
    assert str(out.dtype) == "Int64"
    assert out.tolist() == [CODES[0], CODES[1], CODES[2], CODES[3]]  # float64 made ...848 and 16e17


def test_integer_codes_are_counted_as_the_integers_they_are():
    # 12 distinct int64 values near its limits, 5 rows each: float64 holds them as 2 values, which
    # read as two codes (yes / no); as integers, 12 distinct values > categorical_threshold 10
    top = np.iinfo(np.int64).max
    values = np.array([top - k for k in range(6)] + [np.iinfo(np.int64).min + k for k in range(6)], dtype=np.int64)
    frame = pd.DataFrame({"i64x": pd.array(np.repeat(values, 5), dtype="Int64"), "x": np.arange(60.0)})
    assert frame["i64x"].nunique() == 12 > 10  # the reference: pandas counts exact integers
    schema, _ = infer_schema(frame, _everything(frame))
    kinds = {c["name"]: c["kind"] for c in schema["columns"]}
    assert kinds["i64x"] == "numeric"


def test_a_code_column_is_filled_with_codes_it_holds():
    frame = _codes_frame()
    domain = TabularDomain.from_frame(frame)
    assert domain.schema["columns"][0]["categories"] == sorted(set(frame["account"].dropna().tolist()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        filled = domain._fill(frame, None, "forest")  # the forest's votes: no model to train
    holes = frame["account"].isna().to_numpy()
    assert holes.any() and filled["account"].notna().all()
    assert set(filled["account"][holes].tolist()) <= set(CODES)  # exact, each one observed
    assert str(filled["account"].dtype) == "Int64"


def test_a_rounded_code_is_no_hit():
    assert not _equal(float(CODES[0]), CODES[0])  # 1456789012345678848.0: another code
    assert not _equal(np.int64(CODES[0]), CODES[1])
    assert _equal(CODES[0], np.int64(CODES[0]))
    assert _equal(3, 3.0) and _equal("a", "a") and not _equal(2.5, 2)


# ---------------------------------------------------------------- p4: hexadecimal codes

def test_hexadecimal_codes_are_read_and_filled_as_written(tmp_path):
    rng = np.random.default_rng(5)
    codes = np.array(["0x10", "0x1F", "0x2A", "0xFF"])[rng.integers(0, 4, 60)]
    codes[rng.random(60) < 0.15] = ""
    path = tmp_path / "hex.csv"
    pd.DataFrame({"code": codes, "y": rng.normal(size=60).round(3)}).to_csv(path, index=False)
    frame = read_table(str(path)).frame
    reference = pd.read_csv(path, dtype={"code": str})["code"]  # pandas, told it is text
    assert frame["code"].isna().equals(reference.isna())
    assert frame["code"].dropna().tolist() == reference.dropna().tolist()  # not 16, 31, 42, 255
    domain = TabularDomain.from_frame(frame)
    assert domain.schema["columns"][0]["kind"] == "categorical"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        filled = domain._fill(frame, None, "forest")
    holes = frame["code"].isna().to_numpy()
    assert set(filled["code"][holes]) <= {"0x10", "0x1F", "0x2A", "0xFF"}


# ---------------------------------------------------------------- p8: the infinite cell's row

def test_an_infinite_cell_is_named_by_the_files_data_row():
    frame = pd.DataFrame({"a": [0.5, 1.5, np.nan, 2.5, np.inf, 3.5], "b": np.arange(6.0)})
    # the file's rows 0..7, rows 2 and 5 held no cell (left out before the schema): the inf
    # is on the frame's row 4, the file's data row 7 (0-based 6)
    rows = np.array([0, 1, 3, 4, 6, 7])
    with pytest.raises(DataError, match=r"holds 1 infinite value\(s\) \(first at data row 7\)"):
        infer_schema(frame, _everything(frame), source="t.csv", rows=rows)
    with pytest.raises(DataError, match=r"\(first at row 4\)"):  # a DataFrame: its index label
        infer_schema(frame, _everything(frame))


def test_a_number_beyond_float64_is_said_to_be_one(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["b,c"] + [f"{v:.3e},{w:.3f}" for v, w in zip(rng.random(30) * 1e300, rng.normal(size=30))]
    lines[5] = "1e400," + lines[5].split(",")[1]  # data row 5: no float64 holds it
    path = tmp_path / "t6b.csv"
    path.write_text("\n".join(lines) + "\n")
    assert np.isinf(pd.read_csv(path)["b"].iloc[4])  # the reference: pandas reads inf too
    domain = TabularDomain.from_frame(pd.read_csv(path).replace(np.inf, np.nan))
    with pytest.raises(DataError, match=r"first at data row 5\).*beyond float64's range .*1e400"):
        domain.read_records(str(path))


# ---------------------------------------------------------------- v3: an all-missing text column

def test_an_all_missing_text_column_is_filled_with_its_text():
    rng = np.random.default_rng(1)
    train = pd.DataFrame({"f": rng.normal(size=60), "label": np.where(rng.random(60) < 0.5, "yes", "no")})
    domain = TabularDomain.from_frame(train)
    given = train.head(5).copy()
    given["label"] = np.nan  # pandas makes it float64
    assert given["label"].dtype == np.float64
    filled = domain._fill(given, _first_category(domain), "none")
    cats = domain.schema["columns"][1]["categories"]
    assert filled["label"].tolist() == [cats[0]] * 5  # the first category: what the zero logits pick
    assert filled["f"].equals(given["f"])


# ---------------------------------------------------------------- t2: ISO dates as text

def test_iso_dates_as_text_are_dates_as_the_file_reader_reads_them(tmp_path):
    n = 40
    day = pd.date_range("2021-01-01", periods=n, freq="D").strftime("%Y-%m-%d").to_series(index=range(n))
    stamp = pd.date_range("2021-03-27 20:00", periods=n, freq="h", tz="Europe/Berlin")
    frame = pd.DataFrame({"x": np.random.default_rng(0).normal(size=n), "day": day,
                          "stamp": [t.isoformat(sep=" ") for t in stamp],
                          "iso_z": [t.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ") for t in stamp]})
    frame.loc[[3, 17], ["day", "stamp", "iso_z"]] = None
    path = tmp_path / "dates.csv"
    frame.to_csv(path, index=False)
    as_text = pd.read_csv(path)  # what a user hands EncoderImputer: text
    assert as_text["day"].dtype != np.float64 and pd.api.types.infer_dtype(as_text["day"], skipna=True) == "string"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours, _ = infer_schema(as_text, _everything(as_text))
    assert not any("dates written as text" in str(w.message) for w in caught)
    theirs, _ = infer_schema(read_table(str(path)).frame, _everything(as_text))  # pyarrow's dates
    for a, b in zip(ours["columns"], theirs["columns"]):
        assert (a["kind"], a["datetime"]) == (b["kind"], b["datetime"]), a["name"]
        assert a["mean"] == pytest.approx(b["mean"], rel=1e-12), a["name"]
    assert [c["datetime"] for c in ours["columns"]] == [False, True, True, True]


def test_date_fills_are_written_in_the_columns_own_form():
    ns = pd.Timestamp("2021-03-28 08:20:10Z").value
    # the offset of the nearest observed time (+02:00 after the change), rounded to its hours
    assert date_fills([ns], ["2021-03-27 20:00:00+01:00", "2021-03-28 21:00:00+02:00"]) == \
        ["2021-03-28 10:00:00+02:00"]
    assert date_fills([ns], ["2021-03-27T20:00:00Z", "2021-03-27T21:00:00Z"]) == ["2021-03-28T08:00:00Z"]
    assert date_fills([ns], ["2021-03-27T20:00:17Z"]) == ["2021-03-28T08:20:10Z"]
    assert date_fills([ns], ["2021-01-01", "2021-01-02"]) == ["2021-03-28"]


def test_a_text_date_column_is_filled_with_dates_written_as_its_cells():
    n = 40
    frame = pd.DataFrame({"x": np.arange(n, dtype=float),
                          "day": pd.date_range("2021-01-01", periods=n, freq="D").strftime("%Y-%m-%d")})
    frame["day"] = frame["day"].astype(object)
    frame.loc[[5, 20], "day"] = None
    domain = TabularDomain.from_frame(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        filled = domain._fill(frame, None, "iterative")  # a linear fit of the day on x
    got = pd.to_datetime(filled.loc[[5, 20], "day"], format="%Y-%m-%d")  # ISO days, as written
    truth = pd.to_datetime(["2021-01-06", "2021-01-21"])
    assert (abs(got.to_numpy() - truth.to_numpy()) <= np.timedelta64(1, "D")).all()
    assert filled["day"].drop([5, 20]).equals(frame["day"].drop([5, 20]))


# ---------------------------------------------------------------- t4: period labels

@pytest.mark.parametrize("labels, freq", [(pd.period_range("2015-01", periods=40, freq="M").astype(str), "M"),
                                          (pd.period_range("2005Q1", periods=40, freq="Q").astype(str), "Q")])
def test_period_labels_are_dates_not_identifiers(labels, freq):
    frame = pd.DataFrame({"x": np.arange(40, dtype=float), "when": list(labels)})
    frame.loc[[3, 9, 22], "when"] = None
    schema, said = infer_schema(frame, _everything(frame))
    col = {c["name"]: c for c in schema["columns"]}.get("when")
    assert col is not None, said  # was: "an identifier ... left out of the model"
    assert col["kind"] == "numeric" and col["datetime"]
    starts = pd.PeriodIndex(frame["when"].dropna(), freq=freq).to_timestamp()  # pandas' own reading
    assert col["mean"] == pytest.approx(float(np.mean(starts.as_unit("ns").asi8.astype(np.float64))), rel=1e-12)
    domain = TabularDomain.from_frame(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        filled = domain._fill(frame, None, "iterative")
    for r in (3, 9, 22):
        got = pd.Period(filled.loc[r, "when"], freq=freq)
        assert filled.loc[r, "when"] == str(got)  # written as its neighbours are: 2015-04, 2005Q4
        assert abs((got - pd.Period(labels[r], freq=freq)).n) <= 1  # x tells the period exactly


def test_a_period_fill_is_the_nearest_period():
    t = pd.Timestamp("2015-03-10")  # Q2 starts 22 days away, Q1 68: the nearer start
    assert date_fills([t.value], ["2005Q1", "2005Q2"]) == ["2015Q2"]
    assert date_fills([t.value], ["Q1 2005"]) == ["Q2 2015"]
    assert date_fills([t.value], ["2015-01", "2015-02"]) == ["2015-03"]
    assert date_fills([t.value], ["2020-W05"]) == [f"{t.isocalendar()[0]}-W{t.isocalendar()[1]:02d}"]


# ---------------------------------------------------------------- t5: UTC offsets

def test_times_without_the_offset_of_training_are_warned_of():
    zoned = pd.DataFrame({"t": pd.to_datetime(["2021-06-10 07:00:00+02:00", "2021-06-10 08:00:00+02:00"] * 10,
                                              utc=True), "x": np.arange(20.0)})
    schema, _ = infer_schema(zoned, _everything(zoned))
    naive = zoned.assign(t=zoned["t"].dt.tz_convert("Europe/Berlin").dt.tz_localize(None))
    with pytest.warns(UserWarning, match=r"column 't': the model was trained on times that carry a UTC offset"):
        encode_frame(naive, schema, source="z.csv")
    as_text = zoned.assign(t=[t.isoformat() for t in zoned["t"]])  # the offsets, as text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encode_frame(zoned, schema)
        encode_frame(as_text, schema)
    schema_naive, _ = infer_schema(naive, _everything(naive))
    with pytest.warns(UserWarning, match=r"trained on times without a UTC offset and these carry one"):
        encode_frame(zoned, schema_naive)
