"""``evaluate`` on the records a fine-tuned run trained on: its figures per part of the run's
split (``encoderkit/tasks/evaluate_split.py``).

``encoderkit evaluate checkpoint=<run> input=<the run's store> labels=<its labels>`` scored the
run's training records with the others, without a word (coin-flip labels: 0.619 accuracy over
all records, 0.693 on those trained on, 0.509 on the test part). Each part's figures here are
checked against scikit-learn on ``predict``'s output restricted to that part's ids."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, roc_auc_score

import encoderkit
from tests.domains.sample_store import TINY_MODEL

pytest.importorskip("domains.tabular")

N = 240


def _ingest(frame: pd.DataFrame, csv, store) -> str:
    from encoderkit.data.ingest import ingest

    frame.to_csv(csv, index=False)
    ingest("tabular", [str(csv)], str(store), progress=False, verbose=False)
    return str(store)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A tiny tabular run with a train / val / test split file, its store, raw file and labels."""
    from domains.tabular.domain import sample_frame
    from encoderkit.tasks import finetune

    tmp = tmp_path_factory.mktemp("split")
    table = sample_frame().iloc[:N].reset_index(drop=True)
    features = table.drop(columns=["vote"])
    store = _ingest(features, tmp / "t.csv", tmp / "t.zarr")
    ids = [f"row{i}" for i in range(N)]
    labels = tmp / "labels.csv"
    pd.DataFrame({"id": ids, "label": table["vote"]}).to_csv(labels, index=False)
    part = np.asarray(["train"] * N, dtype=object)
    order = np.random.default_rng(0).permutation(N)
    part[order[:48]], part[order[48:96]] = "val", "test"
    split = tmp / "split.csv"
    pd.DataFrame({"id": ids, "split": part}).to_csv(split, index=False)
    run = finetune(["checkpoint=none", "domain=tabular", f"data.store={store}", f"run.dir={tmp / 'ft'}",
                    f"task.labels={labels}", f"task.split={split}", "task.ensemble=1", "train.steps=4",
                    "train.eval_every=2", "train.progress=false", "run.device=cpu",
                    "data.max_tokens=512", "data.max_seqlen=64", *TINY_MODEL])
    return {"tmp": tmp, "run": run, "store": store, "csv": tmp / "t.csv", "labels": labels,
            "features": features, "y": table["vote"].to_numpy(), "ids": ids, "part": part}


def _reference(model, data, ids, y) -> dict[str, float]:
    """scikit-learn's metrics of ``predict``'s output on ``data`` at the records ``ids``."""
    pred = model.predict(data).set_index("id").loc[ids]
    got = pred["prediction"].to_numpy().astype(int)
    return {"accuracy": accuracy_score(y, got), "macro_f1": f1_score(y, got, average="macro"),
            "mcc": matthews_corrcoef(y, got), "auroc": roc_auc_score(y, pred["proba_1"].to_numpy()),
            "records": len(ids)}


def _close(got, ref) -> None:
    assert set(ref) <= set(got)
    for k, v in ref.items():
        assert got[k] == pytest.approx(v, abs=1e-9), k


def _by_part(tuned, model, data) -> dict[str, dict[str, float]]:
    ids, y, part = np.asarray(tuned["ids"]), tuned["y"], tuned["part"]
    return {p: _reference(model, data, list(ids[part == p]), y[part == p]) for p in ("train", "val", "test")}


def test_the_runs_store_is_scored_per_part_of_its_split(tuned):
    """On the run's own store: the all-records dict as before, each part's figures as
    scikit-learn computes them on predict's output at that part's ids, the test part held
    out, the training ids named, and one warning."""
    model = encoderkit.load(tuned["run"])
    with pytest.warns(UserWarning, match=r"144 of the 240 labelled records scored here trained the model") as got:
        result = model.evaluate(tuned["store"], str(tuned["labels"]), verbose=False)
    said = [str(w.message) for w in got if "trained the model" in str(w.message)]
    assert len(said) == 1 and "'test' part (48 records)" in said[0] and tuned["store"] in said[0]
    assert isinstance(result, dict)
    _close(result, _reference(model, tuned["store"], tuned["ids"], tuned["y"]))
    ref = _by_part(tuned, model, tuned["store"])
    assert set(result.parts) == {"train", "val", "test"}
    for p in ref:
        _close(result.parts[p], ref[p])
    assert result.held_out == "test"
    assert set(result.trained_on) == set(np.asarray(tuned["ids"])[tuned["part"] == "train"])


def test_the_command_prints_the_per_part_table_and_the_warning(tuned, capsys):
    from encoderkit import cli

    model = encoderkit.load(tuned["run"])
    ref = _by_part(tuned, model, tuned["store"])
    capsys.readouterr()
    with pytest.warns(UserWarning, match=r"144 of the 240 labelled records .* 'test' part \(48 records\)"):
        assert cli.main(["evaluate", f"checkpoint={tuned['run']}", f"input={tuned['store']}",
                         f"labels={tuned['labels']}"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    start = lines.index("per part of the run's split (split.json):")
    assert lines[start + 1].split()[1:] == ["train", "(trained", "on)", "val", "test", "(held", "out)"]
    accuracy = [float(v) for v in lines[start + 2].split()[1:]]
    assert lines[start + 2].startswith("accuracy")
    assert accuracy == pytest.approx([ref[p]["accuracy"] for p in ("train", "val", "test")], abs=5e-5)


def test_the_raw_file_the_store_was_ingested_from_is_the_runs_records(tuned):
    """The file itself (its sha256 is the store's one source file): the same parts."""
    model = encoderkit.load(tuned["run"])
    with pytest.warns(UserWarning, match="is the file that run .*'s store was ingested from"):
        result = model.evaluate(str(tuned["csv"]), str(tuned["labels"]), verbose=False)
    ref = _by_part(tuned, model, tuned["store"])
    for p in ref:
        _close(result.parts[p], ref[p])


def test_a_store_of_other_records_with_the_same_ids_gets_no_split_table(tuned, capsys):
    """A store ingested from another file (the rows reversed: ids row0.. name other rows)
    holds none of the run's records whatever its ids say: no per-part figures, no warning;
    a copy of the run's raw file edited in one cell neither."""
    model = encoderkit.load(tuned["run"])
    tmp = tuned["tmp"]
    other = _ingest(tuned["features"].iloc[::-1].reset_index(drop=True), tmp / "rev.csv", tmp / "rev.zarr")
    edited = tuned["features"].copy()
    edited.iloc[0, 0] += 1
    edited.to_csv(tmp / "edited.csv", index=False)
    for data in (other, str(tmp / "edited.csv")):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no warning of records trained on
            result = model.evaluate(data, str(tuned["labels"]), verbose=True)
        assert result.parts == {} and result.held_out is None and result.trained_on == []
        _close(result, _reference(model, data, tuned["ids"], tuned["y"]))
        assert "per part" not in capsys.readouterr().out


def test_the_probe_members_records_count_as_trained_on(tuned):
    """An averaged member fitted on more records (the probe member without task.split: every
    labelled record) makes them trained on: the val part too, so test stays the held-out part;
    at weight 0 it predicts nothing, and its records do not count."""
    run = tuned["run"]
    probe = run / "members" / "probe"
    if not probe.exists():
        shutil.copytree(run, probe, ignore=shutil.ignore_patterns("members"))
        part = tuned["part"]
        ids = np.asarray(tuned["ids"])
        (probe / "split.json").write_text(json.dumps({"train": list(ids[part != "test"]), "val": [],
                                                      "test": list(ids[part == "test"])}))
    for weight, trained in ((0.5, 192), (0.0, 144)):
        model = encoderkit.load(run)
        model.members, model.weights = [encoderkit.load(probe)], [1 - weight, weight]
        with pytest.warns(UserWarning, match=f"{trained} of the 240 labelled records") as got:
            result = model.evaluate(tuned["store"], str(tuned["labels"]), verbose=False)
        assert len(result.trained_on) == trained and result.held_out == "test"
        said = " ".join(str(w.message) for w in got)
        assert ("48 more that members/probe was fitted on" in said) == (weight > 0)


def test_records_appended_to_the_runs_store_since_are_unseen(tuned):
    """The run's store with rows appended since (ingest append=true): its first records are the
    run's, scored per part as before, and the appended ones are a part of their own, the run's
    parts keeping their figures."""
    from domains.tabular.domain import sample_frame
    from encoderkit.data.ingest import ingest

    tmp = tuned["tmp"]
    grown = tmp / "grown.zarr"
    shutil.copytree(tuned["store"], grown)
    more = sample_frame().iloc[N:N + 24].reset_index(drop=True)
    more.drop(columns=["vote"]).to_csv(tmp / "more.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # categories the first rows lack: stored as unknown
        ingest("tabular", [str(tmp / "more.csv")], str(grown), progress=False, verbose=False, append=True)
    ids = tuned["ids"] + [f"row{N + i}" for i in range(24)]
    y = np.concatenate([tuned["y"], more["vote"].to_numpy()])
    labels = tmp / "grown_labels.csv"
    pd.DataFrame({"id": ids, "label": y}).to_csv(labels, index=False)
    model = encoderkit.load(tuned["run"])
    with pytest.warns(UserWarning, match="24 records appended since: 144 of the 264 labelled records"):
        result = model.evaluate(str(grown), str(labels), verbose=False)
    assert set(result.parts) == {"train", "val", "test", "unseen"} and result.held_out == "test"
    _close(result.parts["unseen"], _reference(model, str(grown), ids[N:], y[N:]))
    ref = _by_part(tuned, model, tuned["store"])
    for p in ref:
        _close(result.parts[p], ref[p])
