"""Sets CSVs as point-set tools write them: a label column is no feature (target leakage),
a per-point id column is no item vocabulary, ``X, Y, Z`` are coordinates, the ingest report
says which columns the model reads, mostly unknown items at inference are warned about, and
raw-file errors name the file once (audit s43, defects 3, 4, 5 and 14)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domains.sets import SetsDomain
from domains.sets.digits import digit_frame, load_digit_sets
from domains.sets.ingest import NUM_SPECIAL, UNK
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import DataError, reading


def digits(limit: int = 12) -> pd.DataFrame:
    """Digits as long-format point sets (set, x, y, intensity) with each digit's class."""
    sets, labels = load_digit_sets(limit=limit)
    frame = digit_frame(sets)
    by_set = dict(zip([s["name"] for s in sets], labels))
    frame["label"] = frame["set"].map(by_set).astype(int)
    return frame


def ingest_frame(tmp_path: Path, frame: pd.DataFrame, name: str = "sets.csv", **options):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    store = tmp_path / (name + ".zarr")
    report = ingest("sets", [str(path)], str(store), progress=False, verbose=False, **options)
    return report, RecordStore(str(store)), str(path)


def item_sets(n_sets: int = 30, per_set: int = 6) -> pd.DataFrame:
    """Sets of items drawn from a small alphabet (items repeat: a real vocabulary)."""
    rng = np.random.default_rng(0)
    rows = [{"set": f"s{i}", "id": f"g{rng.integers(8)}", "w": float(rng.normal())}
            for i in range(n_sets) for _ in range(per_set)]
    return pd.DataFrame(rows)


# ---- 3. a label column -----------------------------------------------------------------

@pytest.mark.parametrize("name", ["label", "Class", "target", "y_true"])
def test_a_label_column_is_left_out_of_the_features_with_a_warning(tmp_path, name):
    frame = digits().rename(columns={"label": name})
    report, store, path = ingest_frame(tmp_path, frame)
    assert store.schema["feature_names"] == ["intensity"]
    warning = [w for w in report.warnings if repr(name) in w]
    assert len(warning) == 1 and path in warning[0]
    assert f"feature_columns=[intensity,{name}]" in warning[0]  # how to keep it


def test_a_label_column_named_as_a_feature_is_kept(tmp_path):
    report, store, _ = ingest_frame(tmp_path, digits(), feature_columns=["intensity", "label"])
    assert store.schema["feature_names"] == ["intensity", "label"]
    assert not report.warnings


def test_the_report_lists_coordinate_feature_and_item_columns(tmp_path):
    frame = digits().drop(columns="label")
    frame["id"] = "p" + (frame["intensity"].astype(int) % 4).astype(str)  # 4 items, repeated
    report, store, _ = ingest_frame(tmp_path, frame)
    summary = report.summary()
    assert "coordinate columns [x, y]: 2" in summary
    assert "feature columns [intensity]: 1" in summary
    assert "items (column 'id'): 4" in summary
    report, _, _ = ingest_frame(tmp_path, digits().drop(columns=["label", "x", "y"]), "plain.csv")
    assert "coordinate columns []: 0" in report.summary()
    assert "items (no item column): 0" in report.summary()


# ---- 4. a per-point id column ------------------------------------------------------------

def test_a_per_point_id_column_is_an_identifier_not_items(tmp_path):
    frame = digits().drop(columns="label")
    frame.insert(0, "id", np.arange(1, len(frame) + 1))  # row numbers, as QGIS / ImageJ write
    report, store, path = ingest_frame(tmp_path, frame)
    s = store.schema
    assert not s["has_ids"] and s["vocab"] == [] and s["id_column"] is None
    assert s["feature_names"] == ["intensity"]  # nor is it a feature
    warning = [w for w in report.warnings if "'id'" in w]
    assert len(warning) == 1 and "identifier" in warning[0] and "id_column=id" in warning[0]
    # named by the user, it is read as items
    _, kept, _ = ingest_frame(tmp_path, frame, "named.csv", id_column="id")
    assert kept.schema["has_ids"] and len(kept.schema["vocab"]) == len(frame)


def test_an_id_column_of_repeated_items_stays_the_item_column(tmp_path):
    report, store, _ = ingest_frame(tmp_path, item_sets())
    assert store.schema["has_ids"] and len(store.schema["vocab"]) == 8
    assert not [w for w in report.warnings if "identifier" in w]
    # a few distinct items in a small file are an ordinary small example, not row numbers
    small = pd.DataFrame({"set": ["a", "a", "b", "b"], "id": ["p", "q", "r", "s"], "w": [1.0, 2, 3, 4]})
    _, store, _ = ingest_frame(tmp_path, small, "small.csv")
    assert store.schema["has_ids"]


def test_mostly_unknown_items_at_inference_warn_once(tmp_path):
    frame = item_sets()
    _, store, _ = ingest_frame(tmp_path, frame)
    domain = SetsDomain(store.schema)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        domain.to_records(frame)
    assert not [w for w in caught if "vocabulary" in str(w.message)]  # known items: silent
    renumbered = frame.assign(id=frame["id"].str.replace("g", "n"))  # every item new
    path = tmp_path / "renumbered.csv"
    renumbered.to_csv(path, index=False)
    with pytest.warns(UserWarning, match="are not in the model's vocabulary") as caught:
        records = domain.read_records(str(path))
    mine = [w for w in caught if "vocabulary" in str(w.message)]
    assert len(mine) == 1 and str(path) in str(mine[0].message) and "180 of the 180" in str(mine[0].message)
    assert all((r["ids"] == UNK).all() for r in records)

    def predict(masked):  # infill reads its input the same way: the same one warning
        return [{"ids": np.zeros((int(m.predict.sum()), NUM_SPECIAL + 8)),
                 "features": np.zeros((int(m.predict.sum()), 1))} for m in masked]

    holes = renumbered.assign(w=np.where(np.arange(len(renumbered)) % 5 == 0, np.nan, renumbered["w"]))
    with pytest.warns(UserWarning, match="are not in the model's vocabulary") as caught:
        domain.infill(holes, predict)
    assert len([w for w in caught if "vocabulary" in str(w.message)]) == 1


# ---- 5. upper-case coordinates -------------------------------------------------------------

def test_upper_case_coordinates_are_coordinates_and_read_back_the_same(tmp_path):
    frame = digits().drop(columns="label").rename(columns={"x": "X", "y": "Y"})
    _, store, path = ingest_frame(tmp_path, frame)
    s = store.schema
    assert s["coord_names"] == ["X", "Y"] and s["feature_names"] == ["intensity"]  # the file's names
    domain = SetsDomain(store.schema)
    assert domain.rope_axes == 2
    raw = domain.read_records(path)
    for i in range(len(store)):
        np.testing.assert_array_equal(raw[i]["coords"], store[i]["coords"])
        np.testing.assert_array_equal(raw[i]["features"], store[i]["features"])


def test_named_coordinate_columns_stay_exact_and_lower_case_wins(tmp_path):
    frame = digits().drop(columns="label").rename(columns={"x": "X", "y": "Y"})
    frame.to_csv(tmp_path / "upper.csv", index=False)
    with pytest.raises(DataError, match=r"'coord_columns' option names columns \['x', 'y'\]"):
        ingest("sets", [str(tmp_path / "upper.csv")], str(tmp_path / "u.zarr"), progress=False,
               verbose=False, coord_columns=["x", "y"])
    both = digits().drop(columns="label").assign(X=1.0)  # x and X: the exact name is the coordinate
    _, store, _ = ingest_frame(tmp_path, both, "both.csv")
    assert store.schema["coord_names"] == ["x", "y"] and store.schema["feature_names"] == ["intensity", "X"]


# ---- 14. raw-file errors name the file once -------------------------------------------------

def test_raw_file_errors_name_the_file_once_and_no_stray_data(tmp_path):
    frame = digits().drop(columns="label")
    _, store, _ = ingest_frame(tmp_path, frame)
    domain = SetsDomain(store.schema)
    bad = frame.copy()
    bad.loc[5, "x"] = np.nan
    path = tmp_path / "nan_coord.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        with reading(str(path)):  # as the CLI reads an input file
            domain.read_records(str(path))
    message = str(info.value)
    assert message.count(str(path)) == 1 and "data" not in message.replace(str(path), "")
    assert "set 'digit0000'" in message and "element 5 (line 7)" in message
    with pytest.raises(DataError) as info:  # a frame of the caller's: no file to name
        domain.to_records(bad)
    assert str(info.value).startswith("set 'digit0000': element 5 (line 7)")


def test_a_file_left_with_nothing_to_predict_says_why(tmp_path):
    """Point numbers and coordinates only: with the id column left out nothing is left to
    predict; the error says the column was taken for an identifier and how to keep it."""
    frame = digits().drop(columns=["label", "intensity"])
    frame.insert(0, "id", np.arange(len(frame)))
    frame.to_csv(tmp_path / "ids.csv", index=False)
    with pytest.raises(DataError, match=r"ids\.csv.*'id' is an identifier.*id_column=id keeps it"):
        ingest("sets", [str(tmp_path / "ids.csv")], str(tmp_path / "i.zarr"), progress=False, verbose=False)
    assert not (tmp_path / "i.zarr").exists()
