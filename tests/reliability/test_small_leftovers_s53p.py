"""Small things of moved and copied runs (session 53, helper p): ``device=auto`` taken by
embed / infill / predict / evaluate (cuda where torch has it, else cpu, said in the summary);
``EncoderImputer(run_dir='rd').run_dir_`` absolute (a later chdir kept it pointing elsewhere);
a linked ``checkpoints/`` named as the link, not the checkpoint directory below it.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from encoderkit.errors import DataError
from encoderkit.infer.load import load, pick_device

from .conftest import make_run


@pytest.fixture(scope="module")
def tab(tmp_path_factory):
    return make_run("tabular", tmp_path_factory.mktemp("tab"))


def test_auto_is_cuda_where_torch_has_it_else_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == "cpu" and pick_device("AUTO") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == "cuda"
    assert pick_device("cpu") == "cpu" and pick_device(torch.device("cpu")) == torch.device("cpu")


def test_embed_and_infill_take_device_auto_and_say_which(tab, tmp_path, capsys, monkeypatch):
    from encoderkit.cli import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "e.npy"
    assert main(["embed", f"checkpoint={tab.dir}", f"input={tab.store}", f"output={out}", "device=auto"]) == 0
    assert "(device=auto: cpu)" in capsys.readouterr().out
    holes = pd.read_csv(tab.raw[0]).head(5)
    holes.iloc[0, 1] = np.nan
    holes.to_csv(tmp_path / "h.csv", index=False)
    assert main(["infill", f"checkpoint={tab.dir}", f"input={tmp_path / 'h.csv'}",
                 f"output={tmp_path / 'f.csv'}", "device=auto"]) == 0
    assert "(device=auto: cpu)" in capsys.readouterr().out
    assert load(tab.dir, device="auto").device.type == "cpu"


def test_a_linked_checkpoints_folder_is_named_as_the_link(tab, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tab.dir, run)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(str(run / "checkpoints"), str(elsewhere))
    os.symlink(elsewhere, run / "checkpoints")
    with pytest.raises(DataError) as caught:
        load(run / "checkpoints" / "1")
    message = str(caught.value)
    assert f"lies under {str(run / 'checkpoints')!r}, a symbolic link" in message, message
    assert "the checkpoint directory is a symbolic link" not in message


def test_encoder_imputer_keeps_run_dir_absolute(tmp_path, monkeypatch):
    from encoderkit.sklearn import EncoderImputer

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=30), "b": rng.normal(size=30)})
    frame.loc[[3, 7], "a"] = np.nan
    imp = EncoderImputer(model="tiny", steps=1, select="model", blend="none", random_state=0, run_dir="rd",
                         overrides=("run.device=cpu", "model.hidden_size=16", "model.num_layers=1",
                                    "model.num_heads=2", "model.intermediate_size=32")).fit(frame)
    assert os.path.isabs(imp.run_dir_) and os.path.dirname(imp.run_dir_) == str(tmp_path / "rd")
