"""Labels audit s42: a multi-target regression run's targets are found by column name when
evaluating (a reordered file scored r2 -111 instead of 0.095, a ``Pulse``-only file was
scored against the Weight predictions; a run trained on 2 of 3 columns crashed on the full
file; a 2-D array crashed in pandas), a ``;`` multilabel file writes an empty set as ``[]``
(an empty cell, read as unlabelled, silently dropped 128 of 800 records), and
``task.label_column=[a,b]`` says it takes one column. References: scikit-learn's metrics on
arrays paired by hand (by name) with the run's own ``predict`` output."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, r2_score

from conftest import ft_overrides
from encoderkit.errors import DataError, EncoderkitError, UsageError
from encoderkit.train.config import ConfigError
from encoderkit.tasks import finetune
from encoderkit.tasks import labels as L


def _targets(store: str, ids: list[str], y: np.ndarray) -> pd.DataFrame:
    """Three targets of very different scales, so pairing one with another's predictions
    cannot go unnoticed."""
    from encoderkit.data.store import RecordStore

    s = RecordStore(store)
    length = np.asarray([len(s[i]["ids"]) for i in range(len(s))], dtype=float)
    return pd.DataFrame({"id": ids, "a": 1000.0 + 50.0 * y, "b": -5.0 + 0.1 * length,
                         "c": 0.01 * np.arange(len(ids))})


def _run(store: str, tmp: Path, labels: Path, name: str, **extra) -> Path:
    return finetune(ft_overrides(store, str(tmp / name), str(labels), steps=3,
                                 **{"task.type": "regression", "task.val_fraction": 0.2, "train.eval_every": 3,
                                    "train.checkpoint_every": 0, **extra}))


@pytest.fixture(scope="module")
def reg(labelled_store, tmp_path_factory):
    """A 3-target run (a, b, c) and the labels it was trained with."""
    from encoderkit.infer import load

    store, ids, y, _ = labelled_store
    tmp = tmp_path_factory.mktemp("s42reg")
    frame = _targets(store, ids, y)
    labels = tmp / "targets.csv"
    frame.to_csv(labels, index=False)
    model = load(_run(store, tmp, labels, "run"))
    return model, store, frame, tmp


def _reference(model, store, frame: pd.DataFrame, names: list[str]) -> dict[str, float]:
    """rmse / mae / r2 per target, averaged, with each target paired to the prediction
    column of its own name."""
    pred = model.predict(store).set_index("id").loc[frame["id"]]
    per = [(np.sqrt(mean_squared_error(frame[t], pred[f"prediction_{t}"])),
            mean_absolute_error(frame[t], pred[f"prediction_{t}"]),
            r2_score(frame[t], pred[f"prediction_{t}"])) for t in names]
    rmse, mae, r2 = np.mean(per, axis=0)
    return {"rmse": rmse, "mae": mae, "r2": r2}


def _close(got: dict[str, float], ref: dict[str, float]) -> None:
    for k, v in ref.items():
        assert got[k] == pytest.approx(v, rel=1e-6, abs=1e-9), k


# ---- 1. targets by name, not by position


def test_reordered_columns_are_scored_by_name(reg):
    model, store, frame, tmp = reg
    assert model.spec.targets == ["a", "b", "c"]
    ref = _reference(model, store, frame, ["a", "b", "c"])
    shuffled = tmp / "reordered.csv"
    frame[["c", "id", "a", "b"]].to_csv(shuffled, index=False)  # as the audit's Pulse,id,Waist,Weight
    _close(model.evaluate(store, shuffled, verbose=False), ref)
    _close(model.evaluate(store, frame[["id", "b", "c", "a"]], verbose=False), ref)


def test_a_file_lacking_a_target_or_renaming_one_is_refused_naming_it(reg):
    model, store, frame, tmp = reg
    only_b = tmp / "only_b.csv"
    frame[["id", "b"]].to_csv(only_b, index=False)
    with pytest.raises(DataError, match="no column 'a' for the run's target 'a'") as e:
        model.evaluate(store, only_b, verbose=False)
    assert "\n" not in str(e.value) and str(only_b) in str(e.value)
    renamed = tmp / "renamed.csv"
    frame.rename(columns={"a": "A"}).to_csv(renamed, index=False)
    with pytest.raises(DataError, match="'A' differs in case"):
        model.evaluate(store, renamed, verbose=False)
    series = frame.set_index("id")["b"].reset_index(drop=True)  # a Series named b, in store order
    with pytest.raises(DataError, match="no column 'a'"):
        model.evaluate(store, series, verbose=False)


def test_label_names_score_a_subset_of_targets_against_their_own_predictions(reg):
    model, store, frame, _ = reg
    ref = _reference(model, store, frame, ["b"])
    _close(model.evaluate(store, frame[["id", "b"]], label_names=["b"], verbose=False), ref)
    series = frame["b"]  # named b: its name, not its position, says which target it is
    _close(model.evaluate(store, series, label_names=["b"], verbose=False), ref)
    with pytest.raises(UsageError, match="'B' is not a target"):
        model.evaluate(store, frame.rename(columns={"b": "B"}), label_names=["B"], verbose=False)


# ---- 2. a run trained on some of the columns, evaluated with the full file


def test_run_trained_on_chosen_columns_pairs_them_by_name_and_ignores_the_others(labelled_store, tmp_path):
    from encoderkit.infer import load

    store, ids, y, _ = labelled_store
    frame = _targets(store, ids, y)
    labels = tmp_path / "targets.csv"
    frame.to_csv(labels, index=False)
    run = _run(store, tmp_path, labels, "ln", **{"task.label_names": "[c,a]"})
    model = load(run)
    assert model.spec.targets == ["c", "a"]
    # training paired the columns by name: each target's train-split mean is its own column's
    train = json.loads((run / "split.json").read_text())["train"]
    means = frame.set_index("id").loc[train, ["c", "a"]].mean().to_numpy()
    np.testing.assert_allclose(model.spec.mean, means, rtol=1e-6)
    with pytest.warns(UserWarning, match=r"\['b'\] are not targets of this run"):
        got = model.evaluate(store, labels, verbose=False)  # the file it trained on: IndexError before
    _close(got, _reference(model, store, frame, ["c", "a"]))


# ---- 3. a 2-D array pairs by position, in the run's target order


def test_a_2d_array_is_one_column_per_target_in_the_runs_order(reg):
    model, store, frame, tmp = reg
    ref = _reference(model, store, frame, ["a", "b", "c"])
    block = frame[["a", "b", "c"]].to_numpy()  # store order, as the records
    _close(model.evaluate(store, block, verbose=False), ref)
    npy = tmp / "targets.npy"
    np.save(npy, block)
    _close(model.evaluate(store, npy, verbose=False), ref)
    with pytest.raises(UsageError, match="2 unnamed label columns, but the run has 3 targets") as e:
        model.evaluate(store, block[:, :2], verbose=False)
    assert "\n" not in str(e.value)
    with pytest.raises(UsageError, match="2-D array of one column per target"):
        model.evaluate(store, block[:, 0], verbose=False)


# ---- 4. multilabel: `[]` is the empty set in the `;` format


def lab_ids(n: int) -> np.ndarray:
    return np.asarray([f"r{i}" for i in range(n)], dtype=object)


def _lab(tmp: Path, cells: list, name: str = "ml.csv") -> L.Labels:
    path = tmp / name
    pd.DataFrame({"id": lab_ids(len(cells)), "labels": cells}).to_csv(path, index=False)
    return L.align(L.read_table(path), lab_ids(len(cells)), str(path), token=False)


def test_semicolon_empty_set_token_is_labelled_and_equals_the_indicator_format(tmp_path):
    lab = _lab(tmp_path, ["x;y", "[]", "y", " [] "])
    assert lab.labelled.all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no empty cell: nothing to warn of
        y, names = L.encode_multilabel(lab)
    assert names == ["x", "y"]
    path = tmp_path / "bin.csv"
    pd.DataFrame({"id": [f"r{i}" for i in range(4)], "x": [1, 0, 0, 0], "y": [1, 0, 1, 0]}).to_csv(path, index=False)
    ref, ref_names = L.encode_multilabel(L.align(L.read_table(path), lab_ids(4), str(path), token=False))
    assert ref_names == names and np.array_equal(y, ref)
    with pytest.raises(DataError, match=r"row 3: 'x;\[\]' holds \[\]"):
        L.encode_multilabel(_lab(tmp_path, ["y", "x;[]"], "mixed.csv"))


def test_empty_semicolon_cells_are_unlabelled_with_a_warning_saying_how_to_write_an_empty_set(tmp_path):
    lab = _lab(tmp_path, ["x", "", "y", ""])
    assert lab.labelled.tolist() == [True, False, True, False]
    with pytest.warns(UserWarning, match=r"2 record\(s\) have an empty multilabel cell \(first: row 3\).*write \[\]"):
        L.encode_multilabel(lab)


def test_predict_writes_the_empty_set_token_and_it_reads_back(tmp_path):
    from encoderkit.tasks.predict import prediction_frame
    from encoderkit.tasks.spec import TaskSpec

    spec = TaskSpec(type="multilabel", classes=["x", "y"])
    out = prediction_frame(spec, ["r0", "r1"], [np.asarray([0.9, 0.2]), np.asarray([0.1, 0.3])])
    assert out["prediction"].tolist() == ["x", "[]"]
    path = tmp_path / "pred.csv"
    out.to_csv(path, index=False)
    back = L.align(L.read_table(path), lab_ids(2), str(path), token=False, names=["prediction"])
    assert back.labelled.all()
    y, names = L.encode_multilabel(back)
    assert names == ["x"] and y.tolist() == [[1.0], [0.0]]


def test_multilabel_run_trains_on_empty_sets_and_scores_as_the_indicator_file(labelled_store, tmp_path):
    from encoderkit.infer import load

    store, ids, y, _ = labelled_store
    odd = np.arange(len(ids)) % 3 == 0
    sets = [";".join(n for n, on in (("stride", s), ("third", o)) if on) or "[]" for s, o in zip(y, odd)]
    assert sets.count("[]") > 20
    semi = tmp_path / "semi.csv"
    pd.DataFrame({"id": ids, "labels": sets}).to_csv(semi, index=False)
    binary = tmp_path / "binary.csv"
    truth = pd.DataFrame({"id": ids, "stride": y, "third": odd.astype(int)})
    truth.to_csv(binary, index=False)
    run = finetune(ft_overrides(store, str(tmp_path / "ml"), str(semi), steps=2,
                                **{"task.type": "multilabel", "task.val_fraction": 0.2, "train.eval_every": 2,
                                   "train.checkpoint_every": 0}))
    split = json.loads((run / "split.json").read_text())
    assert len(split["train"]) + len(split["val"]) == len(ids)  # no empty set dropped
    model = load(run)
    got = model.evaluate(store, semi, verbose=False)
    assert got == model.evaluate(store, binary, verbose=False)
    proba = model.predict(store).set_index("id").loc[ids, [f"proba_{c}" for c in model.spec.classes]]
    Y = truth[model.spec.classes].to_numpy()
    pred = (proba.to_numpy() >= 0.5).astype(int)
    assert got["records"] == len(ids)
    assert got["accuracy"] == pytest.approx(accuracy_score(Y, pred))
    assert got["macro_f1"] == pytest.approx(f1_score(Y, pred, average="macro", zero_division=0))


def test_indicator_file_without_a_class_column_or_with_an_unknown_label_is_refused(labelled_store, tmp_path):
    """A 0/1 file lacking a class's column was scored as if the class were never present
    (all zeros), and a ';' label the model has no output for was dropped: both refused."""
    from encoderkit.errors import DataError
    from encoderkit.infer import load

    store, ids, y, _ = labelled_store
    odd = (np.arange(len(ids)) % 3 == 0).astype(int)
    binary = tmp_path / "binary.csv"
    pd.DataFrame({"id": ids, "stride": y, "third": odd}).to_csv(binary, index=False)
    run = finetune(ft_overrides(store, str(tmp_path / "ml2"), str(binary), steps=2,
                                **{"task.type": "multilabel", "task.val_fraction": 0.2, "train.eval_every": 2,
                                   "train.checkpoint_every": 0}))
    model = load(run)
    lacking = tmp_path / "lacking.csv"
    pd.DataFrame({"id": ids, "stride": y, "other": odd}).to_csv(lacking, index=False)
    with pytest.raises(DataError, match="not a class of this model|no column for class 'third'"):
        model.evaluate(store, lacking, verbose=False)
    unknown = tmp_path / "unknown.csv"
    pd.DataFrame({"id": ids, "labels": ["stride;fourth" if v else "third" for v in y]}).to_csv(unknown, index=False)
    with pytest.raises(DataError, match="'fourth' is not a class of this model"):
        model.evaluate(store, unknown, verbose=False)


# ---- 5. task.label_column takes one column


def test_label_column_list_is_a_one_line_config_error(labelled_store, tmp_path):
    store, _, _, labels = labelled_store
    with pytest.raises(ConfigError, match=r"task.label_column takes one column.*\['Pulse', 'Waist'\].*"
                                          r"task.labels=<file>.*domain.drop_columns=\[Pulse,Waist\]") as e:
        finetune(ft_overrides(store, str(tmp_path / "x"), labels, steps=1,
                              **{"task.labels": "null", "task.label_column": "[Pulse,Waist]"}))
    assert isinstance(e.value, EncoderkitError) and "\n" not in str(e.value)
    assert not (tmp_path / "x").exists()
