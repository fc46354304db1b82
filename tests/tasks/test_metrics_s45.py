"""What the printed task metrics mean (audit s45): macro-F1 over the classes in the truth or
the predictions (scikit-learn's definition), AUROC one-vs-rest over the classes with a
labelled record and said so by ``evaluate``, the finetune summary's sentence on what the
kept probe member was fitted on, and the held-out benchmark's NRMSE definition. Checked
against scikit-learn computed here, and against the run's own split files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, roc_auc_score

import encoderkit
from conftest import ft_overrides
from encoderkit.tasks import ensemble as E
from encoderkit.tasks import finetune
from encoderkit.tasks.metrics import absent_classes, auroc_note, classification_metrics

ROOT = Path(__file__).resolve().parents[2]


def _onehot_proba(pred: np.ndarray, n: int) -> np.ndarray:
    p = np.full((len(pred), n), 0.1 / (n - 1))
    p[np.arange(len(pred)), pred] = 0.9
    return p


# ---------------------------------------------------------------------------
# 1. macro-F1: the union of true and predicted classes


def test_macro_f1_penalises_a_predicted_class_the_truth_lacks():
    """The audit's case: y=[0,0,1,1,0,1], class 2 predicted twice. Over the truth's classes
    alone it was 0.800; scikit-learn's default (truth U predictions) gives 0.533."""
    y = np.array([0, 0, 1, 1, 0, 1])
    pred = np.array([0, 2, 1, 1, 0, 2])
    got = classification_metrics(y, _onehot_proba(pred, 3))
    ref = f1_score(y, pred, average="macro")
    # by hand: class 0 P=1 R=2/3 F1=0.8; class 1 P=1 R=2/3 F1=0.8; class 2 P=0 F1=0 -> 1.6/3
    assert ref == pytest.approx(1.6 / 3)
    assert got["macro_f1"] == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_macro_f1_and_mcc_match_scikit_learn_defaults_on_random_draws(seed):
    from sklearn.metrics import accuracy_score, matthews_corrcoef

    rng = np.random.default_rng(seed)
    n_classes = 5
    y = rng.integers(0, 3, 40)  # classes 3 and 4 never true, sometimes predicted
    proba = rng.dirichlet(np.ones(n_classes), 40)
    pred = proba.argmax(1)
    got = classification_metrics(y, proba)
    assert got["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro", zero_division=0), rel=1e-12)
    assert got["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert got["mcc"] == pytest.approx(matthews_corrcoef(y, pred))


# ---------------------------------------------------------------------------
# 3. AUROC over the classes present, and evaluate's note


def test_auroc_is_scikit_learns_ovr_with_every_class_and_over_the_present_ones_without():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), 60)
    y = rng.integers(0, 4, 60)
    y[:4] = [0, 1, 2, 3]
    full = classification_metrics(y, proba)["auroc"]
    assert full == pytest.approx(roc_auc_score(y, proba, multi_class="ovr", labels=[0, 1, 2, 3]), rel=1e-12)
    part = np.where(y == 3, 1, y)  # no record of class 3
    ref = np.mean([roc_auc_score(part == k, proba[:, k]) for k in (0, 1, 2)])
    got = classification_metrics(part, proba)
    assert got["auroc"] == pytest.approx(ref, rel=1e-12)  # was NaN
    assert absent_classes(part, 4) == [3]
    note = auroc_note(part, ["a", "b", "c", "d"])
    assert note is not None and "'d'" in note and "3 classes" in note and "left out" in note
    assert auroc_note(y, ["a", "b", "c", "d"]) is None
    one = np.zeros(10, np.int64)  # one class: nothing to rank
    assert np.isnan(classification_metrics(one, proba[:10])["auroc"])
    assert "undefined" in auroc_note(one, ["a", "b", "c", "d"])
    binary = np.zeros(10, np.int64)
    assert np.isnan(classification_metrics(binary, np.tile([0.7, 0.3], (10, 1)))["auroc"])
    assert "class 'x'" in auroc_note(binary, ["x", "y"])


@pytest.fixture(scope="module")
def three_class_run(labelled_store, tmp_path_factory):
    store, ids, y, _ = labelled_store
    tmp = tmp_path_factory.mktemp("m3")
    y3 = np.where((y == 1) & (np.arange(len(y)) % 2 == 0), 2, y)
    labels = tmp / "y3.csv"
    pd.DataFrame({"id": ids, "label": y3}).to_csv(labels, index=False)
    run = finetune(ft_overrides(store, str(tmp / "run"), str(labels), steps=2,
                                **{"task.val_fraction": 0.25}))
    return run, store, ids, y3, tmp


def test_evaluate_reports_auroc_over_the_classes_present_and_names_the_absent(three_class_run, capsys):
    """``encoderkit evaluate`` on labels without class '2': the one-vs-rest AUROC over
    classes '0' and '1' from the predictions' probabilities, and one line naming '2' (it
    printed a bare "auroc nan")."""
    from encoderkit import cli

    run, store, ids, y3, tmp = three_class_run
    keep = y3 != 2
    part = tmp / "no2.csv"
    pd.DataFrame({"id": ids, "label": np.where(keep, y3.astype(str), "")}).to_csv(part, index=False)
    pred = encoderkit.load(run).predict(store).set_index("id").loc[[str(i) for i in ids]]
    proba = pred[[f"proba_{c}" for c in ("0", "1", "2")]].to_numpy()[keep]
    truth = y3[keep]
    ref = np.mean([roc_auc_score(truth == k, proba[:, k]) for k in (0, 1)])
    capsys.readouterr()
    assert cli.main(["evaluate", f"checkpoint={run}", f"input={store}", f"labels={part}"]) == 0
    out = capsys.readouterr().out
    auroc = [ln for ln in out.splitlines() if ln.startswith("auroc ")]
    assert auroc and float(auroc[0].split()[1]) == pytest.approx(ref, abs=5e-5)
    assert "nan" not in auroc[0]
    note = [ln for ln in out.splitlines() if ln.startswith("auroc:")]
    assert len(note) == 1 and "'2'" in note[0] and "2 classes" in note[0]
    got = encoderkit.load(run).evaluate(store, str(part), verbose=False)
    assert got["auroc"] == pytest.approx(ref, rel=1e-9)
    # every class labelled: no note
    capsys.readouterr()
    full = tmp / "all.csv"
    pd.DataFrame({"id": ids, "label": y3}).to_csv(full, index=False)
    assert cli.main(["evaluate", f"checkpoint={run}", f"input={store}", f"labels={full}"]) == 0
    assert "auroc:" not in capsys.readouterr().out


# ---------------------------------------------------------------------------
# 2. the finetune summary's sentence on the kept probe member


@pytest.fixture(scope="module")
def pretrained(labelled_store, tmp_path_factory):
    import testdomain as td
    from encoderkit.train import pretrain

    return pretrain(td.tiny_overrides(labelled_store[0], str(tmp_path_factory.mktemp("pre") / "pre"), steps=3))


def _summary(run: Path, monkeypatch, capsys) -> str:
    """The finetune command's printed summary of the finished ``run`` (the probe averaged
    in at 1/6 where validation chose 0, so that the sentence is printed)."""
    import encoderkit.tasks as tasks
    from encoderkit.tasks import cli as tcli

    manifest = json.loads((run / E.MANIFEST).read_text())
    if not manifest["probe"]["weight"]:
        manifest["probe"]["weight"] = 1 / 6
        manifest["members"] = manifest["members"] + ["members/probe"]
        manifest["weights"] = [5 / 12, 5 / 12, 1 / 6]
        (run / E.MANIFEST).write_text(json.dumps(manifest))
    assert manifest.get("val_with_probe")
    capsys.readouterr()
    with monkeypatch.context() as m:  # the command's own finetune call: this finished run
        m.setattr(tasks, "finetune", lambda argv: run)
        assert tcli._finetune([]) == 0
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_the_summary_says_what_the_kept_probe_saw(labelled_store, pretrained, tmp_path, monkeypatch, capsys):
    """val_fraction: the kept probe was fitted on every labelled record, validation too.
    task.split: on the split file's training part only (it said "every labelled record,
    these validation records too" in both cases)."""
    store, ids, y, labels = labelled_store
    common = {"checkpoint": str(pretrained), "task.ensemble": 2}
    run = finetune(ft_overrides(store, str(tmp_path / "frac"), str(labels), steps=2,
                                **common, **{"task.val_fraction": 0.25}))
    root = json.loads((run / "split.json").read_text())
    probe = json.loads((run / "members" / "probe" / "split.json").read_text())
    assert sorted(probe["train"]) == sorted(root["train"] + root["val"])  # what the code does
    said = _summary(run, monkeypatch, capsys)
    assert f"fitted on every labelled record, {len(probe['train'])} records, these validation records too" in said

    split = tmp_path / "split.csv"
    which = np.where(np.arange(len(ids)) % 4 == 0, "val", np.where(np.arange(len(ids)) % 4 == 1, "test", "train"))
    pd.DataFrame({"id": ids, "split": which}).to_csv(split, index=False)
    run = finetune(ft_overrides(store, str(tmp_path / "file"), str(labels), steps=2,
                                **common, **{"task.split": str(split)}))
    probe = json.loads((run / "members" / "probe" / "split.json").read_text())
    train = sorted(str(i) for i, w in zip(ids, which) if w == "train")
    assert sorted(probe["train"]) == train  # the probe never saw a validation or test record
    said = _summary(run, monkeypatch, capsys)
    assert "every labelled record" not in said
    assert f"fitted on its training part only, {len(train)} records" in said


# ---------------------------------------------------------------------------
# 4. the held-out benchmark's NRMSE as written


def test_heldout_benchmark_nrmse_is_over_the_scored_rows_sd_as_its_docstring_says():
    spec = importlib.util.spec_from_file_location("heldout", ROOT / "benchmarks" / "tabular_infill_heldout.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rng = np.random.default_rng(0)
    truth = pd.DataFrame({"a": rng.normal(0, 3, 30), "b": rng.normal(5, 1, 30)})
    test = truth.mask(rng.random(truth.shape) < 0.3)
    filled = test.fillna(0.0)
    hidden = test.isna().to_numpy()
    sd = truth.to_numpy().std(axis=0, ddof=1)  # of the scored rows' true values, not a whole table's
    ref = np.sqrt(np.mean((((filled.to_numpy() - truth.to_numpy()) / sd)[hidden]) ** 2))
    assert mod.nrmse(filled, test, truth) == pytest.approx(ref, rel=1e-12)
    doc = " ".join(mod.__doc__.split())
    assert "the table's standard deviation" not in doc
    assert "standard deviation in the true values of the rows scored" in doc and "30% part" in doc
