"""Valid but unusual data through the documented commands with their defaults (tiny
models, a few steps: behaviour, not quality): boolean, date, integer-with-holes, code and
all-missing columns; series CSVs with counts, large offsets and stacked (long) series.
Each test compares with what pandas / numpy / scikit-learn read or compute themselves."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest

from encoderkit.cli import main
from encoderkit.errors import DataError

TINY = ["model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
        "model.intermediate_size=32", "train.steps=3", "progress=false"]


def observed_text_unchanged(src, out) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both CSVs as text: same header and rows, every observed cell the same characters,
    no empty cell left. Returns them."""
    a = pd.read_csv(src, dtype=str, keep_default_na=False)
    b = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(b.columns) == list(a.columns) and len(b) == len(a)
    for c in a.columns:
        obs = a[c] != ""
        pd.testing.assert_series_equal(b[c][obs], a[c][obs], obj=c)
        assert (b[c] != "").all(), c
    return a, b


# ---------------------------------------------------------------- tables

def zoo(n: int = 48) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "flag": pd.Series(rng.random(n) < 0.5, dtype=object),
        "day": pd.date_range("2021-01-01", periods=n, freq="D"),
        "count": pd.array(rng.integers(0, 1000, n), dtype="Int64"),
        "x": rng.normal(size=n),
        "big": rng.normal(1e12, 1e9, n),
    })
    for c in frame.columns:
        frame.loc[rng.random(n) < 0.2, c] = None
    return frame


@pytest.fixture(scope="module")
def table_runs(tmp_path_factory):
    """``encoderkit impute`` once on the zoo as CSV and once as Parquet."""
    root = tmp_path_factory.mktemp("zoo")
    frame = zoo()
    out = {}
    for fmt in ("csv", "parquet"):
        src, dst = root / f"zoo.{fmt}", root / f"filled.{fmt}"
        frame.to_csv(src, index=False) if fmt == "csv" else frame.to_parquet(src, index=False)
        assert main(["impute", f"input={src}", f"output={dst}", *TINY]) == 0
        out[fmt] = (src, dst)
    return out


def test_table_csv_observed_cells_and_kinds_kept(table_runs):
    src, dst = table_runs["csv"]
    a, b = observed_text_unchanged(src, dst)
    miss = {c: a[c] == "" for c in a.columns}
    assert set(b["flag"][miss["flag"]]) <= {"True", "False"}  # was 0.0 / 0.37: read as numbers
    assert b["count"][miss["count"]].str.fullmatch(r"-?\d+").all()  # was 473.0 for observed 473 too
    days = pd.to_datetime(b["day"][miss["day"]])
    assert (days == days.dt.normalize()).all()  # dates, not 19:23:28.649388


def test_table_parquet_dtypes_kept(table_runs):
    src, dst = table_runs["parquet"]
    a, b = pd.read_parquet(src), pd.read_parquet(dst)
    assert list(b.columns) == list(a.columns) and len(b) == len(a) and b.notna().all().all()
    assert b["flag"].dtype == bool  # the writer crashed on 0.0 in a boolean column
    assert b["count"].dtype == a["count"].dtype == "Int64"
    assert b["day"].dtype == a["day"].dtype and (b["day"] == b["day"].dt.normalize()).all()
    for c in a.columns:
        obs = a[c].notna()
        pd.testing.assert_series_equal(b[c][obs].astype(a[c].dtype), a[c][obs], obj=c)


def test_table_csv_observed_text_kept_character_for_character(tmp_path):
    """Observed cells as the user wrote them, not as pandas writes the parsed value (was
    1.50 -> 1.5, 1e3 -> 1000.0, 2020-01-01T10:00+01:00 -> 2020-01-01 09:00:00+00:00)."""
    src, out = tmp_path / "prices.csv", tmp_path / "filled.csv"
    src.write_text("price,qty,when\n1.50,3,2020-01-01T10:00+01:00\n2.00,,2020-01-02T10:00+01:00\n"
                   ",5,\n3.25,7,2020-01-04T10:00+01:00\n1e3,2,2020-01-05T10:00+01:00\n")
    assert main(["impute", f"input={src}", f"output={out}", "holdout=0", *TINY]) == 0
    observed_text_unchanged(src, out)


def test_reader_integer_columns_with_holes_match_pandas_nullable(tmp_path):
    from domains.tabular.schema import read_table

    path = tmp_path / "ints.csv"
    path.write_text("a,b,c\n1,,x\n,2.5,y\n300000000000,1,\n")
    got = read_table(str(path)).frame
    ref = pd.read_csv(path, dtype_backend="numpy_nullable")
    pd.testing.assert_series_equal(got["a"], ref["a"])  # Int64, not float64
    assert got["b"].dtype == np.float64


def test_reader_single_column_empty_lines_are_missing_cells(tmp_path):
    """One column: an empty line is its missing cell (was skipped, and the file came back
    as "no missing cell"); pandas says the same with skip_blank_lines=False."""
    from domains.tabular.schema import read_table

    path = tmp_path / "one.csv"
    path.write_text("v\n1.5\n\n2.5\n3\n\n")
    got = read_table(str(path)).frame
    pd.testing.assert_frame_equal(got, pd.read_csv(path, skip_blank_lines=False))
    path.write_text("a,b\n1,2\n\n3,4\n")  # several columns: a blank line is no row, as before
    assert len(read_table(str(path)).frame) == 2


def test_date_objects_are_datetimes_filled_as_dates():
    from domains.tabular.schema import fill_column, infer_schema

    s = pd.Series([datetime.date(2020, 1, d) if d % 3 else None for d in range(1, 13)], dtype=object)
    schema, _ = infer_schema(pd.DataFrame({"d": s}), np.ones(len(s), bool))
    assert schema["columns"][0]["kind"] == "numeric" and schema["columns"][0]["datetime"]
    noon = pd.Timestamp("2020-01-05 13:00").value  # rounds to the 6th
    out = fill_column(s, np.full(int(s.isna().sum()), float(noon)), s.isna().to_numpy())
    assert out[s.isna()].map(type).eq(datetime.date).all() and out[2] == datetime.date(2020, 1, 6)
    # tz-aware: rounded on the wall clock (local midnights stay local midnights)
    t = pd.Series(pd.date_range("2020-03-01", periods=4, freq="D", tz="Europe/Paris"))
    t[1] = pd.NaT
    got = fill_column(t, np.array([float(pd.Timestamp("2020-03-02 02:00", tz="Europe/Paris").value)]),
                      t.isna().to_numpy())
    assert got[1] == pd.Timestamp("2020-03-02", tz="Europe/Paris")


# ---------------------------------------------------------------- EncoderImputer

@pytest.fixture(scope="module")
def imputer_fill():
    from encoderkit.sklearn import EncoderImputer

    rng = np.random.default_rng(1)
    n = 60
    frame = pd.DataFrame({"whole": rng.integers(0, 500, n).astype(float),  # integers with NaN holes
                          "code": rng.choice([0.0, 5.0, 99.0], n),  # three codes: categorical
                          "x": rng.normal(size=n), "y": rng.normal(size=n),
                          "mixed": pd.Series([1, "a", 2, "b"] * (n // 4), dtype=object),
                          "month": pd.period_range("2020-01", periods=n, freq="M"),
                          "wait": pd.to_timedelta(rng.integers(0, 600, n), unit="s")})
    frame = frame.mask(rng.random(frame.shape) < 0.2)
    model = EncoderImputer(steps=3, random_state=0, overrides=TINY[:4])
    return frame, model.fit_transform(frame)


def test_imputer_whole_number_column_gets_whole_numbers(imputer_fill):
    frame, out = imputer_fill
    fills = out["whole"][frame["whole"].isna()]
    np.testing.assert_array_equal(fills, np.round(fills))  # was the mean with IterativeImputer: 285.7


def test_imputer_code_column_gets_seen_codes(imputer_fill):
    frame, out = imputer_fill
    assert set(out["code"][frame["code"].isna()]) <= set(frame["code"].dropna())  # no average of codes


def test_imputer_mixed_period_timedelta_columns(imputer_fill):
    """An object column of ints and strings (was: "cannot store X's columns as a table"),
    Period and Timedelta columns (were a TypeError / ValueError at transform): filled with
    their own kinds of value, observed cells and dtypes kept."""
    frame, out = imputer_fill
    for c in ("mixed", "month", "wait"):
        obs = frame[c].notna()
        assert out[c].dtype == frame[c].dtype and out[c].notna().all(), c
        pd.testing.assert_series_equal(out[c][obs], frame[c][obs], obj=c)
    assert set(out["mixed"][~frame["mixed"].notna()]) <= {1, "a", 2, "b"}
    waits = out["wait"][frame["wait"].isna()]
    assert (waits == waits.dt.round("s")).all()  # whole seconds, like the observed ones


def test_timedelta_values_are_nanoseconds_not_nat_sentinel():
    from domains.tabular.schema import numeric_values

    s = pd.Series(pd.to_timedelta([1.5, None, 3], unit="s"))
    np.testing.assert_array_equal(numeric_values(s), (s.dt.total_seconds() * 1e9).to_numpy())


def test_infinite_and_duplicate_columns_refused_in_one_line(tmp_path, capsys):
    from encoderkit.sklearn import EncoderImputer
    from tests.reliability.conftest import refuses_cleanly

    src = tmp_path / "inf.csv"
    src.write_text("a,b\n1,2\ninf,\n3,4\n5,6\n")
    refuses_cleanly(capsys, tmp_path, ["impute", f"input={src}", f"output={tmp_path / 'o.csv'}", *TINY],
                    1, "'a'", "infinite")
    with pytest.raises(DataError, match="appears more than once"):
        EncoderImputer(steps=3).fit(pd.DataFrame(np.ones((4, 3)), columns=["a", "a", "b"]))


def test_imputer_all_missing_column_dropped_like_simple_imputer():
    from sklearn.impute import SimpleImputer

    from encoderkit.sklearn import EncoderImputer

    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 3))
    x[rng.random(x.shape) < 0.2] = np.nan
    x[:, 1] = np.nan
    ref = SimpleImputer().fit(x)
    with pytest.warns(UserWarning, match="entirely missing"):
        model = EncoderImputer(steps=3, random_state=0, select="model", blend="none",
                               overrides=TINY[:4]).fit(x)
    out = model.transform(x)
    assert out.shape == ref.transform(x).shape and not np.isnan(out).any()
    assert list(model.get_feature_names_out()) == ["x0", "x2"] == list(ref.get_feature_names_out())
    model.set_params(keep_empty_features=True)
    kept = model.transform(x)
    assert kept.shape == x.shape and np.isnan(kept[:, 1]).all()


# ---------------------------------------------------------------- series

def test_series_csv_exact_numbers_counts_and_stacked_series(tmp_path):
    """time, series, value + a count channel: the series column is found, observed numbers
    come back character for character (pandas' default parser is one ulp off at 1e9 + small),
    counts stay whole numbers."""
    rng = np.random.default_rng(3)
    parts = []
    for sid, n in (("a", 120), ("b", 40)):
        level = 1e9 + np.sin(np.arange(n) / 5) + 0.01 * rng.normal(size=n)
        parts.append(pd.DataFrame({"time": pd.date_range("2020", periods=n, freq="h").astype(str),
                                   "series": sid, "level": level,
                                   "count": pd.array(rng.poisson(3, n), dtype="Int64")}))
    frame = pd.concat(parts, ignore_index=True)
    for c in ("level", "count"):
        frame.loc[rng.random(len(frame)) < 0.1, c] = None
    src, dst = tmp_path / "stacked.csv", tmp_path / "filled.csv"
    frame.to_csv(src, index=False)
    assert main(["impute", f"input={src}", f"output={dst}", *TINY]) == 0
    a, b = observed_text_unchanged(src, dst)
    assert b["count"][a["count"] == ""].str.fullmatch(r"\d+").all()
    assert np.isfinite(b["level"].astype(float)).all()


def test_series_text_column_of_notes_is_not_a_series_column(tmp_path):
    from encoderkit.impute import series_column

    notes = tmp_path / "notes.csv"
    notes.write_text("date,v,note\n2020-01-01,1,ok\n2020-01-02,,fine\n2020-01-03,3,ok\n2020-01-04,4,ok\n")
    stacked = tmp_path / "stacked.csv"
    stacked.write_text("date,id,v\n" + "".join(f"2020-01-0{t},{k},{t}\n" for k in "ab" for t in range(1, 5)))
    assert series_column(str(notes), "date") is None and series_column(str(stacked), "date") == "id"


def test_series_reader_parses_like_python_float(tmp_path):
    from domains.timeseries.io import read_frame

    values = [999999999.9950273, 0.24762279236945575, -0.0364760560616424, 1e-300]
    path = tmp_path / "s.csv"
    path.write_text("time,v\n" + "".join(f"{i},{v!r}\n" for i, v in enumerate(values)))
    assert read_frame(str(path))["v"].tolist() == [float(repr(v)) for v in values]


# ---------------------------------------------------------------- fine-tuning

def test_predict_raw_table_warns_of_absent_input_columns_not_the_label():
    """``encoderkit predict`` on a raw table reads records through ``to_records``: a model
    column the table lacks is read as missing with a warning naming it (was silent), the
    fine-tuned model's label column is no input and never asked for, no match is an error."""
    import warnings

    from domains.tabular.domain import TabularDomain

    # 20 rows, so both categories of b are in the training split (a category seen only in the
    # validation rows is unknown to the model, and rightly warned of)
    frame = pd.DataFrame({"a": np.arange(20.0), "b": ["x", "y"] * 10, "label": ["p", "q", "p", "p"] * 5})
    domain = TabularDomain.from_frame(frame, drop_columns=["label"])
    with pytest.warns(UserWarning, match=r"absent from the table.*\['a'\]") as caught:
        records = domain.to_records(frame[["b"]])
    assert len(records) == 20 and not any("label" in str(w.message) for w in caught)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        domain.to_records(frame[["b", "a"]].assign(extra=1))  # other order, an extra column: silent
    with pytest.raises(DataError, match="none of the table's columns"):
        domain.to_records(pd.DataFrame({"z": [1.0]}))


def test_metrics_one_class_in_validation_is_undefined_without_warning():
    """A validation split without the rare class (99:1, or a class of one record): MCC and
    AUROC are undefined (NaN), accuracy and macro-F1 as scikit-learn computes them."""
    import warnings

    from sklearn.metrics import accuracy_score, f1_score

    from encoderkit.tasks.metrics import classification_metrics

    y = np.zeros(20, dtype=np.int64)
    proba = np.tile([0.9, 0.1], (20, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # was: "A single label was found in 'y_true' and 'y_pred'"
        got = classification_metrics(y, proba)
    assert np.isnan(got["mcc"]) and np.isnan(got["auroc"])
    assert got["accuracy"] == accuracy_score(y, proba.argmax(1))
    assert got["macro_f1"] == f1_score(y, proba.argmax(1), average="macro")


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_semicolon_table_refused_with_the_fix_then_kept_semicolon(tmp_path, capsys):
    """A ';'-separated file read with ',' was one column with its data rows skipped as
    ragged, and came back as "no missing cell": now a one-line error naming the delimiter.
    With delimiter=';' the filled file is ';'-separated like its input (the held-back copy
    used to be written with ',' and re-read with ';')."""
    from tests.reliability.conftest import refuses_cleanly

    src, out = tmp_path / "semi.csv", tmp_path / "filled.csv"
    src.write_text("a;b;c\n1;2;x\n;3;y\n2;;z\n3;4;\n4;5;x\n")
    refuses_cleanly(capsys, tmp_path, ["impute", f"input={src}", f"output={out}", *TINY], 1,
                    "delimiter=';'")
    assert main(["impute", f"input={src}", f"output={out}", "delimiter=';'", *TINY]) == 0
    got = pd.read_csv(out, sep=";", dtype=str)
    given = pd.read_csv(src, sep=";", dtype=str)
    assert list(got.columns) == ["a", "b", "c"] and got.notna().all().all()
    pd.testing.assert_frame_equal(got.where(given.notna()), given)


def test_finetune_label_column_codes_predict_raw_and_evaluate_without_labels(tmp_path, capsys):
    """Integer classes {0, 5, 99} from task.label_column; predict on the raw CSV with its
    columns reordered and an extra one: a row per input row in order, the same probabilities
    as the table as stored; evaluate on that CSV takes the labels from its own column (it
    asked for labels= and, given the table, read every column as one label tuple)."""
    from sklearn.metrics import accuracy_score

    from domains.tabular.domain import ingest_frame
    from encoderkit.infer import load
    from encoderkit.tasks import finetune
    from tests.domains.sample_store import TINY_MODEL

    rng = np.random.default_rng(4)
    x = rng.normal(size=60)
    frame = pd.DataFrame({"x": x, "w": rng.normal(size=60), "colour": rng.choice(["r", "g"], 60),
                          "code": np.select([x < -0.5, x < 0.5], [0, 5], 99)})
    ingest_frame(frame, str(tmp_path / "store.zarr"), verbose=False)
    run = finetune(["checkpoint=none", "domain=tabular", f"data.store={tmp_path / 'store.zarr'}",
                    f"run.dir={tmp_path / 'ft'}", "task.label_column=code", "train.steps=3",
                    "train.eval_every=3", "train.checkpoint_every=0", "train.progress=false",
                    "data.max_tokens=512", "data.max_seqlen=64", *TINY_MODEL])
    model = load(run)
    assert model.spec.classes == ["0", "5", "99"]
    raw = tmp_path / "raw.csv"
    frame[["colour", "code", "w", "x"]].assign(extra=1).to_csv(raw, index=False)
    out = tmp_path / "preds.csv"
    assert main(["predict", f"checkpoint={run}", f"input={raw}", f"output={out}"]) == 0
    preds = pd.read_csv(out, dtype={"prediction": str})
    ref = model.predict(frame)
    assert len(preds) == len(frame)
    np.testing.assert_allclose(preds.filter(like="proba_").to_numpy(), ref.filter(like="proba_").to_numpy(),
                               atol=1e-6)
    capsys.readouterr()
    assert main(["evaluate", f"checkpoint={run}", f"input={raw}"]) == 0
    table = capsys.readouterr().out
    acc = accuracy_score(frame["code"].astype(str), preds["prediction"])
    assert f"accuracy {acc:13.4f}".split() == next(l for l in table.splitlines() if l.startswith("accuracy")).split()
    # the same table without the label column: said as such (every other column was read as
    # one label tuple, "('r', 0.3, ...) is not a class of this model")
    bare = tmp_path / "bare.csv"
    frame.drop(columns=["code"]).to_csv(bare, index=False)
    assert main(["evaluate", f"checkpoint={run}", f"input={bare}"]) == 2
    assert "label column 'code' does not exist" in capsys.readouterr().err


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_series_rows_out_of_time_order_filled_as_the_sorted_file(tmp_path):
    """A series CSV whose rows are not in time order: ingest sorts them, the fill did not
    (the model filled a scrambled series: NRMSE 0.8 instead of 0.004 on a sine). Now the
    fills equal those of the same file sorted, and the rows keep the file's order."""
    rng = np.random.default_rng(5)
    n = 160
    frame = pd.DataFrame({"date": pd.date_range("2020", periods=n, freq="h").astype(str),
                          "v": np.sin(np.arange(n) / 10)})
    frame.loc[rng.random(n) < 0.1, "v"] = np.nan
    out = {}
    for name, rows in (("sorted", frame), ("shuffled", frame.iloc[rng.permutation(n)])):
        rows.to_csv(tmp_path / f"{name}.csv", index=False)
        assert main(["impute", f"input={tmp_path / name}.csv", f"output={tmp_path / name}_out.csv",
                     "holdout=0", *TINY]) == 0
        out[name] = observed_text_unchanged(tmp_path / f"{name}.csv", tmp_path / f"{name}_out.csv")[1]
    a, b = (out[k].set_index("date")["v"].astype(float).sort_index() for k in ("shuffled", "sorted"))
    pd.testing.assert_series_equal(a, b)
