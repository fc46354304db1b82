"""Fine-tuning audit s44 (a labelled-data user): per-target regression metrics beside the
means over targets (and a scale-free best/ choice), classes without a training record,
evaluate on a ``task.label_column`` run's raw table (no "columns ignored" warning) and
store (its column), numeric classes matched by value (a CSV's ``1.0`` is the class ``1``),
case variants of a class, a constant regression target, labels-file rows named as the file
shows them, and export-hf's ``encoderkit_tokenizer.json`` recipe; from the review of those
fixes: int classes matched exactly past 2**53, best/ selection kept over a resume, the
constant-target warning said once and filtered by its own words. References:
scikit-learn's metrics on the run's own ``predict`` output, hand-built files."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, mean_absolute_error, mean_squared_error, r2_score

from conftest import ft_overrides
from encoderkit import cli
from encoderkit.errors import DataError, UsageError
from encoderkit.tasks import finetune
from encoderkit.tasks import labels as L
from tests.domains.sample_store import TINY_MODEL

TAB = ["checkpoint=none", "domain=tabular", "train.checkpoint_every=0", "train.progress=false",
       "run.device=cpu", "data.max_tokens=512", "data.max_seqlen=64", "task.ensemble=1", *TINY_MODEL]


def _ft(store, tmp: Path, name: str, labels: Path | str, steps: int = 3, **extra) -> Path:
    return finetune(ft_overrides(store, str(tmp / name), str(labels), steps=steps,
                                 **{"train.eval_every": steps, "train.checkpoint_every": 0, **extra}))


def _messages(record) -> str:
    return "\n".join(str(w.message) for w in record)


# ---------------------------------------------------------------------------
# 1. multi-target regression: per-target figures beside the means


def test_regression_metrics_report_each_target_as_scikit_learn_does():
    rng = np.random.default_rng(0)
    y = np.stack([rng.normal(1000, 300, 50), rng.uniform(0, 1, 50)], 1)
    pred = y + np.stack([rng.normal(0, 200, 50), rng.normal(0, 0.05, 50)], 1)
    y[3, 1] = np.nan  # a missing target: scored over the others
    from encoderkit.tasks.metrics import regression_metrics

    out = regression_metrics(y, pred, ["count", "frac"])
    per = {}
    for j, name in enumerate(["count", "frac"]):
        ok = ~np.isnan(y[:, j])
        per[name] = (np.sqrt(mean_squared_error(y[ok, j], pred[ok, j])),
                     mean_absolute_error(y[ok, j], pred[ok, j]), r2_score(y[ok, j], pred[ok, j]))
        for k, m in enumerate(("rmse", "mae", "r2")):
            assert out[f"{m}/{name}"] == pytest.approx(per[name][k], rel=1e-12)
    for k, m in enumerate(("rmse", "mae", "r2")):  # the headline: the unweighted mean
        assert out[m] == pytest.approx((per["count"][k] + per["frac"][k]) / 2, rel=1e-12)
    assert set(regression_metrics(y[:, :1], pred[:, :1], ["count"])) == {"rmse", "mae", "r2"}


@pytest.fixture(scope="module")
def two_targets(labelled_store, tmp_path_factory):
    """A 2-target run: a count in the thousands beside a fraction."""
    from encoderkit.data.store import RecordStore

    store, ids, y, _ = labelled_store
    tmp = tmp_path_factory.mktemp("s44reg")
    s = RecordStore(store)
    length = np.asarray([len(s[i]["ids"]) for i in range(len(s))], dtype=float)
    frame = pd.DataFrame({"id": ids, "count": 2000.0 + 800.0 * y + 3 * length,
                          "frac": 0.3 + 0.4 * y + 0.001 * np.arange(len(ids))})
    labels = tmp / "y2.csv"
    frame.to_csv(labels, index=False)
    run = _ft(store, tmp, "run", labels, **{"task.type": "regression", "task.val_fraction": 0.25})
    return run, store, frame, tmp


def test_per_target_metrics_in_metrics_jsonl_summary_and_evaluate(two_targets, capsys):
    from encoderkit.infer import load
    from encoderkit.tasks.cli import summary

    run, store, frame, tmp = two_targets
    history = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    val = [h for h in history if "val_r2" in h][-1]
    for name in ("count", "frac"):
        for m in ("rmse", "mae", "r2"):
            assert f"val_{m}/{name}" in val
    assert val["val_rmse"] == pytest.approx((val["val_rmse/count"] + val["val_rmse/frac"]) / 2)
    assert "r2/frac" in summary(run)
    model = load(run)
    capsys.readouterr()
    got = model.evaluate(store, frame)
    printed = capsys.readouterr().out
    assert "rmse/count" in printed and "r2/frac" in printed
    pred = model.predict(store)
    truth = frame.set_index("id").loc[pred["id"]]
    for name in ("count", "frac"):
        ref = np.sqrt(mean_squared_error(truth[name], pred[f"prediction_{name}"]))
        assert got[f"rmse/{name}"] == pytest.approx(ref, rel=1e-6)
        assert got[f"r2/{name}"] == pytest.approx(r2_score(truth[name], pred[f"prediction_{name}"]),
                                                  rel=1e-6, abs=1e-9)
    # one target scored alone: its own figures, nothing per target
    alone = model.evaluate(store, frame, label_names=["frac"], verbose=False)
    assert alone["rmse"] == pytest.approx(got["rmse/frac"], rel=1e-9) and "rmse/frac" not in alone


def test_rmse_selection_of_several_targets_is_scale_free(two_targets):
    """task.metric=rmse over targets in different units: the mean RMSE is decided by the
    count alone; best/ compares each target's RMSE over its training std, averaged."""
    from encoderkit.tasks.objective import TaskObjective
    from encoderkit.tasks.spec import TaskSpec

    obj = object.__new__(TaskObjective)
    obj.spec = TaskSpec(type="regression", targets=["count", "frac"], mean=[2000.0, 0.5], std=[400.0, 0.2])
    obj.metric = "rmse"
    val = {"val_rmse": 150.05, "val_rmse/count": 300.0, "val_rmse/frac": 0.1}
    assert obj.selection_value(val) == pytest.approx((300.0 / 400.0 + 0.1 / 0.2) / 2)
    # a checkpoint far better on frac and slightly worse on count wins (the raw mean says otherwise)
    other = {"val_rmse": 155.0, "val_rmse/count": 310.0, "val_rmse/frac": 0.01}
    assert other["val_rmse"] > val["val_rmse"] and obj.selection_value(other) < obj.selection_value(val)
    obj.metric, obj.selection = "r2", None  # the default (another run): a mean of scale-free R^2, as logged
    assert obj.selection_value({"val_r2": 0.4, "val_r2/count": 0.1}) == 0.4


# ---------------------------------------------------------------------------
# 2. a class without a training record


def test_a_class_only_outside_training_is_warned_of_naming_the_splits(labelled_store, tmp_path):
    store, ids, y, _ = labelled_store
    cls = np.asarray(y).astype(str).astype(object)
    cls[[5, 6, 7]] = "9"
    split = np.asarray(["train"] * len(ids), dtype=object)
    split[100:130] = "val"
    split[130:] = "test"
    split[[5, 6, 7]] = ["val", "test", "test"]
    pd.DataFrame({"id": ids, "label": cls}).to_csv(tmp_path / "y.csv", index=False)
    pd.DataFrame({"id": ids, "split": split}).to_csv(tmp_path / "split.csv", index=False)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _ft(store, tmp_path, "val9", tmp_path / "y.csv", steps=1, **{"task.split": tmp_path / "split.csv"})
    said = _messages(record)
    assert "no training record of class '9'" in said
    assert "1 in the validation split" in said and "2 in the test split" in said
    # class only in test: named as lacking from training and validation, training first
    split[5] = "test"
    pd.DataFrame({"id": ids, "split": split}).to_csv(tmp_path / "split.csv", index=False)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _ft(store, tmp_path, "test9", tmp_path / "y.csv", steps=1, **{"task.split": tmp_path / "split.csv"})
    said = _messages(record)
    assert "not in the training and validation splits" in said and "3 in the test split" in said
    # the validation warning does not blame the validation split alone for it
    assert "no record of class '9'" not in said


def test_untrained_class_of_records_in_no_split():
    from encoderkit.tasks.objective import untrained_classes
    from encoderkit.tasks.spec import TaskSpec

    spec = TaskSpec(type="classification", classes=["a", "b", "c"])
    y = np.asarray([0, 1, 0, 1, 2, 2, -1])
    parts = {"training": np.asarray([0, 1]), "validation": np.asarray([2, 3]), "test": np.zeros(0, int)}
    missing, note = untrained_classes(spec, y, parts, y >= 0, "split.csv")
    assert missing == [2] and "'c'" in note and "2 in no split" in note and "test" not in note.split(";")[0]


# ---------------------------------------------------------------------------
# 3, 4. evaluate on a task.label_column run's raw table and store


@pytest.fixture(scope="module")
def wine_like(tmp_path_factory):
    from encoderkit.data.ingest import ingest

    tmp = tmp_path_factory.mktemp("s44tab")
    rng = np.random.default_rng(0)
    n = 90
    x = rng.normal(size=(n, 3))
    frame = pd.DataFrame({"alcohol": x[:, 0], "ash": x[:, 1], "hue": x[:, 2],
                          "target": np.where(x[:, 0] > 0.3, "b", np.where(x[:, 0] < -0.3, "a", "c"))})
    raw = tmp / "wine.csv"
    frame.to_csv(raw, index=False)
    store = tmp / "wine.zarr"
    ingest("tabular", [str(raw)], str(store), progress=False, verbose=False)
    run = finetune([*TAB, f"data.store={store}", f"run.dir={tmp / 'run'}", "task.label_column=target",
                    "train.steps=2", "train.eval_every=2", "task.val_fraction=0.25"])
    return run, store, raw, frame, tmp


def test_evaluate_on_the_raw_table_warns_of_no_ignored_columns(wine_like, capsys):
    run, store, raw, frame, tmp = wine_like
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert cli.main(["evaluate", f"checkpoint={run}", f"input={raw}"]) == 0
    said = _messages(record)
    assert "ignored" not in said and "add an 'id' column" not in said
    from encoderkit.infer import load

    pred = load(run).predict(frame.drop(columns=["target"]))
    acc = float((pred["prediction"].to_numpy() == frame["target"].to_numpy()).mean())
    out = capsys.readouterr().out
    assert f"{acc:.4f}" in out


def test_evaluate_on_the_store_takes_its_label_column(wine_like, capsys):
    run, store, raw, frame, tmp = wine_like
    from encoderkit.infer import load

    capsys.readouterr()
    assert cli.main(["evaluate", f"checkpoint={run}", f"input={store}"]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    model = load(run)
    pred = model.predict(store)
    ref = f1_score(frame["target"], pred["prediction"], average="macro")
    got = model.evaluate(store, verbose=False)
    assert got["macro_f1"] == pytest.approx(ref, rel=1e-9) and got["records"] == len(frame)
    assert f"{ref:.4f}" in printed
    # a store without the column: an error saying what to pass
    from encoderkit.data.ingest import ingest

    other = tmp / "features.csv"
    frame.drop(columns=["target"]).to_csv(other, index=False)
    ingest("tabular", [str(other)], str(tmp / "features.zarr"), progress=False, verbose=False)
    with pytest.raises(UsageError, match=r"labels=<a file with a 'target' column.*raw table"):
        model.evaluate(str(tmp / "features.zarr"), verbose=False)


# ---------------------------------------------------------------------------
# 5. numeric classes matched by value


def test_numeric_classes_match_labels_by_value_in_every_format(labelled_store, tmp_path):
    from encoderkit.infer import load

    store, ids, y, _ = labelled_store
    yf = np.asarray(y, dtype=float) + 1.0  # classes 1.0, 2.0: a float column
    pd.DataFrame({"id": ids, "label": yf}).to_parquet(tmp_path / "y.parquet")
    run = _ft(store, tmp_path, "float", tmp_path / "y.parquet", steps=2,
              **{"task.type": "classification", "task.val_fraction": 0.2})
    model = load(run)
    assert model.spec.classes == ["1", "2"] and model.spec.class_kind == "float"
    pd.DataFrame({"id": ids, "label": yf}).to_csv(tmp_path / "y_as.csv", index=False)  # "1.0"
    assert "1.0" in (tmp_path / "y_as.csv").read_text()
    pd.DataFrame({"id": ids, "label": yf.astype(int)}).to_csv(tmp_path / "y_int.csv", index=False)
    np.save(tmp_path / "y.npy", yf.astype(np.int64))
    pred = model.predict(store)
    ref = f1_score(yf, pred["prediction"].to_numpy(dtype=float), average="macro")
    for labels in ("y_as.csv", "y_int.csv", "y.parquet", "y.npy"):
        got = model.evaluate(store, str(tmp_path / labels), verbose=False)
        assert got["macro_f1"] == pytest.approx(ref, rel=1e-9), labels
    pd.DataFrame({"id": ids, "label": yf + 0.5}).to_csv(tmp_path / "y_bad.csv", index=False)
    with pytest.raises(DataError, match=r"label '[12].5' is not a class.*classes are numbers"):
        model.evaluate(store, str(tmp_path / "y_bad.csv"), verbose=False)


def test_class_code_by_value_only_for_numeric_kinds():
    index = {"1": 0, "2": 1}
    assert L.class_code(index, "1.0", "float") == 0 and L.class_code(index, " 2.00 ", "int") == 1
    assert L.class_code(index, "1e0", "int") == 0 and L.class_code(index, np.float32(2.0), "float") == 1
    assert L.class_code(index, "1.0", "str") is None and L.class_code(index, "1.5", "float") is None
    assert L.class_code({"+0": 0, "-0": 1}, "0", "str") is None
    said = L.class_mismatch(1.0, ["1.0", "2.0"], "str")
    assert "write" in said and "'1.0'" in said


# ---------------------------------------------------------------------------
# 6, 7. case variants, a constant target


def test_case_variants_of_a_class_are_warned_of(labelled_store, tmp_path):
    store, ids, y, _ = labelled_store
    cls = np.where(np.asarray(y) == 1, "setosa", "virginica").astype(object)
    cls[:4] = "Setosa"
    cls[4:6] = " setosa "  # stripped: the same class as setosa
    pd.DataFrame({"id": ids, "label": cls}).to_csv(tmp_path / "y.csv", index=False)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        run = _ft(store, tmp_path, "case", tmp_path / "y.csv", steps=1, **{"task.val_fraction": 0.2})
    said = _messages(record)
    assert "differ only in letter case: 'Setosa' / 'setosa'" in said
    from encoderkit.infer import load

    assert load(run).spec.classes == ["Setosa", "setosa", "virginica"]


def test_a_constant_regression_target_is_warned_of(labelled_store, tmp_path):
    store, ids, y, _ = labelled_store
    pd.DataFrame({"id": ids, "foodexp": 5.0, "other": np.arange(len(ids), dtype=float)}).to_csv(
        tmp_path / "y.csv", index=False)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _ft(store, tmp_path, "const", tmp_path / "y.csv", steps=1,
            **{"task.type": "regression", "task.val_fraction": 0.2})
    said = _messages(record)
    assert "regression target 'foodexp' has one value (5)" in said and "'other'" not in said


# ---------------------------------------------------------------------------
# 8. rows named as the file shows them


@pytest.mark.parametrize("suffix, row", [(".csv", 3), (".parquet", 2), (".npy", None)])
def test_labels_file_rows_are_named_as_the_file_holds_them(labelled_store, tmp_path, suffix, row):
    store, ids, y, _ = labelled_store
    from encoderkit.data.store import RecordStore

    ids = L.record_ids(RecordStore(store))
    frame = pd.DataFrame({"id": ["nope" if i == 1 else x for i, x in enumerate(ids)], "label": y})
    if suffix == ".csv":
        frame.to_csv(tmp_path / "y.csv", index=False)
        read = L.read_table(tmp_path / "y.csv")
    elif suffix == ".parquet":
        frame.to_parquet(tmp_path / "y.parquet")
        read = L.read_table(tmp_path / "y.parquet")
    if row is not None:  # CSV: its line (header = row 1); Parquet: from 1 at its first record
        with pytest.raises(DataError, match=rf"row {row}: id 'nope' matches no record"):
            L.align(read, ids, str(tmp_path / f"y{suffix}"), False)
        return
    # .npy: one row per record; a bad class on its second row is row 2
    np.save(tmp_path / "y.npy", np.asarray([0.0, np.inf] + [1.0] * (len(ids) - 2)))
    labels = L.align(L.read_table(tmp_path / "y.npy"), ids, str(tmp_path / "y.npy"), False)
    with pytest.raises(DataError, match=r"row 2 \(id"):
        L.encode_regression(labels, ids, False)


def test_parquet_split_file_rows_count_from_one(labelled_store, tmp_path):
    store, ids, y, _ = labelled_store
    pd.DataFrame({"id": ids[:3], "split": ["train", "bogus", "val"]}).to_parquet(tmp_path / "s.parquet")
    with pytest.raises(DataError, match=r"row 2: split 'bogus'"):
        L.read_split(str(tmp_path / "s.parquet"), np.asarray(ids, dtype=object))


# ---------------------------------------------------------------------------
# 9. export-hf: the documented input_ids recipe


def test_export_hf_tokenizer_file_gives_encoderkits_logits(tmp_path):
    transformers = pytest.importorskip("transformers")
    import torch

    from encoderkit.infer import load
    from encoderkit.interop.hf import TOKENIZER_FILE, export_hf
    from tests.domains.sample_store import ingest_sample
    from encoderkit.data.store import RecordStore

    store = ingest_sample("genomic", tmp_path)
    ids = [r["id"] for r in RecordStore(store)]
    pd.DataFrame({"id": ids, "label": (["a", "b"] * len(ids))[:len(ids)]}).to_csv(tmp_path / "y.csv", index=False)
    run = finetune(["checkpoint=none", "domain=genomic", "model=tiny", "model.hidden_size=32",
                    "model.num_heads=2", "model.num_layers=2", "model.intermediate_size=48",
                    "model.local_window=8", "model.backend=sdpa", "train.progress=false",
                    "data.max_tokens=512", "data.max_seqlen=64", "run.device=cpu", "train.eval_every=0",
                    "train.checkpoint_every=0", f"data.store={store}", f"run.dir={tmp_path / 'ft'}",
                    "train.steps=2", f"task.labels={tmp_path / 'y.csv'}", "task.val_fraction=0",
                    "task.ensemble=1"])
    model = load(run)
    out = export_hf(model, tmp_path / "hf")
    tok = json.loads((out / TOKENIZER_FILE).read_text())
    assert tok["special_tokens_added"] == [] and tok["vocab"][tok["char_to_id"]["A"]] == "A"
    assert tok["char_to_id"]["U"] == tok["char_to_id"]["T"] == tok["char_to_id"]["t"]
    assert tok["char_to_id"]["R"] == tok["char_to_id"]["N"]  # iupac=collapse
    hf = transformers.AutoModelForSequenceClassification.from_pretrained(
        str(out), attn_implementation="eager").eval()
    seqs = ["ACGTNACGGTTAacgtRYACG", "GATTACA" * 6, "u" + "CAGT" * 9]
    _, ours = model.outputs(seqs)
    for seq, logits in zip(seqs, ours):
        input_ids = torch.tensor([[tok["char_to_id"][c] for c in seq]])  # the README's recipe
        with torch.no_grad():
            theirs = hf(input_ids=input_ids).logits[0].numpy()
        np.testing.assert_allclose(theirs, logits, atol=1e-4, rtol=0)
    # overwrite=true recognises the export with its tokenizer file
    export_hf(model, out, overwrite=True)


# ---------------------------------------------------------------------------
# review of s44: exact numeric classes, selection kept over a resume, warnings once


def test_int_classes_match_exactly_beyond_float_precision():
    """Above 2**53 a float cannot tell neighbouring integers apart: a label's text is compared
    exactly (Decimal), a float label there is no match by value, and an int class matches only
    a whole value."""
    big = 2 ** 53
    index = {str(big): 0, str(big + 1): 1}
    assert L.class_code(index, f"{big + 1}.0", "int") == 1 and L.class_code(index, f"{big}.00", "int") == 0
    assert L.class_code(index, f"{big + 1}0e-1", "int") == 1 and L.class_code(index, big + 1, "int") == 1
    assert L.class_code(index, float(big + 2), "int") is None  # a float there: no value match
    assert L.class_code(index, f"{big}.5", "int") is None and L.class_code(index, f"{big + 1}.000001", "int") is None
    assert L.class_code({"1": 0, "2": 1}, 1.0000000000000002, "int") is None  # not whole
    coder = L.class_coder(index, "int")  # the value map built once for many labels
    assert [coder(x) for x in (f"{big}.0", f"{big + 1}.0", "1")] == [0, 1, None]


class _FakeTrainer:
    def __init__(self, resumed_from, history, run_dir):
        from types import SimpleNamespace

        self.resumed_from, self.history, self.run_dir = resumed_from, history, run_dir
        self.step = max((h["step"] for h in history), default=0)
        self.cfg = SimpleNamespace(task=SimpleNamespace(patience=0))
        self.info = SimpleNamespace(is_main=True)


def _two_target_objective(trainer):
    from encoderkit.tasks.objective import TaskObjective
    from encoderkit.tasks.spec import TaskSpec

    obj = object.__new__(TaskObjective)
    obj.trainer, obj.metric, obj.tolerance = trainer, "rmse", 0.0
    obj.spec = TaskSpec(type="regression", targets=["count", "frac"], mean=[2000.0, 0.5], std=[400.0, 0.2])
    obj.best = obj.peak = obj.peak_loss = None
    obj.bad_evals, obj.stop = 0, False
    obj.saved = []
    obj._save_best = lambda trainer: obj.saved.append(trainer)
    return obj


def test_resume_of_a_run_without_per_target_metrics_keeps_comparing_the_mean(tmp_path):
    """A multi-target rmse run checkpointed before per-target metrics were logged (no
    "selection" in its state): after the resume, best/ and patience compare the plain
    val_rmse as before, so the first evaluation after it, worse than the best, is not saved."""
    from encoderkit.tasks.objective import PLAIN_SELECTION, SCALED_SELECTION
    from encoderkit.train.checkpoint import FORMAT_VERSION, STATE_FILE

    ckpt = tmp_path / "step_4"
    ckpt.mkdir()
    (ckpt / STATE_FILE).write_text(json.dumps({"format_version": FORMAT_VERSION, "step": 4, "tokens": 40}))
    old = [{"step": 2, "val_rmse": 10.0, "val_loss": 1.0}, {"step": 4, "val_rmse": 12.0, "val_loss": 1.2}]
    obj = _two_target_objective(_FakeTrainer(ckpt, old, tmp_path / "run"))
    with pytest.warns(UserWarning, match=r"step 2, val_rmse 10\) has no saved weights"):
        obj.on_start(obj.trainer)  # the stand-in run folder holds no best/
    assert obj.selection == PLAIN_SELECTION and obj.peak == 10.0 and obj.bad_evals == 1
    # far better per target over its std, worse as the mean: the mean decides, as before
    obj.after_validation(obj.trainer, {"val_rmse": 11.0, "val_rmse/count": 21.0, "val_rmse/frac": 0.001,
                                       "val_loss": 0.9})
    assert obj.saved == [] and obj.bad_evals == 2 and obj.checkpoint_state()["selection"] == PLAIN_SELECTION
    # a fresh run decides the scaled mean and records it; its resume keeps it
    fresh = _two_target_objective(_FakeTrainer(None, [], tmp_path / "fresh"))
    assert fresh.checkpoint_state()["selection"] == SCALED_SELECTION
    (ckpt / STATE_FILE).write_text(json.dumps({"format_version": FORMAT_VERSION, "step": 4, "tokens": 40,
                                               **fresh.checkpoint_state()}))
    new = [{"step": 2, "val_rmse": 10.0, "val_rmse/count": 20.0, "val_rmse/frac": 0.1}]
    obj = _two_target_objective(_FakeTrainer(ckpt, new, tmp_path / "run"))
    with pytest.warns(UserWarning, match="has no saved weights"):
        obj.on_start(obj.trainer)
    assert obj.selection == SCALED_SELECTION and obj.peak == pytest.approx((20.0 / 400.0 + 0.1 / 0.2) / 2)


def test_constant_target_warned_on_the_main_rank_only_and_filtered_by_its_own_words(tmp_path):
    from encoderkit.tasks.objective import CONSTANT_TARGET_SAID, TaskObjective
    from encoderkit.tasks.spec import TaskSpec

    def standardise(is_main, ignore=None):
        obj = object.__new__(TaskObjective)
        obj.trainer = _FakeTrainer(None, [], tmp_path / "fresh")
        obj.trainer.info.is_main = is_main
        obj.y, obj.train_indices, obj.file = np.c_[np.full(6, 5.0), np.arange(6.0)], np.arange(6), "y.csv"
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            if ignore:  # as the ensemble's members filter it
                warnings.filterwarnings("ignore", message=ignore)
            obj._standardise(TaskSpec(type="regression", targets=["flat", "ramp"]))
            warnings.warn("regression target column 'x' has no value in any labelled row")
        return _messages(record)

    assert "regression target 'flat' has one value (5)" in standardise(True)
    assert "has one value" not in standardise(False)  # another rank: said once, by the main rank
    # the ensemble's filter skips that warning and no other beginning "regression target"
    said = standardise(True, ignore=CONSTANT_TARGET_SAID)
    assert "has one value" not in said and "no value in any labelled row" in said


def test_one_store_column_reader_and_one_tokenizer_file_name(wine_like):
    """finetune and evaluate read a label_column store through one helper (any chunk size
    gives the raw table's column, store order); the tokenizer file is named once."""
    from encoderkit import outputs
    from encoderkit.data.store import RecordStore
    from encoderkit.interop import hf
    from encoderkit.registry import get_domain

    run, store, raw, frame, tmp = wine_like
    opened = RecordStore(str(store))
    domain = get_domain("tabular")(opened.schema)
    for chunk in (7, 1024):
        assert [str(v) for v in L.column_values(domain, opened, "target", chunk)] == frame["target"].tolist()
    assert hf.TOKENIZER_FILE is outputs.HF_TOKENIZER_FILE and hf.TOKENIZER_FILE in outputs.HF_EXPORT_FILES
