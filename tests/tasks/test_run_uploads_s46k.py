"""A run folder from untrusted hands at load / predict: its ``config.yaml`` is read, never
evaluated, and only where the run layout puts it; nothing is read through a symbolic link
out of the folder given; ``ensemble.json`` names members inside the run only; a
``state.json`` that claims another model than its weights hold is refused before the model
is built; a labels file with far more classes than records is said, and refused before
allocation where the head cannot fit in memory."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import encoderkit
import testdomain as td
from conftest import ft_overrides
from encoderkit.errors import DataError
from encoderkit.infer import run_files
from encoderkit.infer.load import run_max_seqlen
from encoderkit.tasks import finetune
from encoderkit.tasks.head_size import MANY_CLASSES
from encoderkit.train import pretrain

SECRET = "s46k-topsecret-value"


@pytest.fixture(scope="module")
def runs(labelled_store, tmp_path_factory):
    """A pretrained run, a fine-tuned ensemble of 2, and another tenant's fine-tuned run."""
    store, ids, y, labels = labelled_store
    root = tmp_path_factory.mktemp("uploads")
    mine = pretrain(td.tiny_overrides(store, str(root / "mine"), steps=3))
    ens = root / "ens"
    finetune(ft_overrides(store, str(ens), str(labels), steps=3, **{"task.ensemble": 2}))
    tuned = root / "tuned_other"
    finetune(ft_overrides(store, str(tuned), str(labels), steps=3, **{"run.seed": 9}))
    return {"mine": Path(mine), "ens": ens, "other": tuned, "store": store}


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _step_dir(run: Path) -> Path:
    return max((run / "checkpoints").iterdir(), key=lambda p: int(p.name))


def _set_config(run: Path, key: str, value) -> None:
    file = run / "config.yaml"
    cfg = yaml.safe_load(file.read_text())
    section, name = key.split(".")
    cfg[section][name] = value
    file.write_text(yaml.safe_dump(cfg))


# ---- config.yaml: read as written, where the layout puts it -------------------------------
def test_an_interpolation_in_config_yaml_is_refused_without_evaluating_it(runs, tmp_path, monkeypatch):
    monkeypatch.setenv("EK_S46K_SECRET", SECRET)
    run = _copy(runs["mine"], tmp_path / "evil")
    _set_config(run, "data.max_seqlen", "${oc.env:EK_S46K_SECRET}")
    # the checkpoint's state.json records the window: it is the checkpoint's truth and
    # config.yaml is not read for it (s53w); nothing is evaluated either way
    for path in (run, _step_dir(run)):  # the run, and its checkpoint named directly
        assert encoderkit.load(path).max_seqlen == 64
    # a key its state does not record (an older checkpoint): read from config.yaml, refused
    older = _older_checkpoint(tmp_path / "older", "data:\n  max_seqlen: ${oc.env:EK_S46K_SECRET}\n")
    with pytest.raises(DataError) as e:
        run_files.run_setting(older, "data.max_seqlen")
    assert SECRET not in str(e.value) and "config.yaml" in str(e.value)
    assert "data.max_seqlen" in str(e.value) and "\n" not in str(e.value)


def test_a_max_seqlen_that_is_no_integer_is_one_line_naming_file_and_key(runs, tmp_path):
    run = _copy(runs["mine"], tmp_path / "odd")
    _set_config(run, "data.max_seqlen", "sixty-four")
    assert encoderkit.load(run).max_seqlen == 64  # the state's recorded window wins (s53w)
    older = _older_checkpoint(tmp_path / "older", "data:\n  max_seqlen: sixty-four\n")
    with pytest.raises(DataError, match=r"config\.yaml: data\.max_seqlen is 'sixty-four', not a positive integer"):
        run_max_seqlen(older)


def _older_checkpoint(run: Path, config: str) -> Path:
    """A run folder whose checkpoint's state.json records no config (written before it did)."""
    step = run / "checkpoints" / "1"
    step.mkdir(parents=True)
    (step / "state.json").write_text('{"step": 1}')
    (run / "config.yaml").write_text(config)
    return step


def test_a_checkpoint_given_alone_reads_no_config_above_it_but_a_runs_layout_does(runs, tmp_path):
    written = yaml.safe_load((runs["mine"] / "config.yaml").read_text())["data"]["max_seqlen"]
    assert written == 64  # td.tiny_overrides; not the default the tests below tell it from
    assert encoderkit.load(runs["mine"]).max_seqlen == written
    assert encoderkit.load(_step_dir(runs["mine"])).max_seqlen == written  # <run>/checkpoints/<n>
    assert encoderkit.load(runs["ens"] / "best").max_seqlen == written  # <run>/best
    # an upload: a checkpoint folder alone, inside a folder whose config.yaml is not its run's
    upload = tmp_path / "t15"
    (upload / "uploads").mkdir(parents=True)
    (upload / "config.yaml").write_text("data:\n  max_seqlen: 7\n")
    shutil.copytree(_step_dir(runs["mine"]), upload / "uploads" / "ck")
    # not the 7 above it: the window its own state.json records (session 53: not the default)
    assert encoderkit.load(upload / "uploads" / "ck").max_seqlen == written


def test_a_config_yaml_linked_out_of_the_run_is_refused(runs, tmp_path):
    outside = tmp_path / "host.yaml"
    outside.write_text("data:\n  max_seqlen: 5\n")
    run = _copy(runs["mine"], tmp_path / "linked")
    (run / "config.yaml").unlink()
    (run / "config.yaml").symlink_to(outside)
    with pytest.raises(DataError, match="symbolic link leading outside"):
        encoderkit.load(run)


@pytest.mark.parametrize("what", ["checkpoints", "step", "weights"])
def test_checkpoints_linked_to_another_run_are_refused(runs, tmp_path, what):
    run = _copy(runs["mine"], tmp_path / "linked")
    step = _step_dir(run)
    target = {"checkpoints": runs["other"] / "checkpoints", "step": _step_dir(runs["other"]),
              "weights": _step_dir(runs["other"]) / "model.safetensors"}[what]
    link = {"checkpoints": run / "checkpoints", "step": step, "weights": step / "model.safetensors"}[what]
    shutil.rmtree(link) if link.is_dir() else link.unlink()
    link.symlink_to(target)
    with pytest.raises(DataError, match="symbolic link leading outside"):
        encoderkit.load(run)


def test_a_link_inside_the_run_still_loads(runs, tmp_path):
    run = _copy(runs["mine"], tmp_path / "inner")
    step = _step_dir(run)
    (run / "keep").mkdir()
    shutil.move(step / "model.safetensors", run / "keep" / "model.safetensors")
    (step / "model.safetensors").symlink_to(run / "keep" / "model.safetensors")
    data = td.make_records(3, seed=5)
    records = [{"ids": r, "id": f"r{i}"} for i, r in enumerate(data)]
    np.testing.assert_array_equal(encoderkit.load(run).embed(records), encoderkit.load(runs["mine"]).embed(records))


# ---- ensemble.json: members inside the run --------------------------------------------------
@pytest.mark.parametrize("entry", ["ABS", "../tuned_other", "members/../../tuned_other", ".", "LINK", ""])
def test_an_ensemble_member_outside_the_run_is_refused_naming_it(runs, tmp_path, entry):
    root = tmp_path / "tenant"
    run = _copy(runs["ens"], root / "evil")
    _copy(runs["other"], root / "tuned_other")
    if entry == "ABS":
        entry = str(root / "tuned_other")
    if entry == "LINK":
        (run / "members" / "x").symlink_to(root / "tuned_other")
        entry = "members/x"
    manifest = run / "ensemble.json"
    body = json.loads(manifest.read_text())
    body["members"], body["weights"] = [entry], [0.0, 1.0]
    manifest.write_text(json.dumps(body))
    with pytest.raises(DataError) as e:
        encoderkit.load(run)
    assert f"ensemble member {entry!r}" in str(e.value) and "ensemble.json" in str(e.value)


# ---- state.json: the model it claims against the weights' header ----------------------------
@pytest.fixture
def builds(monkeypatch):
    """The devices every ``Encoder`` was constructed on (``meta``: shapes only)."""
    import torch

    from encoderkit.core import model as core_model

    seen: list[str] = []
    original = core_model.Encoder.__init__

    def spy(self, *args, **kwargs):
        seen.append(torch.empty(0).device.type)
        original(self, *args, **kwargs)

    monkeypatch.setattr(core_model.Encoder, "__init__", spy)
    return seen


@pytest.mark.parametrize("claim", [{"hidden_size": 256, "num_heads": 4, "intermediate_size": 512},
                                   {"num_layers": 3}, {"num_layers": 500}])
def test_a_state_json_claiming_another_model_is_refused_before_it_is_built(runs, tmp_path, builds, claim):
    ck = tmp_path / "ck"
    shutil.copytree(_step_dir(runs["mine"]), ck)
    (ck / "manifest.json").unlink()  # an edited upload carries no manifest of its own edits
    state = json.loads((ck / "state.json").read_text())
    state["model_config"].update(claim)
    (ck / "state.json").write_text(json.dumps(state))
    with pytest.raises(DataError, match=r"model\.safetensors: does not match the model its state\.json describes: it describes"):
        encoderkit.load(ck)
    assert "cpu" not in builds  # nothing but meta builds (the real model was never allocated)


def test_a_finetuned_state_json_claiming_more_classes_is_refused_before_it_is_built(runs, tmp_path, builds):
    ck = tmp_path / "ck"
    shutil.copytree(runs["ens"] / "best", ck)
    (ck / "manifest.json").unlink(missing_ok=True)
    state = json.loads((ck / "state.json").read_text())
    state["task"]["classes"] = [f"c{i}" for i in range(5000)]
    (ck / "state.json").write_text(json.dumps(state))
    with pytest.raises(DataError, match=r"classifier\.(weight|bias) as \(5000"):
        encoderkit.load(ck)
    assert "cpu" not in builds


# ---- labels: classes against records ---------------------------------------------------------
def _id_labels(labelled_store, tmp_path, kind: str) -> Path:
    """Labels that are the record ids (one class per record), or for multilabel 3 tags of
    each record's own."""
    store, ids, y, labels = labelled_store
    file = tmp_path / f"{kind}.csv"
    values = ids if kind == "classification" else [f"{i}_a;{i}_b;{i}_c" for i in ids]
    pd.DataFrame({"id": ids, "label": values}).to_csv(file, index=False)
    return file


@pytest.mark.parametrize("kind", ["classification", "multilabel"])
def test_far_more_classes_than_records_are_said(labelled_store, tmp_path, kind):
    store = labelled_store[0]
    labels = _id_labels(labelled_store, tmp_path, kind)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        finetune(ft_overrides(store, str(tmp_path / "run"), str(labels), steps=1,
                              **{"task.type": kind, "train.eval_every": 0}))
    said = [str(w.message) for w in caught if MANY_CLASSES in str(w.message)]
    n = 160 if kind == "classification" else 480  # labelled_store's 160 records
    assert len(said) == 1 and f"{n:,} {'classes' if kind == 'classification' else 'labels'} (" in said[0]
    assert "over 160 labelled records" in said[0] and str(labels) in said[0]


def test_a_head_that_cannot_fit_in_memory_is_refused_before_allocation(labelled_store, tmp_path, monkeypatch):
    from encoderkit.core import EncoderConfig
    from encoderkit.train import model_size

    store = labelled_store[0]
    labels = _id_labels(labelled_store, tmp_path, "classification")
    config = EncoderConfig.preset("tiny", hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                                  local_window=16, rope_axes=1)
    # room for the encoder alone (the config's own check passes), not for its 160-class head
    room = model_size.encoder_parameters(config) * model_size.BYTES_PER_PARAMETER + 1000
    monkeypatch.setattr(model_size, "memory_bytes", lambda: room)
    with pytest.raises(DataError, match=r"160 classes give the task head .* more than this machine"):
        finetune(ft_overrides(store, str(tmp_path / "run"), str(labels), steps=1))
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_multilabel_block_that_cannot_fit_in_memory_is_refused(labelled_store, tmp_path, monkeypatch):
    from encoderkit.train import model_size

    store = labelled_store[0]
    labels = _id_labels(labelled_store, tmp_path, "multilabel")
    monkeypatch.setattr(model_size, "memory_bytes", lambda: 160 * 480 * 8 - 1)
    with pytest.raises(DataError, match=r"480 distinct labels over 160 records make a label block"):
        finetune(ft_overrides(store, str(tmp_path / "run"), str(labels), steps=1, **{"task.type": "multilabel"}))
