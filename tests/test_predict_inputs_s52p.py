"""Inputs a fuzzer gave finetune / predict / evaluate / embed (session 52, audit e).

* A ``task.split`` file with an empty split cell (a CSV's ``row1,``, a Parquet None) stopped
  finetune with ``AttributeError: 'float' object has no attribute 'strip'``: under pandas 3
  ``astype(str)`` keeps a missing cell NaN. Such a record is now in no split, as a record
  without a row is (the README's "or in none"), with a warning naming the rows.
* A run whose store held 2-channel series only read 1-channel series for predict / evaluate
  / embed / infill without a word (its outputs shift); now warned, naming the file, the
  channels given and trained on, and the channel the model sees nothing of.
* Records of a raw FASTA sharing an id (two ``>x``): ingest warns; ``io.warn_repeated_ids``
  says the same for a file read for predict / embed.

References: the expected split per record, the rows, counts and repeated ids are written out
by hand from the inputs the tests make.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from domains.genomic.io import repeated_ids, warn_repeated_ids
from domains.timeseries import TimeSeriesDomain
from domains.timeseries.schema_match import narrower_series
from encoderkit.errors import DataError
from encoderkit.tasks.labels import read_split


def said(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [str(w.message) for w in caught]


IDS = np.asarray([f"row{i}" for i in range(5)], dtype=object)


# ---- e-1: an empty split cell ------------------------------------------------------------------

def test_an_empty_csv_split_cell_leaves_its_record_in_no_split_and_names_the_row(tmp_path):
    f = tmp_path / "split.csv"
    # row1's cell empty (CSV line 3), row3 without a row at all: both in no split
    f.write_text("id,split\nrow0,train\nrow1,\nrow2,val\nrow4, Test\n")
    which, told = said(read_split, str(f), IDS)
    assert list(which) == ["train", "", "val", "", "test"]
    notes = [m for m in told if "empty split cell" in m]
    assert len(notes) == 1 and str(f) in notes[0] and "1 row(s)" in notes[0] and "(row 3)" in notes[0]


def test_a_parquet_none_or_nan_split_is_no_split_rows_counted_from_one(tmp_path):
    f = tmp_path / "split.parquet"
    pd.DataFrame({"id": list(IDS), "split": ["val", None, "train", np.nan, "validation"]}).to_parquet(f)
    which, told = said(read_split, str(f), IDS)
    assert list(which) == ["val", "", "train", "", "val"]
    notes = [m for m in told if "empty split cell" in m]
    assert len(notes) == 1 and "2 row(s)" in notes[0] and "(rows 2, 4)" in notes[0]


def test_a_split_word_other_than_train_val_test_is_still_refused_naming_its_row(tmp_path):
    f = tmp_path / "split.csv"
    f.write_text("id,split\nrow0,train\nrow1,holdout\n")
    with pytest.raises(DataError, match=r"row 3: split 'holdout' must be train, val or test"):
        read_split(str(f), IDS)


def test_a_full_split_file_draws_no_warning(tmp_path):
    f = tmp_path / "split.csv"
    f.write_text("id,split\n" + "".join(f"{r},train\n" for r in IDS))
    which, told = said(read_split, str(f), IDS)
    assert list(which) == ["train"] * 5 and not told


# ---- e-3: series narrower than the run's -------------------------------------------------------

SCHEMA = {"n_series": 6, "sum_length": 6 * 32, "max_channels": 2, "max_length": 32,
          "channel_observed": [192, 192]}


def series(n: int, channels: int, length: int = 32) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.cumsum(rng.normal(size=(n, channels, length)), axis=2)


def test_a_one_channel_file_for_a_two_channel_run_is_warned_naming_file_and_counts(tmp_path):
    f = tmp_path / "one.npy"
    np.save(f, series(6, 1))
    records, told = said(TimeSeriesDomain(SCHEMA).read_records, str(f))
    assert [r["channels"] for r in records] == [1] * 6  # read as it is, by position
    notes = [m for m in told if "series of the store the run trained on held 2" in m]
    assert len(notes) == 1
    assert notes[0].startswith(f"{f}: 6 of the 6 series hold 1 channel(s)") and "['channel 1']" in notes[0]


def test_full_width_series_and_stores_of_several_widths_draw_no_word(tmp_path):
    f = tmp_path / "two.npy"
    np.save(f, series(6, 2))
    _, told = said(TimeSeriesDomain(SCHEMA).read_records, str(f))
    assert not [m for m in told if "trained on held" in m]
    # a store of 1- and 2-channel series records no channel_observed: narrower ones were in it
    mixed = {k: v for k, v in SCHEMA.items() if k != "channel_observed"}
    _, told = said(TimeSeriesDomain(mixed).to_records, series(3, 1))
    assert not [m for m in told if "trained on held" in m]


def test_the_python_path_and_infill_say_it_too_and_names_come_from_the_schema():
    named = {**SCHEMA, "channel_observed": [192, 192, 192], "max_channels": 3,
             "channel_names": ["a", "b", "c"]}
    _, told = said(TimeSeriesDomain(named).to_records, list(series(2, 1)) + list(series(1, 2)))
    notes = [m for m in told if "trained on held 3" in m]
    assert len(notes) == 1 and notes[0].startswith("3 of the 3 series hold 1 to 2 channel(s)")
    assert "['b', 'c']" in notes[0]
    gaps = series(2, 1)
    gaps[0, 0, 5:8] = np.nan

    class Stop(Exception):
        pass

    def predict(*args, **kwargs):  # the warning comes before any fill: no model needed
        raise Stop

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            TimeSeriesDomain(SCHEMA).infill(gaps, predict)
        except Stop:
            pass
    notes = [str(w.message) for w in caught if "trained on held 2" in str(w.message)]
    assert len(notes) == 1 and notes[0].startswith("2 of the 2 series hold 1 channel(s)")


def test_a_missing_channel_empty_in_training_too_is_left_unsaid():
    assert narrower_series({**SCHEMA, "channel_observed": [192, 0]}, [1, 1], "x.npy") is None
    assert narrower_series({**SCHEMA, "channel_observed": [192, 5]}, [1], "x.npy").startswith("x.npy: 1 of")
    assert narrower_series({"channel_observed": [10]}, [1], "x.npy") is None  # univariate run


# ---- e-4: records of a raw file sharing an id --------------------------------------------------

def test_repeated_ids_come_in_the_order_of_their_first_record():
    ids = ["x", "y", "z", "y", "x", "x", "w"]
    # by hand: x (records 0, 4, 5) and y (1, 3) repeat, x's first record comes first
    assert repeated_ids(ids) == ["x", "y"]
    assert repeated_ids(["b", "a", "a", "b"]) == ["b", "a"]
    assert repeated_ids(["a", "b"]) == []


def test_repeated_ids_are_warned_as_ingest_warns_them(tmp_path):
    _, told = said(warn_repeated_ids, "d.fa", ["x", "x", "y"])
    assert len(told) == 1
    assert told[0].startswith("d.fa: 1 record id(s) are held by more than one record (e.g. 'x')")
    _, told = said(warn_repeated_ids, "d.fa", ["x", "y"])
    assert not told


def test_labelled_records_without_a_row_in_the_split_file_are_said(tmp_path):
    """README: a record without a row in task.split's file is in no split, with a warning
    (audit y: only empty cells were said; four labelled records left out without a word)."""
    import warnings

    from encoderkit.tasks.label_splits import read_split

    ids = np.array([f"w{i}" for i in range(6)], dtype=object)
    path = tmp_path / "split.csv"
    path.write_text("id,split\nw0,train\nw1,train\nw2,val\nw3,test\n")
    labelled = np.array([True, True, True, True, True, False])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        which = read_split(str(path), ids, labelled)
    assert which.tolist() == ["train", "train", "val", "test", "", ""]
    said = [str(w.message) for w in caught]
    assert len(said) == 1 and "1 labelled record(s) have no row ('w4')" in said[0]  # w5: unlabelled
