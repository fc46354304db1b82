"""An uploaded HF directory's files are read only where their symbolic links stay inside it
(a reviewer imported another directory's weights through ``model.safetensors -> /other/...``
and through an index's plain-named shard that was a link), except the hub cache's own layout:
``snapshots/<revision>/<file> -> ../../blobs/<hash>``, which must keep importing."""

from __future__ import annotations

import os
import shutil

import torch

from encoderkit.infer import load
from test_hf_files_s46i import _import, _shard, exported  # noqa: F401  (the fixture)


def _upload_with_link(hf, upload, name, target):
    upload.mkdir(parents=True)
    shutil.copy(hf / "config.json", upload / "config.json")
    os.symlink(target, upload / name)
    return upload


def test_a_single_weights_file_linking_out_is_refused(exported, tmp_path, capsys):  # noqa: F811
    hf, _ = exported
    upload = _upload_with_link(hf, tmp_path / "uploads" / "evil", "model.safetensors",
                               hf / "model.safetensors")
    rc, err = _import(upload, tmp_path / "run", capsys)
    assert rc == 1 and "symbolic link leading outside" in err and "model.safetensors" in err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_plain_named_shard_linking_out_is_refused(exported, tmp_path, capsys):  # noqa: F811
    hf, _ = exported
    other = _shard(hf, tmp_path / "tenant_b", ["a.safetensors", "b.safetensors"])
    upload = tmp_path / "uploads" / "evil"
    upload.mkdir(parents=True)
    for name in ("config.json", "model.safetensors.index.json", "b.safetensors"):
        shutil.copy(other / name, upload / name)
    os.symlink(other / "a.safetensors", upload / "a.safetensors")
    rc, err = _import(upload, tmp_path / "run", capsys)
    assert rc == 1 and "symbolic link leading outside" in err and "a.safetensors" in err


def test_a_config_linking_out_is_refused(exported, tmp_path, capsys):  # noqa: F811
    hf, _ = exported
    upload = tmp_path / "uploads" / "evil"
    upload.mkdir(parents=True)
    shutil.copy(hf / "model.safetensors", upload / "model.safetensors")
    os.symlink(hf / "config.json", upload / "config.json")
    rc, err = _import(upload, tmp_path / "run", capsys)
    assert rc == 1 and "symbolic link leading outside" in err and "config.json" in err


def test_links_inside_and_the_hub_cache_layout_still_import(exported, tmp_path, capsys):  # noqa: F811
    hf, model = exported
    inside = tmp_path / "inside"
    inside.mkdir()
    shutil.copy(hf / "config.json", inside / "config.json")
    shutil.copy(hf / "model.safetensors", inside / "weights.bin.safetensors")
    os.symlink("weights.bin.safetensors", inside / "model.safetensors")
    rc, err = _import(inside, tmp_path / "run1", capsys)
    assert rc == 0, err

    repo = tmp_path / "hub" / "models--me--enc"  # huggingface_hub's cache: files are links to blobs
    (repo / "blobs").mkdir(parents=True)
    snap = repo / "snapshots" / "0123abcd"
    snap.mkdir(parents=True)
    for name, blob in (("config.json", "c0ffee"), ("model.safetensors", "deadbeef")):
        shutil.copy(hf / name, repo / "blobs" / blob)
        os.symlink(f"../../blobs/{blob}", snap / name)
    rc, err = _import(snap, tmp_path / "run2", capsys)
    assert rc == 0, err
    torch.testing.assert_close(load(tmp_path / "run2").model.encoder.layers[2].mlp.Wi.weight,
                               model.encoder.layers[2].mlp.Wi.weight)
