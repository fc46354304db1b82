"""finetune / predict / evaluate with unusual inputs (fourth sweep): a failure before the
first checkpoint leaves no run directory, predictions go into a folder that does not exist
yet, and evaluate reads labels written by another tool the way finetune read them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import ft_overrides
from encoderkit.errors import DataError
from encoderkit.tasks import finetune
from encoderkit.tasks import labels as L
from encoderkit.tasks.predict import write_frame


def test_a_failure_that_is_no_user_error_leaves_no_run_directory(labelled_store, tmp_path, monkeypatch):
    """Only an ``EncoderkitError`` removed the fresh run directory; scikit-learn's error on a
    split (val_fraction=0.999) left config and metrics of a run with no checkpoint."""
    store, _, _, labels = labelled_store

    def boom(*_a, **_k):
        raise ValueError("a library error")

    monkeypatch.setattr(L, "split_labelled", boom)
    with pytest.raises(ValueError, match="a library error"):
        finetune(ft_overrides(store, str(tmp_path / "ft"), str(labels), steps=1))
    assert not (tmp_path / "ft").exists()


def test_predictions_are_written_into_a_folder_that_does_not_exist(tmp_path):
    """embed and infill make the folder; predict failed after predicting every record."""
    out = write_frame(pd.DataFrame({"id": ["a"], "prediction": [1]}), tmp_path / "new" / "deeper" / "p.csv")
    assert pd.read_csv(out)["prediction"].tolist() == [1]


def test_evaluate_reads_bools_nullable_and_in_memory_labels(labelled_store, tmp_path):
    """A model trained on Parquet bools evaluates the same labels written by pandas to a CSV
    (True / False); pd.NA is unlabelled; an error on labels given in memory names no
    DataFrame dump as its file."""
    import encoderkit

    store, ids, y, _ = labelled_store
    pq = tmp_path / "bool.parquet"
    pd.DataFrame({"id": ids, "label": y.astype(bool)}).to_parquet(pq)
    run = finetune(ft_overrides(store, str(tmp_path / "ft"), str(pq), steps=1))
    model = encoderkit.load(run)
    csv = tmp_path / "bool.csv"
    pd.DataFrame({"id": ids, "label": y.astype(bool)}).to_csv(csv, index=False)
    assert model.evaluate(store, csv, verbose=False) == model.evaluate(store, pq, verbose=False)
    nullable = pd.DataFrame({"id": ids, "label": pd.array([bool(v) if i % 2 else None for i, v in enumerate(y)],
                                                          dtype="boolean")})
    assert model.evaluate(store, nullable, verbose=False)["records"] == len(ids) // 2
    with pytest.raises(DataError, match=r"^labels \(given in memory\): has 2 label rows"):
        model.evaluate(store, [True, False], verbose=False)


def test_predict_refuses_to_write_over_its_input(tmp_path, capsys):
    """output=<the input table> overwrite=true replaced the user's data with predictions
    (infill and impute refuse it)."""
    from encoderkit.cli import main

    data = tmp_path / "table.csv"
    data.write_text("a,b\n1,2\n")
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    for out in (data, link, tmp_path / "sub" / ".." / "table.csv"):
        rc = main(["predict", f"checkpoint={tmp_path / 'run'}", f"input={data}", f"output={out}",
                   "overwrite=true"])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("error:") == 1 and "output is the input file" in err, err
    assert data.read_text() == "a,b\n1,2\n"


@pytest.mark.parametrize("key,value,needle", [
    ("task.metric", "nosuch", "task.metric"),  # was accepted: no best/ ever, no early stop
    ("task.metric", "r2", "task.type=classification"),  # a regression metric on a classifier
    ("task.seed", "-1", "task.seed"),  # was scikit-learn's random_state message, exit 1
    ("task.seed", str(2 ** 32), "task.seed"),
])
def test_config_refuses_a_metric_validation_never_reports_and_a_bad_seed(labelled_store, tmp_path,
                                                                          key, value, needle):
    from encoderkit.train.config import ConfigError, compose_finetune

    store, _, _, labels = labelled_store
    with pytest.raises(ConfigError, match=needle):
        compose_finetune(ft_overrides(store, str(tmp_path / "a"), str(labels), **{key: value}))


def test_the_metric_names_are_those_validation_reports(labelled_store, tmp_path):
    from encoderkit.tasks.metrics import METRICS, task_metrics
    from encoderkit.tasks.spec import TaskSpec
    from encoderkit.train.config import compose_finetune

    rng = np.random.default_rng(0)
    y = np.asarray([0, 1, 2, 0, 1, 2])
    for kind, y_true, out in (("classification", y, rng.random((6, 3))),
                              ("multilabel", np.eye(3)[y], rng.random((6, 3))),
                              ("regression", rng.random((6, 1)), rng.random((6, 1)))):
        assert set(METRICS[kind]) == {"loss", *task_metrics(TaskSpec(type=kind), y_true, out)}, kind
    store, _, _, labels = labelled_store
    cfg = compose_finetune(ft_overrides(store, str(tmp_path / "a"), str(labels),
                                        **{"task.type": "regression", "task.metric": "rmse"}))
    assert cfg.task.metric == "rmse"


@pytest.mark.parametrize("weights", [[1.0, float("nan")], [1.0, float("inf")], [0.0, 0.0]])
def test_class_weights_that_make_the_loss_nan_are_refused(weights):
    """NaN / inf / all-zero weights passed, and training stopped at step 1 on a NaN loss."""
    from encoderkit.errors import UsageError

    with pytest.raises(UsageError, match="finite non-negative floats"):
        L.class_weights(weights, np.asarray([0, 1, 1]), 2)
