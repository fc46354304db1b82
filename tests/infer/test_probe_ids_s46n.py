"""``encoderkit probe`` reads the ids of a labels CSV (and of a CSV of embeddings) as they are
written: ids ``000``..``039`` were read as the numbers 0..39 ("40 embedding ids have no
label"), an id ``NA`` as a missing value, as finetune's labels reader never does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encoderkit.cli import main
from encoderkit.infer.probe import format_results, probe

N = 40


@pytest.fixture()
def data(tmp_path):
    rng = np.random.default_rng(0)
    ids = np.array([f"{i:03d}" for i in range(N - 1)] + ["NA"])
    y = np.array(["A", "B"] * (N // 2))
    X = rng.normal(size=(N, 6)).astype(np.float32)
    X[:, 0] += (y == "A") * 3
    np.save(tmp_path / "e.npy", X)
    np.save(tmp_path / "e.ids.npy", ids)
    order = rng.permutation(N)  # joined by id, not by row order
    pd.DataFrame({"id": ids[order], "label": y[order]}).to_csv(tmp_path / "lab.csv", index=False)
    return tmp_path, ids, X, y


def _table(capsys, argv: list[str]) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out.strip()


def test_ids_with_leading_zeros_and_na_are_joined_as_written(data, capsys):
    tmp, ids, X, y = data
    want = format_results({"embeddings": probe(X, y, folds=2)})  # the rows in their own order
    assert _table(capsys, ["probe", f"embeddings={tmp / 'e.npy'}", f"labels={tmp / 'lab.csv'}",
                           "folds=2"]) == want


def test_a_csv_of_embeddings_keeps_its_ids_as_written(data, capsys):
    tmp, ids, X, y = data
    frame = pd.DataFrame(X.astype(np.float64), columns=[f"f{j}" for j in range(X.shape[1])])
    frame.insert(0, "id", ids)
    frame.to_csv(tmp / "e.csv", index=False)
    from encoderkit.infer.probe import read_embeddings

    got, got_ids = read_embeddings(tmp / "e.csv")
    assert got_ids.tolist() == ids.tolist()  # before: '0', '1', ..., 'nan'
    want = format_results({"embeddings": probe(got, y, folds=2)})
    assert _table(capsys, ["probe", f"embeddings={tmp / 'e.csv'}", f"labels={tmp / 'lab.csv'}",
                           "folds=2"]) == want


def test_an_id_without_a_label_is_still_refused(data, capsys):
    tmp, ids, X, y = data
    pd.DataFrame({"id": ids[:-1], "label": y[:-1]}).to_csv(tmp / "short.csv", index=False)
    assert main(["probe", f"embeddings={tmp / 'e.npy'}", f"labels={tmp / 'short.csv'}", "folds=2"]) == 1
    assert "1 embedding ids have no label (first: ['NA'])" in capsys.readouterr().err
