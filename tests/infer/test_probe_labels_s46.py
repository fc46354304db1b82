"""``encoderkit probe`` reads label values as finetune reads a labels file: only an empty cell
is missing. A label ``NA`` among text labels became NaN and then, through ``np.asarray`` of
the mixed column, a class named 'nan'; an empty label did the same, silently."""

from __future__ import annotations

import numpy as np
import pandas as pd

from encoderkit.cli import main
from encoderkit.infer.probe import format_results, probe

N = 40


def _files(tmp_path, labels):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(N, 5)).astype(np.float32)
    X[:, 0] += (np.asarray(labels) == "NA") * 3
    ids = np.array([f"r{i}" for i in range(N)])
    np.save(tmp_path / "e.npy", X)
    np.save(tmp_path / "e.ids.npy", ids)
    pd.DataFrame({"id": ids, "label": labels}).to_csv(tmp_path / "lab.csv", index=False)
    return X


def test_a_label_na_is_a_class_named_na(tmp_path, capsys):
    y = np.array(["NA", "EU"] * (N // 2))
    X = _files(tmp_path, y)
    want = format_results({"embeddings": probe(X, y, folds=2)})
    assert main(["probe", f"embeddings={tmp_path / 'e.npy'}", f"labels={tmp_path / 'lab.csv'}", "folds=2"]) == 0
    assert capsys.readouterr().out.strip() == want
    from encoderkit.infer.cli import _read_labels

    got = _read_labels(tmp_path / "lab.csv", np.array([f"r{i}" for i in range(N)]), N, None)
    assert sorted(set(got.tolist())) == ["EU", "NA"]  # was ['EU', 'nan']


def test_an_empty_label_is_refused_not_a_class(tmp_path, capsys):
    y = ["A", "B"] * (N // 2)
    _files(tmp_path, y)
    frame = pd.read_csv(tmp_path / "lab.csv", dtype=str)
    frame.loc[3, "label"] = ""
    frame.to_csv(tmp_path / "lab.csv", index=False)
    assert main(["probe", f"embeddings={tmp_path / 'e.npy'}", f"labels={tmp_path / 'lab.csv'}", "folds=2"]) == 1
    err = capsys.readouterr().err
    assert "1 of the 40 labels are empty" in err and "row 3" in err


def test_numeric_labels_still_regress(tmp_path, capsys):
    rng = np.random.default_rng(2)
    y = rng.normal(size=N)
    _files(tmp_path, ["x"] * N)
    pd.DataFrame({"id": [f"r{i}" for i in range(N)], "label": y}).to_csv(tmp_path / "lab.csv", index=False)
    assert main(["probe", f"embeddings={tmp_path / 'e.npy'}", f"labels={tmp_path / 'lab.csv'}",
                 "task=regression", "folds=2"]) == 0, capsys.readouterr().err


def test_na_in_a_column_of_numeric_labels_is_a_missing_label(tmp_path, capsys):
    """(a reviewer: 'could not convert string to float: NA' where the message said which row)"""
    rng = np.random.default_rng(3)
    _files(tmp_path, ["x"] * N)
    y = [f"{v:.3f}" for v in rng.normal(size=N)]
    y[7] = "NA"
    pd.DataFrame({"id": [f"r{i}" for i in range(N)], "label": y}).to_csv(tmp_path / "lab.csv", index=False)
    assert main(["probe", f"embeddings={tmp_path / 'e.npy'}", f"labels={tmp_path / 'lab.csv'}",
                 "task=regression", "folds=2"]) == 1
    err = capsys.readouterr().err
    assert "1 of the 40 labels are empty" in err and "row 7" in err
