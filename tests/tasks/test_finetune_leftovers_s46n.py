"""Fine-tuning leftovers of s46: finetune / predict / evaluate name a misspelled key with the
closest one (their own ``except`` printed the bare error before ``cli.main`` could); a
Parquet predictions file keeps the labels' type (int 0/1 labels matched no text prediction);
``task.ensemble=auto`` says when the training split's size chose one model; a pretrained
checkpoint whose state.json claims another model is refused before the model is built."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import testdomain as td
from conftest import ft_overrides
from encoderkit.cli import main
from encoderkit.errors import DataError
from encoderkit.tasks import finetune
from encoderkit.train import pretrain
from test_run_uploads_s46k import builds  # noqa: F401  (the fixture: devices each Encoder was built on)


def _err(capsys, argv: list[str], code: int = 2) -> str:
    assert main(argv) == code, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return err.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def tuned(labelled_store, tmp_path_factory):
    """A fine-tuned run on int 0/1 labels, and one on the same labels as bools (Parquet)."""
    store, ids, y, labels = labelled_store
    root = tmp_path_factory.mktemp("s46n")
    ints = finetune(ft_overrides(store, str(root / "int"), str(labels), steps=2))
    flags = root / "bool.parquet"
    pd.DataFrame({"id": ids, "label": y.astype(bool)}).to_parquet(flags)
    bools = finetune(ft_overrides(store, str(root / "bool"), str(flags), steps=2))
    return {"store": store, "labels": labels, "int": ints, "bool": bools, "ids": ids, "y": y}


# ---- 1. a misspelled key: the closest one, exit 2 -----------------------------------------------
def test_finetune_suggests_the_closest_key(labelled_store, tmp_path, capsys):
    store, _, _, labels = labelled_store
    base = ft_overrides(store, str(tmp_path / "ft"), str(labels), steps=1)
    # before: "encoderkit finetune: error: unknown config key 'chekpoint'; top-level keys: [...]"
    typo = [o.replace("checkpoint=", "chekpoint=") for o in base]
    line = _err(capsys, ["finetune", *typo])
    assert "'chekpoint' (did you mean 'checkpoint'?)" in line and "encoderkit finetune --help" in line
    typo = [o.replace("task.labels=", "task.lables=") for o in base]
    line = _err(capsys, ["finetune", *typo])
    assert "'task.lables' (did you mean 'task.labels'?)" in line
    assert not (tmp_path / "ft").exists()


def test_predict_and_evaluate_suggest_the_closest_key(tuned, tmp_path, capsys):
    # before: "missing required parameter output=..." and "unknown ... ['lables']": no suggestion
    line = _err(capsys, ["predict", f"checkpoint={tuned['int']}", f"input={tuned['store']}",
                         f"outptu={tmp_path / 'p.csv'}"])
    assert "'outptu' (did you mean 'output'?)" in line
    line = _err(capsys, ["evaluate", f"checkpoint={tuned['int']}", f"input={tuned['store']}",
                         f"lables={tuned['labels']}"])
    assert "'lables' (did you mean 'labels'?)" in line and "encoderkit evaluate --help" in line
    # an error about no key keeps its own exit code
    line = _err(capsys, ["predict", f"checkpoint={tmp_path / 'none'}", f"input={tuned['store']}",
                         f"output={tmp_path / 'p.csv'}"], code=1)
    assert "does not exist" in line


# ---- 2. Parquet keeps the labels' type ------------------------------------------------------------
@pytest.mark.parametrize("kind,dtype", [("int", np.int64), ("bool", np.bool_)])
def test_parquet_predictions_keep_the_labels_type(tuned, tmp_path, kind, dtype):
    import encoderkit

    typed = encoderkit.load(tuned[kind]).predict(tuned["store"])
    out = tmp_path / "p.parquet"
    assert main(["predict", f"checkpoint={tuned[kind]}", f"input={tuned['store']}", f"output={out}"]) == 0
    got = pd.read_parquet(out)
    assert got["prediction"].dtype == dtype  # before: text '0' / 'true'
    assert got["prediction"].tolist() == typed["prediction"].tolist()
    want = dict(zip(tuned["ids"], tuned["y"].astype(dtype)))
    hits = sum(want[i] == p for i, p in zip(got["id"], got["prediction"]))
    assert hits == sum(want[i] == p for i, p in zip(typed["id"], typed["prediction"])) > 0
    # a CSV keeps today's spelling
    csv = tmp_path / "p.csv"
    assert main(["predict", f"checkpoint={tuned[kind]}", f"input={tuned['store']}", f"output={csv}"]) == 0
    text = pd.read_csv(csv, dtype=str)["prediction"].tolist()
    spelled = {"int": lambda v: str(int(v)), "bool": lambda v: str(bool(v)).lower()}[kind]
    assert text == [spelled(v) for v in typed["prediction"]]


def test_as_written_by_format():
    from encoderkit.tasks.predict import as_written, prediction_frame
    from encoderkit.tasks.spec import TaskSpec

    outs = [np.array([0.2, 0.8]), np.array([0.9, 0.1])]
    for kind, classes, want in [("float", ["0.5", "1"], [1.0, 0.5]), ("str", ["a", "b"], ["b", "a"]),
                                ("int", ["3", "7"], [7, 3]), ("bool", ["false", "true"], [True, False])]:
        spec = TaskSpec(type="classification", classes=classes, class_kind=kind)
        frame = prediction_frame(spec, ["r0", "r1"], outs)
        got = as_written(frame, spec, "parquet")["prediction"]
        assert got.tolist() == want and [type(v) for v in got.tolist()] == [type(v) for v in want], kind
    # ints beyond int64 have no Parquet type: their names, as in a CSV
    big = TaskSpec(type="classification", classes=["1", str(2**70)], class_kind="int")
    assert as_written(prediction_frame(big, ["r0"], outs[:1]), big, "parquet")["prediction"].tolist() \
        == [str(2**70)]


# ---- 4. task.ensemble=auto at the larger size -----------------------------------------------------
def test_auto_says_when_the_size_chose_one_model(labelled_store, tmp_path, monkeypatch, capsys):
    from encoderkit.tasks import ensemble

    store, _, _, labels = labelled_store
    monkeypatch.setattr(ensemble, "AUTO_MEMBERS", 5)
    monkeypatch.setattr(ensemble, "AUTO_MAX_RECORDS", 10)
    run = finetune(ft_overrides(store, str(tmp_path / "ft"), str(labels), steps=1,
                                **{"task.ensemble": "auto"}))
    n = len(json.loads((Path(run) / "split.json").read_text())["train"])
    assert n > 10 and not (Path(run) / "members").exists()
    assert f"{n:,} training records, more than 10: one model (task.ensemble=auto)" in capsys.readouterr().err


# ---- 6. a state.json claiming another model: refused before the build -----------------------------
@pytest.mark.parametrize("claim", [{"hidden_size": 64, "num_heads": 2, "intermediate_size": 128},
                                   {"num_layers": 3}, {"num_layers": 500}])
def test_a_lying_pretrained_checkpoint_is_refused_before_the_model_is_built(labelled_store, tmp_path,
                                                                               builds, claim):
    store, _, _, labels = labelled_store
    run = Path(pretrain(td.tiny_overrides(store, str(tmp_path / "pre"), steps=1)))
    ck = tmp_path / "ck"
    shutil.copytree(max((run / "checkpoints").iterdir(), key=lambda p: int(p.name)), ck)
    (ck / "manifest.json").unlink()  # an edited upload carries no manifest of its edits
    state = json.loads((ck / "state.json").read_text())
    state["model_config"].update(claim)
    (ck / "state.json").write_text(json.dumps(state))
    builds.clear()  # (the pretraining above built its model on the CPU)
    with pytest.raises(DataError, match=r"model\.safetensors: does not match the model its state\.json "
                                        r"describes: it describes"):
        finetune(ft_overrides(store, str(tmp_path / "ft"), str(labels), steps=1, checkpoint=str(ck)))
    assert "cpu" not in builds  # before: the TaskModel was built (allocated), then the weights refused


def test_a_true_pretrained_checkpoint_still_fine_tunes(labelled_store, tmp_path):
    from safetensors.torch import load_file

    store, _, _, labels = labelled_store
    run = Path(pretrain(td.tiny_overrides(store, str(tmp_path / "pre"), steps=1)))
    out = finetune(ft_overrides(store, str(tmp_path / "ft"), str(labels), steps=1, checkpoint=str(run),
                                **{"task.freeze_encoder": "true"}))  # the encoder as loaded
    pre = load_file(str(max((run / "checkpoints").iterdir(), key=lambda p: int(p.name)) / "model.safetensors"))
    tuned = load_file(str(Path(out) / "best" / "model.safetensors"))
    shared = [k for k in pre if k.startswith("encoder.")]
    assert shared and all(np.array_equal(pre[k].numpy(), tuned[k].numpy()) for k in shared)
