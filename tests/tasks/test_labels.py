"""Labels: join by id and by order, unlabelled records, stratified split, class weights,
one-line errors naming the file and row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.class_weight import compute_class_weight

from encoderkit.errors import DataError, EncoderkitError
from encoderkit.tasks import labels as L


IDS = np.asarray([f"r{i}" for i in range(6)], dtype=object)


def test_join_by_id_equals_join_by_order(tmp_path):
    y = ["a", "b", None, "a", "b", "a"]
    by_order = tmp_path / "order.csv"
    pd.DataFrame({"label": y}).to_csv(by_order, index=False)
    perm = [3, 0, 5, 1, 4]  # shuffled rows; r2 has no row at all: unlabelled
    by_id = tmp_path / "id.parquet"
    pd.DataFrame({"id": IDS[perm], "label": [y[i] for i in perm]}).to_parquet(by_id)
    a = L.align(L.read_table(by_order), IDS, str(by_order), token=False)
    b = L.align(L.read_table(by_id), IDS, str(by_id), token=False)
    assert a.labelled.tolist() == b.labelled.tolist() == [True, True, False, True, True, True]
    assert L.class_names(a, False) == ["a", "b"]
    ya = L.encode_classes(a, ["a", "b"], False)
    yb = L.encode_classes(b, ["a", "b"], False)
    assert ya.tolist() == yb.tolist() == [0, 1, -1, 0, 1, 0]


@pytest.mark.parametrize("name,sep", [("y.csv.gz", ","), ("y.tsv.zip", "\t"), ("y.csv.xz", ","),
                                      ("y.csv.bz2", ",")])
def test_compressed_label_files_read_as_the_plain_file(tmp_path, name, sep):
    """A labels table compressed by its name (as ``encoderkit impute`` and the data readers
    take them) reads as the plain one; a header with the other separator is still refused."""
    y = pd.DataFrame({"id": IDS[[3, 0, 5]], "label": ["NA", "b", "007"]})
    plain, packed = tmp_path / f"plain{'.tsv' if sep == chr(9) else '.csv'}", tmp_path / name
    y.to_csv(plain, sep=sep, index=False)
    y.to_csv(packed, sep=sep, index=False)
    pd.testing.assert_frame_equal(L.read_table(packed), L.read_table(plain))
    wrong = tmp_path / name.replace("y.", "w.")
    y.to_csv(wrong, sep=";", index=False)
    with pytest.raises(DataError, match="semicolon-separated"):
        L.read_table(wrong)


def test_compressed_binary_label_files_are_refused(tmp_path):
    f = tmp_path / "y.npy.gz"
    f.write_bytes(b"\x1f\x8b")
    with pytest.raises(EncoderkitError, match=r"\.csv / \.tsv also compressed"):
        L.read_table(f)


def test_npy_labels_nan_is_unlabelled(tmp_path):
    f = tmp_path / "y.npy"
    np.save(f, np.asarray([1.5, np.nan, 2.0, 0.0, np.nan, 3.0]))
    lab = L.align(L.read_table(f), IDS, str(f), token=False)
    assert lab.labelled.tolist() == [True, False, True, True, False, True]
    y = L.encode_regression(lab, IDS, False)
    np.testing.assert_array_equal(y[lab.labelled, 0], [1.5, 2.0, 0.0, 3.0])


def test_errors_name_file_and_row(tmp_path):
    f = tmp_path / "bad.csv"
    pd.DataFrame({"id": ["r0", "zzz"], "label": [1, 2]}).to_csv(f, index=False)
    with pytest.raises(DataError) as e:
        L.align(L.read_table(f), IDS, str(f), token=False)
    assert str(f) in str(e.value) and "row 3" in str(e.value) and "zzz" in str(e.value)
    g = tmp_path / "text.csv"
    pd.DataFrame({"id": ["r0", "r1"], "label": ["1.5", "tall"]}).to_csv(g, index=False)
    lab = L.align(L.read_table(g), IDS, str(g), token=False)
    with pytest.raises(DataError, match="row 3 .id 'r1'.: regression label 'tall' is not a number") as e:
        L.encode_regression(lab, IDS, False)
    assert str(g) in str(e.value)
    k = tmp_path / "inf.csv"
    pd.DataFrame({"id": ["r0", "r1", "r2"], "label": ["1.5", "", "-inf"]}).to_csv(k, index=False)
    lab = L.align(L.read_table(k), IDS, str(k), token=False)
    with pytest.raises(DataError, match="row 4 .id 'r2'.: regression label '-inf' is infinite") as e:
        L.encode_regression(lab, IDS, False)  # an empty label is unlabelled; an infinite one is refused
    assert str(k) in str(e.value)
    with pytest.raises(EncoderkitError, match="has 3 label rows and no id column"):
        h = tmp_path / "short.csv"
        pd.DataFrame({"label": [1, 2, 3]}).to_csv(h, index=False)
        L.align(L.read_table(h), IDS, str(h), token=False)
    with pytest.raises(EncoderkitError, match="label column 'nope' does not exist"):
        L.align(L.read_table(f), IDS, str(f), token=False, names=["nope"])


def test_stratified_split_keeps_class_shares():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [300, 60, 40])
    rng.shuffle(y)
    labelled = np.ones(len(y), bool)
    labelled[::10] = False  # unlabelled records are in neither split
    train, val = L.split_labelled(labelled, 0.25, seed=3, strata=y)
    assert not set(train) & set(val)
    assert set(train) | set(val) == set(np.flatnonzero(labelled))
    share = np.bincount(y[labelled], minlength=3) / labelled.sum()
    np.testing.assert_allclose(np.bincount(y[val], minlength=3) / len(val), share, atol=0.01)


def test_balanced_class_weights_equal_sklearn():
    y = np.asarray([0] * 50 + [1] * 10 + [3] * 5)
    w = L.class_weights("balanced", y, 4)
    ref = compute_class_weight("balanced", classes=np.asarray([0, 1, 3]), y=y)
    np.testing.assert_allclose(w[[0, 1, 3]], ref)
    assert w[2] == 1.0  # a class absent from the training split
    np.testing.assert_allclose(L.class_weights([1, 2, 3, 4], y, 4), [1, 2, 3, 4])
    assert L.class_weights(None, y, 4) is None


def test_token_labels_long_format(tmp_path):
    f = tmp_path / "tok.csv"
    pd.DataFrame({"id": ["r1", "r1", "r1", "r4"], "position": [0, 2, 1, 0],
                  "label": ["x", "y", "", "y"]}).to_csv(f, index=False)
    lab = L.align(L.read_table(f), IDS, str(f), token=True)
    assert lab.labelled.tolist() == [False, True, False, False, True, False]
    y = L.encode_classes(lab, L.class_names(lab, True), True)
    assert y[1].tolist() == [0, -1, 1] and y[4].tolist() == [1]


def test_multilabel_from_separated_names(tmp_path):
    f = tmp_path / "ml.csv"
    pd.DataFrame({"labels": ["a;b", "b", "", "c;a", "a", "b"]}).to_csv(f, index=False)
    lab = L.align(L.read_table(f), IDS, str(f), token=False)
    y, names = L.encode_multilabel(lab)
    assert names == ["a", "b", "c"]
    assert y.tolist()[:4] == [[1, 1, 0], [0, 1, 0], [0, 0, 0], [1, 0, 1]]
    assert not lab.labelled[2]


def test_csv_class_labels_are_text(tmp_path):
    """"+0" and "-0" are two classes (pandas' numeric inference merged them into 0), ids
    keep leading zeros, and numeric columns still encode for regression / indicators."""
    ids = np.asarray(["001", "002", "003", "004", "010", "011"], dtype=object)
    f = tmp_path / "signs.csv"
    f.write_text("id,label\n001,+0\n002,-0\n003,+0\n004,\n010,-0\n011,1.0\n")
    lab = L.align(L.read_table(f), ids, str(f), token=False)
    assert lab.labelled.tolist() == [True, True, True, False, True, True]
    classes = L.class_names(lab, False)
    assert classes == ["+0", "-0", "1.0"]  # numeric order, ties by text
    assert L.encode_classes(lab, classes, False).tolist() == [0, 1, 0, -1, 1, 2]
    g = tmp_path / "reg.csv"
    g.write_text("label,y2\n1.5,0\n-2e-1,1\n,\n3,1\n0,0\n7,1\n")
    lab = L.align(L.read_table(g), IDS, str(g), token=False, names=["label", "y2"])
    y = L.encode_regression(lab, IDS, False)
    np.testing.assert_array_equal(y[:, 0], [1.5, -0.2, np.nan, 3.0, 0.0, 7.0])
    h = tmp_path / "multi.csv"
    h.write_text("a,b\n1,0\n0,1\n1,1\n0,0\n1,0\n0,1\n")
    m, names = L.encode_multilabel(L.align(L.read_table(h), IDS, str(h), token=False))
    assert names == ["a", "b"] and m.tolist()[:3] == [[1, 0], [0, 1], [1, 1]]


def test_labels_join_a_record_by_its_key_after_the_file_name(tmp_path):
    """Ingest names records <file>:<key> (series 7 of long.csv is 'long.csv:7'); a labels or
    split file may name them by the key alone where it is unique in the store. A key
    shared by two files is not guessed, and an exact id still wins."""
    ids = np.asarray(["long.csv:1", "long.csv:2", "other.csv:2", "3", "x.csv:3"], dtype=object)
    f = tmp_path / "keys.csv"
    pd.DataFrame({"id": [1, "other.csv:2", 3], "label": ["a", "b", "c"]}).to_csv(f, index=False)
    lab = L.align(L.read_table(f), ids, str(f), token=False)
    assert lab.values == ["a", None, "b", "c", None]  # 3 is the exact id '3', not x.csv:3
    g = tmp_path / "ambiguous.csv"
    pd.DataFrame({"id": [2], "label": ["a"]}).to_csv(g, index=False)
    with pytest.raises(DataError, match="id '2' matches no record of the store .its ids look like 'long.csv:1'"):
        L.align(L.read_table(g), ids, str(g), token=False)
    h = tmp_path / "split.csv"
    pd.DataFrame({"id": [1, "other.csv:2"], "split": ["train", "test"]}).to_csv(h, index=False)
    assert list(L.read_split(str(h), ids)) == ["train", "", "test", "", ""]
