"""A fine-tuned model's class predictions come back in the labels' own kind, and a table
with a repeated index is said to get positional ids. Found by a Python API audit (s43):
``(m.predict(X)["prediction"] == y).mean()`` was 0.0 for int labels (predictions were the
text '0' / '1') when the accuracy was 0.917; a repeated index silently got ids by position."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from encoderkit.tasks import labels as L
from tests.domains.sample_store import TINY_MODEL, ingest_sample

pytest.importorskip("domains.tabular")

FAST = ["checkpoint=none", "domain=tabular", "task.ensemble=1", "train.steps=2", "train.eval_every=2",
        "train.checkpoint_every=0", "train.progress=false", "run.device=cpu", "data.max_tokens=512",
        "data.max_seqlen=64", *TINY_MODEL]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ingest_sample("tabular", tmp_path_factory.mktemp("kinds"))


@pytest.fixture(scope="module")
def run(store, tmp_path_factory):
    from encoderkit.tasks import finetune

    tmp = tmp_path_factory.mktemp("kinds_ft")
    return finetune([*FAST, f"data.store={store}", f"run.dir={tmp / 'ft'}", "task.label_column=vote"])


@pytest.fixture(scope="module")
def table():
    from domains.tabular.domain import sample_frame

    return sample_frame().iloc[:40]


def test_int_labels_predict_ints_the_cli_writes_the_same_text_and_evaluate_matches(run, table, tmp_path):
    from encoderkit.cli import main
    from encoderkit.infer import load

    model = load(run)
    assert model.spec.class_kind == "int"
    out = model.predict(table)
    assert out["prediction"].dtype == np.int64
    y = table["vote"]
    acc = float((out["prediction"] == y).mean())
    assert acc == pytest.approx(float((out["prediction"].astype(str) == y.astype(str)).mean()))
    assert list(out.filter(like="proba_").columns) == ["proba_0", "proba_1"]  # names stay text
    m = model.evaluate(table, y, verbose=False)
    assert m["accuracy"] == pytest.approx(acc)
    for given in (y.astype(str), y.astype(float), y.to_numpy(), [str(v) for v in y]):
        assert model.evaluate(table, given, verbose=False) == m
    raw = tmp_path / "raw.csv"
    table.to_csv(raw, index=False)
    assert main(["predict", f"checkpoint={run}", f"input={raw}", f"output={tmp_path / 'p.csv'}"]) == 0
    text = pd.read_csv(tmp_path / "p.csv", dtype=str)["prediction"]
    assert set(text) <= {"0", "1"} and text.tolist() == out["prediction"].astype(str).tolist()


def test_a_run_saved_before_the_kind_was_recorded_reads_int_names_as_ints(run, table, tmp_path):
    """Old runs have no class_kind: every class written as an int ('0', '1') -> ints."""
    import shutil

    from encoderkit.infer import load
    from encoderkit.train.checkpoint import MANIFEST_FILE

    old = tmp_path / "old"
    shutil.copytree(run, old)
    for state in old.rglob("state.json"):
        d = json.loads(state.read_text())
        if "task" in d:
            d["task"].pop("class_kind", None)
            state.write_text(json.dumps(d))
            (state.parent / MANIFEST_FILE).unlink(missing_ok=True)  # as a run saved before manifests
    model = load(old)
    assert model.spec.class_kind == ""
    assert model.predict(table)["prediction"].dtype == np.int64


def test_csv_labels_of_0_1_predict_ints(store, table, tmp_path):
    from encoderkit.data.store import RecordStore
    from encoderkit.infer import load
    from encoderkit.tasks import finetune

    n = len(RecordStore(store))
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"label": np.arange(n) % 2}).to_csv(labels, index=False)
    run = finetune([*FAST, f"data.store={store}", f"run.dir={tmp_path / 'ft'}", f"task.labels={labels}"])
    model = load(run)
    assert model.spec.class_kind == "int"
    assert set(model.predict(table)["prediction"]) <= {0, 1}


def _labels(values) -> L.Labels:
    return L.Labels(values=list(values), labelled=np.asarray([not L.is_missing(v) for v in values]))


@pytest.mark.parametrize("values, kind, typed", [
    ([0, 1, 1, None], "int", [0, 1]),
    ([np.int64(-3), np.int64(12)], "int", [-3, 12]),
    ([0, 2**63], "int", [0, 2**63]),  # beyond int64: Python ints, not a float
    (["0", "1", "12"], "int", [0, 1, 12]),  # a CSV labels file's cells
    (["01", "1"], "str", ["01", "1"]),  # '01' is not an int as written: stays text
    (["-0", "0"], "str", ["-0", "0"]),
    (["1.0", "2.0"], "str", ["1.0", "2.0"]),
    ([0.5, 1.0, float("nan")], "float", [0.5, 1.0]),
    ([1, 2.5], "float", [1.0, 2.5]),
    ([True, False, np.bool_(True)], "bool", [False, True]),
    (["b", "a"], "str", ["a", "b"]),
    ([1, "a"], "str", ["1", "a"]),
])
def test_class_kind_and_values_name_the_classes_back(values, kind, typed):
    labels = _labels(values)
    classes = L.class_names(labels, token=False)
    assert L.class_kind(labels, classes, token=False) == kind
    got = L.class_values(classes, kind)
    assert got.tolist() == typed and [type(v) for v in got.tolist()] == [type(v) for v in typed]
    assert [L._class_name(v) for v in got] == classes  # evaluate reads a prediction back as its class


def test_prediction_frame_kinds_and_what_the_cli_writes():
    from encoderkit.tasks.predict import as_written, prediction_frame
    from encoderkit.tasks.spec import TaskSpec

    outs = [np.array([0.2, 0.8]), np.array([0.9, 0.1])]
    for kind, classes, want, text in [("float", ["0.5", "1"], [1.0, 0.5], ["1", "0.5"]),
                                      ("bool", ["false", "true"], [True, False], ["true", "false"]),
                                      ("str", ["a", "b"], ["b", "a"], ["b", "a"]),
                                      ("", ["a", "b"], ["b", "a"], ["b", "a"])]:
        spec = TaskSpec(type="classification", classes=classes, class_kind=kind)
        frame = prediction_frame(spec, ["r0", "r1"], outs)
        assert frame["prediction"].tolist() == want, kind
        assert as_written(frame, spec)["prediction"].tolist() == text, kind
    empty = prediction_frame(TaskSpec(type="classification", classes=["0", "1"], class_kind="int"), [], [])
    assert len(empty) == 0 and empty["prediction"].dtype == np.int64
    tokens = TaskSpec(type="token_classification", classes=["0", "1"], class_kind="int")
    frame = prediction_frame(tokens, ["r0"], [np.array([[0.1, 0.9], [0.7, 0.3]])])
    assert frame["prediction"].tolist() == [1, 0] and frame["position"].tolist() == [0, 1]
    multi = TaskSpec(type="multilabel", classes=["x", "y"])
    assert prediction_frame(multi, ["r0"], [np.array([0.9, 0.2])])["prediction"].tolist() == ["x"]


def test_a_repeated_index_warns_that_ids_are_positions(run, table):
    from encoderkit.infer import load

    model = load(run)
    dup = table.set_axis([i // 2 for i in range(len(table))])
    with pytest.warns(UserWarning, match=r"index repeats labels \(such as 0\).*by position") as said:
        out = model.predict(dup)
    assert len([w for w in said if "index repeats" in str(w.message)]) == 1
    assert out.index.equals(dup.index) and out["id"].tolist()[:3] == ["row0", "row1", "row2"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a unique index: ids by label, nothing said
        assert model.predict(table.iloc[[15, 3]])["id"].tolist() == ["row15", "row3"]
