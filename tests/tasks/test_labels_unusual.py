"""Labels files as other tools write them (fourth unusual-inputs sweep): each case either
reads as the user meant or is refused in one line naming the file and row; none trains on
misaligned or invented labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encoderkit.errors import DataError, UsageError
from encoderkit.tasks import labels as L

IDS = np.asarray([f"r{i}" for i in range(6)], dtype=object)
Y = ["a", "b", "a", "b", "b", "a"]
PERM = [3, 0, 5, 1, 4, 2]  # rows not in store order: only a join by id gets them right


def _classes(path, ids=IDS, **kw) -> list[int]:
    lab = L.align(L.read_table(path), ids, str(path), token=False, **kw)
    return L.encode_classes(lab, L.class_names(lab, False), False).tolist()


def test_an_id_column_spelled_otherwise_or_kept_as_the_index_joins_by_id(tmp_path):
    """`ID`, `id ` (header whitespace) and a Parquet index named id were read as label columns
    or dropped, and the shuffled rows were joined by order: labels silently misaligned."""
    want = [0, 1, 0, 1, 1, 0]
    upper = tmp_path / "upper.csv"
    pd.DataFrame({"ID": IDS[PERM], "label": [Y[i] for i in PERM]}).to_csv(upper, index=False)
    spaced = tmp_path / "spaced.csv"
    spaced.write_text("id , label\n" + "".join(f"{IDS[i]} , {Y[i]}\n" for i in PERM))
    index = tmp_path / "index.parquet"
    pd.DataFrame({"id": IDS[PERM], "label": [Y[i] for i in PERM]}).set_index("id").to_parquet(index)
    for f in (upper, spaced, index):
        assert _classes(f) == want, f.name


def test_ids_are_read_as_written_and_matched_forgivingly(tmp_path):
    """An id `NA` was read as NaN (no record 'nan'); ` r1 ` matched nothing; a float id
    column (a Parquet id column with a gap) said '3.0' for record 3; an empty id said 'nan'."""
    ids = np.asarray(["NA", "r1", "3", "4"], dtype=object)
    f = tmp_path / "na.csv"
    f.write_text("id,label\nNA,a\n r1 ,b\n3,a\n4,b\n")
    assert _classes(f, ids) == [0, 1, 0, 1]
    g = tmp_path / "float.parquet"
    pd.DataFrame({"id": [3.0, 4.0, np.nan], "label": ["a", "b", "a"]}).iloc[:2].to_parquet(g)
    assert _classes(g, ids) == [-1, -1, 0, 1]
    h = tmp_path / "empty_id.csv"
    h.write_text("id,label\nNA,a\n,b\n")
    with pytest.raises(DataError, match="row 3: the id cell is empty") as e:
        _classes(h, ids)
    assert "empty_id.csv" in str(e.value)


def test_pandas_missing_values_are_unlabelled_not_a_class(tmp_path):
    """Nullable Parquet columns (Int64, string) hold pd.NA: it became a class '<NA>', a
    regression label 'not a number', and a group of its own."""
    f = tmp_path / "nullable.parquet"
    pd.DataFrame({"id": IDS, "label": pd.array([0, None, 1, 1, 0, 1], dtype="Int64"),
                  "text": pd.array(["a", "b", None, "a", "b", "a"], dtype="string"),
                  "grp": pd.array([1, 1, 2, None, 3, 3], dtype="Int64")}).to_parquet(f)
    frame = L.read_table(f)
    lab = L.align(frame, IDS, str(f), token=False, names=["label"])
    assert L.class_names(lab, False) == ["0", "1"] and lab.labelled.tolist() == [True, False, True, True, True, True]
    np.testing.assert_array_equal(L.encode_regression(lab, IDS, False)[:, 0], [0, np.nan, 1, 1, 0, 1])
    text = L.align(frame, IDS, str(f), token=False, names=["text"])
    assert L.class_names(text, False) == ["a", "b"]
    # a Parquet file's rows count from 1 at its first record (row 5 was the CSV line rule)
    with pytest.raises(DataError, match="row 4: a labelled record with an empty 'grp'"):
        L.read_groups(frame, IDS, np.ones(6, bool), str(f), "grp")


def test_missing_words_in_a_csv_label_column_are_said_aloud(tmp_path):
    """A class written `None` was silently read as missing: the class vanished."""
    f = tmp_path / "words.csv"
    pd.DataFrame({"id": IDS, "label": ["None", "Low", "None", "High", "NA", "Low"]}).to_csv(f, index=False)
    with pytest.warns(UserWarning, match=r"'NA' \(1 row\(s\)\), 'None' \(2 row\(s\)\) are read as missing"):
        lab = L.align(L.read_table(f), IDS, str(f), token=False)
    assert L.class_names(lab, False) == ["High", "Low"]


@pytest.mark.parametrize("sep,word", [(";", "semicolon"), ("|", "pipe")])
def test_a_csv_separated_otherwise_is_refused(tmp_path, sep, word):
    """`id;label` in a .csv was one column of joined text: one class per record, exit 0."""
    f = tmp_path / "labels.csv"
    pd.DataFrame({"id": IDS, "label": Y}).to_csv(f, index=False, sep=sep)
    with pytest.raises(DataError, match=f"{word}-separated") as e:
        L.read_table(f)
    assert "labels.csv" in str(e.value)


def test_group_column_naming_the_label_column_is_refused(tmp_path):
    """task.group_column=label dropped the label column and trained on another one."""
    f = tmp_path / "g.csv"
    pd.DataFrame({"id": IDS, "label": Y, "grp": [1, 1, 2, 2, 3, 3]}).to_csv(f, index=False)
    with pytest.raises(UsageError, match="group_column='label' is also a label column"):
        L.align(L.read_table(f), IDS, str(f), token=False, exclude=["label"])


def test_multilabel_indicators_true_false_and_bad_cells_name_the_row(tmp_path):
    f = tmp_path / "tf.csv"  # pandas writes a bool column as True / False
    pd.DataFrame({"id": IDS, "x": [True, False] * 3, "y": [False, False, True] * 2}).to_csv(f, index=False)
    lab = L.align(L.read_table(f), IDS, str(f), token=False)
    y, names = L.encode_multilabel(lab)
    assert names == ["x", "y"] and y.tolist() == [[1, 0], [0, 0], [1, 1], [0, 0], [1, 0], [0, 1]]
    g = tmp_path / "two.csv"
    pd.DataFrame({"id": IDS, "x": [1, 0, 2, 0, 1, 0], "y": [0, 1, 1, 0, 0, 1]}).to_csv(g, index=False)
    with pytest.raises(DataError, match=r"row 4: multilabel columns must hold 0/1 .*got '2'"):
        L.encode_multilabel(L.align(L.read_table(g), IDS, str(g), token=False))


def test_a_regression_target_without_any_value_is_refused(tmp_path):
    """It trained (numpy printed 'Mean of empty slice') and predicted noise for the target."""
    f = tmp_path / "t.csv"
    pd.DataFrame({"id": IDS, "t1": [1.0, 2, 3, 4, 5, 6], "t2": [np.nan] * 6}).to_csv(f, index=False)
    lab = L.align(L.read_table(f), IDS, str(f), token=False)
    with pytest.raises(DataError, match="target column 't2' has no value"):
        L.encode_regression(lab, IDS, False)


def test_a_large_val_fraction_keeps_a_training_record():
    """val_fraction=0.999 asked scikit-learn for a validation split of every record: its
    message, exit 1, and a run directory left behind."""
    strata = np.asarray([0, 1] * 5)
    for fraction in (0.9, 0.96, 0.999):
        train, val = L.split_labelled(np.ones(10, bool), fraction, 0, strata)
        assert len(train) >= 1 and len(train) + len(val) == 10
    train, val = L.split_labelled(np.ones(2, bool), 0.75, 0)
    assert len(train) == len(val) == 1


def test_bool_classes_match_across_file_types():
    """A model trained on Parquet bools (classes 'false' / 'true') refused a CSV written by
    pandas from the same frame ('True' is not a class); and the reverse."""
    assert L.class_code({"false": 0, "true": 1}, "True") == 1
    assert L.class_code({"False": 0, "True": 1}, np.bool_(False)) == 0
    assert L.class_code({"false": 0, "true": 1}, "maybe") is None


def test_a_written_row_index_is_no_label_column(tmp_path):
    """`frame.to_csv(path)` (index=True) wrote an unnamed 0..n-1 column, which became a
    second regression target ('Unnamed: 0'); an unnamed column of ids is kept."""
    f = tmp_path / "indexed.csv"
    pd.DataFrame({"id": IDS, "target": [1.0, 2, 3, 4, 5, 6]}).to_csv(f)  # index=True
    lab = L.align(L.read_table(f), IDS, str(f), token=False)
    assert lab.names == ["target"]
    r = tmp_path / "r.csv"  # R's write.csv: row names 1..n under an empty header, and a trailing comma
    r.write_text('"","id","target",\n' + "".join(f'"{i + 1}","{IDS[i]}",{i},\n' for i in range(6)))
    assert L.align(L.read_table(r), IDS, str(r), token=False).names == ["target"]
    kept = tmp_path / "ids_as_index.csv"
    pd.Series([1.0, 2.0], index=["r1", "r0"]).to_csv(kept)
    assert "Unnamed: 0" in L.read_table(kept).columns


def test_a_token_labelled_twice_is_refused(tmp_path):
    """Two rows for one (id, position): the later silently replaced the earlier."""
    f = tmp_path / "tok.csv"
    pd.DataFrame({"id": ["r0", "r0", "r1", "r0"], "position": [0, 1, 0, 1], "label": ["x", "y", "x", "z"]}
                 ).to_csv(f, index=False)
    with pytest.raises(DataError, match=r"row 5: id 'r0' position 1 is labelled twice \(also on row 3\)"):
        L.align(L.read_table(f), IDS, str(f), token=True)


def test_a_column_named_twice_in_a_csv_header_is_refused_as_written(tmp_path):
    """pandas reads `id,label,label` as label and label.1, so the duplicate check never fired
    and the first label column trained without a word (session-40 audit)."""
    for header in ("id,label,label", "id,id,label", "id, label ,label"):
        f = tmp_path / "twice.csv"
        f.write_text(header + "\n" + "".join(f"{i},{y},{y}\n" for i, y in zip(IDS, Y)))
        name = "id" if header.startswith("id,id") else "label"
        with pytest.raises(DataError, match=f"column '{name}' appears more than once"):
            L.read_table(f)
    ok = tmp_path / "ok.tsv"  # distinct names still read, tab-separated too
    ok.write_text("id\tlabel\n" + "".join(f"{i}\t{y}\n" for i, y in zip(IDS, Y)))
    assert list(L.read_table(ok).columns) == ["id", "label"]
