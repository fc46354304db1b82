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


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_auto_head_follows_the_start(labelled_store, tmp_path):
    """``auto``: a pretrained checkpoint fine-tuned on one label per record starts from the
    probe at head_lr 1; from scratch, for a task without a linear probe, or with a sharded
    head, a random head at head_lr 10; a value the user gives wins. The head stays mlp."""
    from encoderkit.train import pretrain

    import testdomain as td

    store, _, _, labels = labelled_store
    pre = str(pretrain(td.tiny_overrides(store, str(tmp_path / "pre"), steps=1)))

    def task(**extra):
        cfg = compose_finetune(ft_overrides(store, str(tmp_path / "x"), labels, **extra))
        return cfg.task.head_init, cfg.task.head, cfg.task.head_lr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # model=... ignored with a checkpoint
        assert task(checkpoint=pre) == ("probe", "mlp", 1.0)
        assert task(checkpoint=pre, task="regression") == ("probe", "mlp", 1.0)
        assert task() == ("random", "mlp", 10.0)  # checkpoint=none
        assert task(checkpoint=pre, **{"task.head_init": "random"}) == ("random", "mlp", 10.0)
        assert task(checkpoint=pre, **{"task.head": "linear"}) == ("probe", "linear", 1.0)
        assert task(checkpoint=pre, **{"task.head_lr": 3}) == ("probe", "mlp", 3)
        assert task(checkpoint=pre, task="multilabel")[0] == "random"
        assert task(checkpoint=pre, **{"train.strategy": "fsdp"})[0] == "random"  # a sharded head
        with pytest.raises(ConfigError, match="task.head_lr"):
            task(checkpoint=pre, **{"task.head_lr": "fast"})


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_auto_pooling_and_dropout_are_the_domains_choice_for_the_probe_head(labelled_store, tmp_path,
                                                                           monkeypatch):
    """``task.pooling`` / ``task.dropout`` = ``auto``: mean and 0.1 (transformers' head), or
    with the probe start the domain's ``finetune_probe_head``; a value the user gives wins."""
    from domains.timeseries import TimeSeriesDomain
    from encoderkit.train import pretrain

    import testdomain as td

    store, _, _, labels = labelled_store
    pre = str(pretrain(td.tiny_overrides(store, str(tmp_path / "pre"), steps=1)))

    def task(**extra):
        cfg = compose_finetune(ft_overrides(store, str(tmp_path / "x"), labels, **extra))
        return cfg.task.pooling, cfg.task.dropout

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # model=... ignored with a checkpoint
        assert task(checkpoint=pre) == ("mean", 0.1)  # a domain without a choice
        monkeypatch.setattr(td.TrainTestDomain, "finetune_probe_head", {"pooling": "mean_std", "dropout": 0.0})
        assert task(checkpoint=pre) == ("mean_std", 0.0)
        assert task(checkpoint=pre, task="regression") == ("mean_std", 0.0)
        assert task() == ("mean", 0.1)  # from scratch: a random head
        assert task(checkpoint=pre, **{"task.head_init": "random"}) == ("mean", 0.1)
        assert task(checkpoint=pre, **{"task.pooling": "mean", "task.dropout": 0.2}) == ("mean", 0.2)
        with pytest.raises(ConfigError, match="task.dropout"):
            task(checkpoint=pre, **{"task.dropout": "some"})
    assert TimeSeriesDomain.finetune_probe_head == {"pooling": "mean_std", "dropout": 0.0}


def test_the_probe_start_is_evaluated_at_step_0_and_kept_unless_beaten(labelled_store, tmp_path):
    """Step 0's validation is the probe's (scikit-learn on ``load(pretrained).embed``), and
    best/ keeps that model while fine-tuning does not improve on it (here it cannot move)."""
    import torch
    from safetensors.torch import load_file
    from sklearn.metrics import log_loss

    import encoderkit
    from encoderkit.train import pretrain

    import testdomain as td

    store, ids, y, labels = labelled_store
    pre = pretrain(td.tiny_overrides(store, str(tmp_path / "pre"), steps=3))
    run = finetune(ft_overrides(store, str(tmp_path / "ft"), labels, steps=4, **{
        "checkpoint": str(pre), "task.head_init": "probe", "task.head": "linear",
        "task.freeze_encoder": "true", "optim.lr": 1e-30, "task.dropout": 0.0,
        "task.metric": "loss", "task.val_fraction": 0.3, "train.eval_every": 2,
        "optim.weight_decay": 0.0}))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in rows if "val_loss" in r]
    assert [r["step"] for r in val] == [0, 2, 4]

    split = json.loads((run / "split.json").read_text())
    X = np.asarray(encoderkit.load(pre).embed(store, pooling="mean"), dtype=np.float64)
    pos = {str(i): k for k, i in enumerate(ids)}
    train, held = (np.array([pos[i] for i in split[k]]) for k in ("train", "val"))
    probe = _reference(X[train], y[train])
    assert val[0]["val_loss"] == pytest.approx(log_loss(y[held], probe.predict_proba(X[held]), labels=[0, 1]),
                                               abs=2e-4)
    from encoderkit.tasks.cli import summary

    table = summary(run)  # the start, the last and the best evaluation, side by side
    assert "start (step 0)" in table and "last (step 4)" in table and "best (step 0)" in table
    # later evaluations tie the probe at best: best/ is the step-0 model
    state = json.loads((run / "best" / "state.json").read_text())
    assert state["step"] == 0 and state["best"]["value"] == val[0]["val_loss"]
    best = load_file(str(run / "best" / "model.safetensors"))
    last = load_file(str(run / "checkpoints" / "4" / "model.safetensors"))
    # the step-0 weights, not the last (lr 1e-30 moves the zero row by ~1e-29)
    assert not torch.equal(best["classifier.weight"], last["classifier.weight"])
    torch.testing.assert_close(best["classifier.weight"], last["classifier.weight"], atol=1e-20, rtol=1e-6)


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_resume_replays_the_step_0_evaluation(labelled_store, tmp_path):
    import torch
    from safetensors.torch import load_file

    from encoderkit.train import pretrain

    import testdomain as td

    store, _, _, labels = labelled_store
    pre = pretrain(td.tiny_overrides(store, str(tmp_path / "pre"), steps=3))
    common = {"checkpoint": str(pre), "task.head_init": "probe", "task.head": "linear",
              "schedule.total": 6, "train.checkpoint_every": 3, "train.eval_every": 3,
              "task.val_fraction": 0.3, "task.metric": "loss"}
    a = finetune(ft_overrides(store, str(tmp_path / "a"), labels, steps=6, **common))
    b = tmp_path / "b"
    finetune(ft_overrides(store, str(b), labels, steps=3, **common))
    finetune(ft_overrides(store, str(b), labels, steps=6, **common))  # resumes from step 3
    ma, mb = ((p / "metrics.jsonl").read_text().splitlines() for p in (a, b))
    strip = [{k: v for k, v in json.loads(x).items() if k != "tokens_per_s"} for x in ma]
    assert strip == [{k: v for k, v in json.loads(x).items() if k != "tokens_per_s"} for x in mb]
    assert sum("val_loss" in json.loads(x) and json.loads(x)["step"] == 0 for x in mb) == 1
    for name in ("best/model.safetensors", "checkpoints/6/model.safetensors"):
        wa, wb = load_file(str(a / name)), load_file(str(b / name))
        assert all(torch.equal(wa[k], wb[k]) for k in wa), name
    assert (json.loads((a / "best/state.json").read_text())["step"]
            == json.loads((b / "best/state.json").read_text())["step"])
