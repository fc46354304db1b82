"""Row labels that are not counted: a pandas frame filtered (0, 2, 5, 9) or shuffled (7, 3, 1)
and written with ``df.to_csv()`` starts with a blank-headed column of its old labels.

Only a count (0..n-1, 100..159) was taken for row labels; other labels were a numeric model
column (held back, scored, filled from), and the labels reader had its own rule (a count, or
nothing). One rule now (``textfiles.written_index``): a nameless header cell over integers,
each row its own, none missing. The reference for what pandas wrote is pandas' own reading.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from domains.tabular.identifiers import row_numbers, row_numbers_message
from domains.tabular.reading import read_table
from domains.tabular.schema import infer_schema
from encoderkit.data.textfiles import written_index
from encoderkit.impute_layout import row_number_column, time_column
from encoderkit.tasks.label_files import read_table as read_labels


def _table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n).round(3)
    frame = pd.DataFrame({"x": x, "y": (2 * x + rng.normal(size=n) * 0.1).round(3),
                          "z": rng.integers(0, 50, n).astype(float)})
    frame.loc[rng.random(n) < 0.15, "x"] = np.nan
    return frame


def _written(kind: str) -> pd.DataFrame:
    frame = _table()
    return {"filtered": frame[frame.index % 3 != 1], "shuffled": frame.sample(frac=1, random_state=1),
            "counted": frame}[kind]


@pytest.mark.parametrize("kind", ["filtered", "shuffled", "counted"])
@pytest.mark.parametrize("header", ["", "Unnamed: 0"])
def test_a_to_csv_index_is_no_model_column_counted_or_not(tmp_path, kind, header):
    frame = _written(kind)
    src = tmp_path / "in.csv"
    src.write_text(header + frame.to_csv())
    read = read_table(str(src)).frame
    labels = pd.read_csv(src).iloc[:, 0]  # the reference: what pandas wrote, read back
    assert read.iloc[:, 0].tolist() == labels.tolist() == frame.index.tolist()
    with warnings.catch_warnings(record=True):
        schema, said = infer_schema(read, np.ones(len(read), bool))
    assert [c["name"] for c in schema["columns"]] == ["x", "y", "z"]
    named = [m for m in said if "holds row numbers" in m]
    assert len(named) == 1 and repr(header) in named[0], said


def test_what_ingest_says_of_labels_that_are_no_count():
    s = pd.Series([7, 3, 1, 9])
    assert "(7, 3, 1, ..., each row its own, the index" in row_numbers_message("", s)
    assert "(100..159, the index" in row_numbers_message("", pd.Series(np.arange(100, 160)))


@pytest.mark.parametrize("cells,name,expected", [
    ([0, 2, 5, 9], "", True), ([7, 3, 1], "Unnamed: 0", True), (["7", "3", "1"], "Unnamed: 0", True),
    ([0.0, 2.0, 5.0], "", True),  # whole floats: Int64 without holes reads so in some readers
    ([1, 1, 2], "", False),  # a repeat: no index, data
    ([0, np.nan, 2], "", False),  # a hole: no index pandas writes
    ([0.5, 1, 2], "", False), (["007", "008"], "", False), (["a", "b"], "", False),
    ([True, False], "", False), ([0, 2, 5], "row", False),  # a name: the user's column
])
def test_the_one_rule(cells, name, expected):
    assert written_index(pd.Series(cells), name) is expected


@pytest.mark.parametrize("first", [
    pd.Series(np.arange(1001, 1061), name="patient_id"),  # a named integer column: data
    pd.Series(np.r_[np.arange(30), np.arange(29, 59)], name=""),  # a label twice: no index
    pd.Series(np.r_[np.arange(59), [np.nan]], name=""),  # a hole: no index pandas writes
])
def test_other_first_columns_stay_in_the_model(first):
    frame = pd.concat([first, _table()], axis=1)
    assert not row_numbers(frame.iloc[:, 0], str(first.name))
    schema, _ = infer_schema(frame, np.ones(len(frame), bool))
    assert [c["name"] for c in schema["columns"]][0] == first.name


@pytest.mark.parametrize("kind", ["filtered", "shuffled"])
def test_a_labels_file_and_a_table_agree_on_the_index(tmp_path, kind):
    """The labels reader drops the index (it became a regression target); one rule with tables."""
    frame = _written(kind).assign(id=lambda f: [f"r{i}" for i in f.index], label=lambda f: f.index % 2)
    path = tmp_path / "labels.csv"
    frame[["id", "label"]].to_csv(path)
    got = read_labels(path)
    assert list(got.columns) == ["id", "label"]
    assert got["id"].tolist() == pd.read_csv(path)["id"].tolist()
    texts = pd.read_csv(path, dtype=str).iloc[:, 0]
    assert written_index(texts, "Unnamed: 0") and row_numbers(pd.read_csv(path).iloc[:, 0], "Unnamed: 0")


def test_a_shuffled_series_file_keeps_its_index_out_of_the_time_guess(tmp_path):
    """``impute``'s guess skipped only a counted index, so a shuffled series written with
    ``to_csv()`` was read as a table (its date column imputed without order)."""
    days = pd.date_range("2020-01-01", periods=60, freq="D").strftime("%Y-%m-%d")
    frame = pd.DataFrame({"date": days, "co2": np.round(300 + np.sin(np.arange(60) / 4) * 5, 2)})
    frame.loc[[10, 11, 30], "co2"] = np.nan
    src = tmp_path / "s.csv"
    frame.sample(frac=1, random_state=0).to_csv(src)
    assert row_number_column(pd.read_csv(src)) == "Unnamed: 0"
    assert time_column(str(src)) == "date"


@pytest.mark.slow  # encoderkit impute end to end: a tiny model fitted
def test_impute_writes_a_filtered_frames_labels_back_and_fills_only_the_data(tmp_path, capsys):
    from encoderkit.cli import main

    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    _written("filtered").to_csv(src)
    assert main(["impute", f"input={src}", f"output={out}", "model=tiny", "train.steps=3", "progress=false",
                 "holdout=0.1", "select=model", f"run_dir={tmp_path / 'run'}"]) == 0
    said = capsys.readouterr().out
    assert "held back of ," not in said
    a = pd.read_csv(src, dtype=str, keep_default_na=False)
    b = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(b.columns) == list(a.columns) and b.iloc[:, 0].tolist() == a.iloc[:, 0].tolist()
    assert (b["x"] != "").all() and b[["y", "z"]].equals(a[["y", "z"]])
