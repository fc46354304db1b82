"""Tests that kill the mutants session 53's audit (A1) found surviving: each checks a silent
result against an independent reference (hand-built arrays, scikit-learn, pandas, the WSD
formula written out), so a wrong position, weight, statistic or rate fails here.

M07 sparse token labels packed to the front; M40 / M41 balanced class weights from all
records / never reaching the loss; M38 token-regression statistics from all records; M68 an
empty categorical fill counted as a hit; M01 binary AUROC on the wrong column; M34 the RNG
not restored on resume (only visible with dropout on); M32 the schedule read at ``step``
instead of ``step + 1`` (the first warmup step at rate 0)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import testdomain as td
from tests.tasks.conftest import ft_overrides, stride_labels


# ---- M07: long-format token labels with positions left out land on their positions ----

def test_sparse_token_labels_land_on_their_positions(tmp_path):
    from encoderkit.tasks import labels as L

    ids = np.asarray(["r1", "r2", "r3"], dtype=object)
    # rows out of order, gaps at the start, middle and between; r3 unlabelled
    rows = [("r2", 3, "y"), ("r1", 5, "y"), ("r1", 0, "x"), ("r2", 1, "x"), ("r1", 2, "x")]
    f = tmp_path / "tok.csv"
    pd.DataFrame(rows, columns=["id", "position", "label"]).to_csv(f, index=False)
    lab = L.align(L.read_table(str(f)), ids, str(f), token=True)
    classes = L.class_names(lab, True)
    assert classes == ["x", "y"]
    y = L.encode_classes(lab, classes, True)
    # hand-built: -1 where no label, the class code at each labelled position
    ref = {0: np.full(6, -1), 1: np.full(4, -1)}
    for rid, p, c in rows:
        ref[int(rid[1]) - 1][p] = classes.index(c)
    np.testing.assert_array_equal(np.asarray(y[0]), ref[0])
    np.testing.assert_array_equal(np.asarray(y[1]), ref[1])
    assert not lab.labelled[2] and lab.labelled[:2].all()

    # the same positions as numbers (token regression): NaN where no label
    g = tmp_path / "num.csv"
    pd.DataFrame({"id": ["r1", "r1"], "position": [4, 1], "label": [2.5, -1.0]}).to_csv(g, index=False)
    lab = L.align(L.read_table(str(g)), ids, str(g), token=True)
    v = np.asarray(L.encode_regression(lab, ids, True)[0], dtype=np.float64).reshape(-1)
    np.testing.assert_array_equal(v, [np.nan, -1.0, np.nan, np.nan, 2.5])


# ---- M40 / M41: task.class_weights=balanced reaches the loss, from the training split ----

@pytest.fixture(scope="module")
def balanced_run(tmp_path_factory):
    """A 2-step fine-tune with balanced class weights and the weights every classification
    loss call received (a spy on ``heads.classification_loss``)."""
    import encoderkit.tasks.heads as H
    from encoderkit.tasks import finetune

    tmp = tmp_path_factory.mktemp("balanced")
    store = td.write_store(tmp / "store.zarr", n=160, seed=1)
    ids, y = stride_labels(store)
    # imbalanced: most class-1 records relabelled 0, so the split's class shares differ from all
    y = np.where(np.arange(len(y)) % 5 == 0, y, 0)
    pd.DataFrame({"id": ids, "label": y}).to_csv(tmp / "labels.csv", index=False)
    seen: list = []
    orig = H.classification_loss

    def spy(logits, target, mask, class_weights=None):
        seen.append(None if class_weights is None else class_weights.detach().double().cpu().numpy().copy())
        return orig(logits, target, mask, class_weights)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(H, "classification_loss", spy)
        run = finetune(ft_overrides(store, str(tmp / "r"), str(tmp / "labels.csv"), steps=2, **{
            "task.class_weights": "balanced", "task.val_fraction": 0.3, "train.eval_every": 0}))
    return Path(run), ids, y, seen


def test_balanced_class_weights_reach_the_loss_from_the_training_split(balanced_run):
    from sklearn.utils.class_weight import compute_class_weight

    run, ids, y, seen = balanced_run
    split = json.loads((run / "split.json").read_text())
    pos = {r: i for i, r in enumerate(ids)}
    ytr = y[[pos[r] for r in split["train"]]]
    ref = compute_class_weight("balanced", classes=np.unique(ytr), y=ytr)
    on_all = compute_class_weight("balanced", classes=np.unique(y), y=y)
    assert np.abs(ref - on_all).max() > 1e-3  # the data tells the two apart
    assert seen, "the classification loss was never called"
    for w in seen:  # every call, the training steps' included (M41: None there)
        assert w is not None
        np.testing.assert_allclose(w, ref, rtol=1e-6)


# ---- M38: token-regression mean / std are the training split's ----

def test_token_regression_statistics_are_the_training_splits(tmp_path):
    from encoderkit.data.store import RecordStore
    from encoderkit.infer import load
    from encoderkit.tasks import finetune

    store = td.write_store(tmp_path / "store.zarr", n=160, seed=1)
    s = RecordStore(store)
    recs = [s[i] for i in range(len(s))]
    # every 7th record shifted by 100: the split's statistics differ clearly from all records'
    rows = [(r["id"], p, float(v) + 100.0 * (k % 7 == 0))
            for k, r in enumerate(recs) for p, v in enumerate(r["ids"])]
    frame = pd.DataFrame(rows, columns=["id", "position", "label"])
    frame.to_parquet(tmp_path / "l.parquet")
    run = finetune(ft_overrides(store, str(tmp_path / "r"), str(tmp_path / "l.parquet"), steps=1, **{
        "task.type": "token_regression", "task.val_fraction": 0.3, "train.eval_every": 0}))
    train = set(json.loads((Path(run) / "split.json").read_text())["train"])
    t = frame.loc[frame["id"].isin(train), "label"].astype(np.float64)
    assert abs(t.mean() - frame["label"].mean()) > 0.1  # the data tells the two apart
    spec = load(run).spec
    # population std (ddof=0), as the targets are standardised with
    assert spec.mean[0] == pytest.approx(t.mean(), rel=1e-9)
    assert spec.std[0] == pytest.approx(t.std(ddof=0), rel=1e-9)


# ---- M68: a held-back categorical cell a candidate leaves empty is a miss ----

def test_an_empty_categorical_fill_is_a_miss():
    from encoderkit.impute_cells import channels
    from encoderkit.impute_scores import score_holdout, score_written

    truth = pd.DataFrame({"c": pd.Series(["a", "b", "a", "b", "a", "b"], dtype=object)})
    ch = list(channels(truth, None))
    hide = {ch[0].name: np.array([True, True, True, True, False, False])}
    # the model: right, right, wrong, right on the 4 held-back cells -> 3/4
    model = list(channels(pd.DataFrame({"c": pd.Series(["a", "b", "b", "b", "a", "b"], dtype=object)}), None))
    # the baseline: right, empty, empty, right -> 2/4 (an empty cell is no hit)
    base = {ch[0].name: np.array(["a", None, None, "b", "a", "b"], dtype=object)}
    s = [x for x in score_holdout(ch, model, base, hide) if x.metric == "accuracy"]
    assert len(s) == 1 and s[0].cells == 4
    assert s[0].model == pytest.approx(0.75) and s[0].baseline == pytest.approx(0.5)
    # the written fill is scored the same way: empty everywhere held back -> 0/4
    written = list(channels(pd.DataFrame({"c": pd.Series([None, None, None, None, "a", "b"], dtype=object)}),
                            None))
    w = score_written(s, ch, model, written, hide)
    assert w[0].written == pytest.approx(0.0)


# ---- M01: AUROC of the positive class (binary), one-vs-rest mean (multi-class) ----

def test_classification_metrics_auroc_equals_scikit_learns():
    from sklearn.metrics import accuracy_score, roc_auc_score

    from encoderkit.tasks.metrics import classification_metrics

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p1 = np.clip(0.3 * y + 0.7 * rng.random(200), 0, 1)  # informative: AUROC well above 0.5
    proba = np.stack([1 - p1, p1], 1)
    got = classification_metrics(y, proba)
    assert got["auroc"] == pytest.approx(roc_auc_score(y, p1), abs=1e-12)
    assert got["auroc"] > 0.6
    assert got["accuracy"] == pytest.approx(accuracy_score(y, proba.argmax(1)))

    y3 = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3)) + 1.5 * np.eye(3)[y3]
    p3 = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    got = classification_metrics(y3, p3)
    assert got["auroc"] == pytest.approx(roc_auc_score(y3, p3, multi_class="ovr", average="macro"), abs=1e-12)


# ---- M34 / M32: pretraining's resume with dropout on, and the first warmup step's rate ----

@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return td.write_store(tmp_path_factory.mktemp("store") / "store.zarr", n=64)


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_exact_resume_is_bitwise_with_dropout(store, tmp_path):
    """As tests/train/test_trainer.py's test_exact_resume_is_bitwise, with dropout drawing from
    the torch RNG: a resume that does not restore the RNG state draws other masks."""
    from encoderkit.train import pretrain

    common = {"schedule.total": 4, "train.checkpoint_every": 2, "train.eval_every": 0,
              "model.mlp_dropout": 0.1}
    a = Path(pretrain(td.tiny_overrides(store, str(tmp_path / "a"), steps=4, **common)))
    b = tmp_path / "b"
    pretrain(td.tiny_overrides(store, str(b), steps=2, **common))
    assert not (b / "checkpoints" / "4").exists()
    b = Path(pretrain(td.tiny_overrides(store, str(b), steps=4, **common)))  # resumes from step 2
    wa = load_file(str(a / "checkpoints/4/model.safetensors"))
    wb = load_file(str(b / "checkpoints/4/model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_first_warmup_step_uses_the_documented_rate(store, tmp_path, monkeypatch):
    """WSD's warmup is linear from 0 to the peak; the trainer evaluates it at the progress the
    step reaches (step + 1), so step k of a 4-step warmup trains at k/4 of the peak."""
    from encoderkit.train import optim, pretrain

    rates: list[list[float]] = []
    orig = optim.StableAdamW.step

    def spy(self, *a, **k):
        rates.append([float(g["lr"]) for g in self.param_groups])
        return orig(self, *a, **k)

    monkeypatch.setattr(optim.StableAdamW, "step", spy)
    peak = 1e-2
    pretrain(td.tiny_overrides(store, str(tmp_path / "w"), steps=3, **{
        "schedule.total": 10, "schedule.warmup": 4, "schedule.decay": 2, "train.eval_every": 0,
        "train.checkpoint_every": 3, "optim.lr": peak}))
    assert len(rates) == 3
    for k, got in enumerate(rates, start=1):
        assert got == pytest.approx([peak * k / 4] * len(got), rel=1e-12), k
