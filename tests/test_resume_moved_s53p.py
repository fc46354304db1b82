"""Resuming a fine-tuning run whose labels file moved, and what a refused resume advises
(session 53, helper p). The labels' sha256 is what a resume checks; their path was compared as
text ("task.labels: checkpoint 'a/labels.csv', now 'b/labels.csv' (use another run.dir)"). A key
left out of the resuming command (run.precision=bf16) is now named with the value to repeat.
"""

from __future__ import annotations

import shutil
import warnings

import pandas as pd
import pytest

import testdomain as td
from encoderkit.tasks import finetune
from encoderkit.train.config import ConfigError
from tests.tasks.conftest import ft_overrides, stride_labels


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resume")
    store = td.write_store(tmp / "store.zarr", n=60, seed=1)
    ids, y = stride_labels(store)
    labels = tmp / "a" / "labels.csv"
    labels.parent.mkdir()
    pd.DataFrame({"id": ids, "label": y}).to_csv(labels, index=False)
    run = tmp / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finetune(ft_overrides(store, str(run), str(labels), steps=2, **{"train.checkpoint_every": 2}))
    return store, labels, run


def test_a_moved_labels_file_of_the_same_content_resumes(made, tmp_path):
    store, labels, reference = made
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    moved = tmp_path / "b" / "labels.csv"
    moved.parent.mkdir()
    shutil.copy(labels, moved)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finetune(ft_overrides(store, str(run), str(moved), steps=3, **{"train.checkpoint_every": 3}))
    assert (run / "checkpoints" / "3").is_dir()
    # other content under the moved name is still refused, by its sha256
    edited = tmp_path / "c" / "labels.csv"
    edited.parent.mkdir()
    table = pd.read_csv(labels)
    table["label"] = 1 - table["label"]
    table.to_csv(edited, index=False)
    with pytest.raises(Exception, match="sha256"):
        finetune(ft_overrides(store, str(run), str(edited), steps=4, **{"train.checkpoint_every": 4}))


def test_a_refused_resume_names_the_value_to_repeat(made, tmp_path):
    store, labels, reference = made
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    with pytest.raises(ConfigError) as caught:
        finetune(ft_overrides(store, str(run), str(labels), steps=3, **{"task.dropout": 0.3}))
    message = str(caught.value)
    assert "task.dropout: checkpoint 0.1, now 0.3" in message
    assert "(to resume it, pass task.dropout=0.1; or use another run.dir)" in message


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_a_resume_never_refuses_for_its_start_checkpoint(tmp_path):
    from encoderkit.train import checkpoint as ckpt
    from encoderkit.train import pretrain
    from encoderkit.train.checkpoint_safetensors import load_tensors

    store = td.write_store(tmp_path / "store.zarr", n=60, seed=1)
    ids, y = stride_labels(store)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"id": ids, "label": y}).to_csv(labels, index=False)
    pretrain(td.tiny_overrides(store, str(tmp_path / "pre"), steps=1, **{"train.checkpoint_every": 1}))
    start = tmp_path / "pre" / "checkpoints" / "1"
    # other weights of the same shape: the same checkpoint, one tensor changed
    tensors = load_tensors(start / ckpt.MODEL_FILE)
    name = next(iter(tensors))
    tensors[name] = tensors[name] + 1
    other = ckpt.save_checkpoint(tmp_path / "other", 1, tensors, {}, [], ckpt.read_state(start), keep=0)
    run = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finetune(ft_overrides(store, str(run), str(labels), steps=1, checkpoint=str(start),
                              **{"train.checkpoint_every": 1}))
        moved = tmp_path / "moved" / "1"
        shutil.copytree(start, moved)
        shutil.rmtree(tmp_path / "pre")
        # the same weights under another path: resumes (refused as "a different config" before)
        finetune(ft_overrides(store, str(run), str(labels), steps=2, checkpoint=str(moved),
                              **{"train.checkpoint_every": 2}))
    assert (run / "checkpoints" / "2").is_dir()
    # other weights named as the start: a resume continues from the run's own weights, so the
    # start checkpoint is never compared (refused by content before, while other weights at the
    # same path went through; s53w)
    resumed = load_tensors(run / "checkpoints" / "2" / ckpt.MODEL_FILE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finetune(ft_overrides(store, str(run), str(labels), steps=3, checkpoint=str(other),
                              **{"train.checkpoint_every": 3}))
    assert (run / "checkpoints" / "3").is_dir()
    assert ckpt.read_state(run / "checkpoints" / "3")["step"] == 3
    assert set(load_tensors(run / "checkpoints" / "3" / ckpt.MODEL_FILE)) == set(resumed)
