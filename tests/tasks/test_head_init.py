"""``task.head_init=probe``: the classifier starts as a cross-validated linear probe of the
pretrained encoder's features. Checked against scikit-learn fitted independently: on the
same features the weights give the probe's probabilities (multi-class, binary, a class
absent from the training split, regression), and a run that does not move its weights
predicts what a probe on ``encoderkit.load(pretrained).embed`` predicts."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegressionCV, RidgeCV

from conftest import ft_overrides
from encoderkit.tasks import finetune
from encoderkit.tasks.head_init import CV_FOLDS, fit_linear, probe_indices
from encoderkit.train.config import ConfigError, compose_finetune

CS = np.logspace(-3, 3, 13)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def _reference(X: np.ndarray, y: np.ndarray, seed: int = 0) -> LogisticRegressionCV:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LogisticRegressionCV(Cs=CS, cv=CV_FOLDS, max_iter=3000, random_state=seed).fit(X, y)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_weights_give_the_probe_probabilities(n_classes):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 5)) * np.array([1.0, 0.01, 5.0, 1.0, 0.3]) + 2.0
    y = (X[:, 0] + 0.2 * X[:, 2] > 2.4).astype(int) if n_classes == 2 else rng.integers(0, 3, 90)
    W, b = fit_linear("classification", X, y, n_classes, seed=0)
    assert W.shape == (n_classes, 5) and b.shape == (n_classes,)
    np.testing.assert_allclose(_softmax(X @ W.T + b), _reference(X, y).predict_proba(X), atol=1e-9)


def test_a_class_absent_from_training_is_never_predicted():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 4))
    y = np.where(X[:, 0] > 0, 0, 2)  # class 1 of 3 has no training record
    W, b = fit_linear("classification", X, y, 3, seed=0)
    p = _softmax(X @ W.T + b)
    assert np.all(W[1] == 0) and p[:, 1].max() < 1e-10
    np.testing.assert_allclose(p[:, [0, 2]], _reference(X, y).predict_proba(X), atol=1e-9)


def test_class_weights_weigh_the_probe_as_scikit_learn_does():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] + 0.8 * rng.normal(size=120) > 1.0).astype(int)  # imbalanced, overlapping
    w = np.array([1.0, 4.0])
    W, b = fit_linear("classification", X, y, 2, seed=0, class_weights=w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = LogisticRegressionCV(Cs=CS, cv=CV_FOLDS, max_iter=3000, random_state=0,
                                   class_weight={0: 1.0, 1: 4.0}).fit(X, y)
    np.testing.assert_allclose(_softmax(X @ W.T + b), ref.predict_proba(X), atol=1e-9)
    W0, b0 = fit_linear("classification", X, y, 2, seed=0)
    unweighted = _softmax(X @ W0.T + b0)
    assert _softmax(X @ W.T + b)[:, 1].mean() > unweighted[:, 1].mean()  # the weight moved it


def test_a_large_split_is_subsampled_reproducibly():
    train = np.arange(5, 50_005)
    a, b = probe_indices(train, 0, limit=1_000), probe_indices(train, 0, limit=1_000)
    assert len(a) == 1_000 and np.array_equal(a, b) and np.all(np.diff(a) > 0)
    assert set(a.tolist()) <= set(train.tolist())
    assert not np.array_equal(a, probe_indices(train, 1, limit=1_000))
    assert np.array_equal(probe_indices(train[:10], 0, limit=1_000), train[:10])  # small: all


def test_regression_weights_give_the_ridge_predictions():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(80, 6))
    y = np.stack([X @ rng.normal(size=6), X[:, 0] - X[:, 1]], 1) + 0.1 * rng.normal(size=(80, 2))
    W, b = fit_linear("regression", X, y, 2, seed=0)
    ref = RidgeCV(alphas=np.logspace(-3, 4, 15)).fit(X, y)
    np.testing.assert_allclose(X @ W.T + b, ref.predict(X), atol=1e-9)


def test_unmoved_run_predicts_as_a_probe_on_the_pretrained_embeddings(labelled_store, tmp_path):
    import encoderkit
    from encoderkit.train import pretrain

    import testdomain as td

    store, ids, y, labels = labelled_store
    pre = pretrain(td.tiny_overrides(store, str(tmp_path / "pre"), steps=3))
    # lr 1e-30 and a frozen encoder: the saved classifier is the fitted one, to float32
    run = finetune(ft_overrides(store, str(tmp_path / "ft"), labels, steps=1, **{
        "checkpoint": str(pre), "task.head_init": "probe", "task.head": "linear",
        "task.freeze_encoder": "true", "optim.lr": 1e-30, "task.dropout": 0.0,
        "train.eval_every": 0, "train.checkpoint_every": 1}))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    split = json.loads((run / "split.json").read_text())
    assert [r["head_init_records"] for r in rows if "head_init_records" in r] == [len(split["train"])]

    X = np.asarray(encoderkit.load(pre).embed(store, pooling="mean"), dtype=np.float64)
    pos = {str(i): k for k, i in enumerate(ids)}
    train = np.array([pos[i] for i in split["train"]])
    probe = _reference(X[train], y[train])
    got = encoderkit.load(run).predict(store)
    got = got.set_index("id").loc[[str(i) for i in ids]]
    proba = got[[f"proba_{c}" for c in ("0", "1")]].to_numpy()
    np.testing.assert_allclose(proba, probe.predict_proba(X), atol=2e-4)
    assert (got["prediction"].astype(int).to_numpy() == probe.predict(X)).all()


def test_bad_values_are_config_errors(labelled_store, tmp_path):
    store, _, _, labels = labelled_store
    with pytest.raises(ConfigError, match="task.head_init"):
        compose_finetune(ft_overrides(store, str(tmp_path / "a"), labels, **{"task.head_init": "zeros"}))
    with pytest.raises(ConfigError, match="head_init=probe"):
        compose_finetune(ft_overrides(store, str(tmp_path / "b"), labels,
                                      **{"task.head_init": "probe", "task": "contrastive"}))
