"""Weights and predictions under file names whose bytes are not UTF-8 (session 52, helper w).

Under a locale that is not UTF-8 (ISO-8859-1), a run folder ``lauf_ü`` is the bytes
``lauf_\\xfc`` on disk, which are not UTF-8. safetensors' readers refuse such a path ("Path
... is not valid UTF-8"): a pretrain into it wrote its checkpoint and then could neither resume
from it nor ``load`` it (embed, predict, fine-tuning from it). A predictions Parquet so named
was a UnicodeEncodeError (pyarrow writes a name's UTF-8 spelling). Here a name's bytes are not
UTF-8 (``lauf_\\xfc``), which this UTF-8 test process spells with a surrogate escape, as a
Latin-1 locale's name reaches safetensors and pyarrow wrongly.

References: the same checkpoint (or run) under an ASCII name, read by safetensors itself
(headers by ``safe_open``, tensors by ``load_file``), and pandas' own by-name Parquet writer.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import zarr
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

import encoderkit
import testdomain as td
from encoderkit.cli import main
from encoderkit.data.store import RecordStore
from encoderkit.tasks import finetune
from encoderkit.tasks.prediction_output import write_frame
from encoderkit.train import checkpoint as ckpt
from encoderkit.train import pretrain
from encoderkit.train.checkpoint_safetensors import load_tensors, read_header


def latin(stem: str, suffix: str = "") -> str:
    """``<stem>_ü<suffix>`` as ISO-8859-1 names it: ``ü`` is the byte 0xfc, not UTF-8."""
    return os.fsdecode(stem.encode() + b"_\xfc" + suffix.encode())


ONCE = {"train.eval_every": 0, "train.checkpoint_every": 2}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A 2-step pretraining run under a name that is not UTF-8, and its ASCII-named copy."""
    root = tmp_path_factory.mktemp("names")
    store = td.write_store(root / "store.zarr", n=48, seed=2)
    pre = root / latin("lauf")
    pretrain(td.tiny_overrides(store, str(pre), steps=2, **ONCE))
    assert b"lauf_\xfc" in os.listdir(os.fsencode(root))  # written under the byte name
    shutil.copytree(pre, root / "lauf_u")
    return {"root": root, "store": Path(store), "pre": pre, "ascii": root / "lauf_u"}


def test_the_checkpoint_verifies_and_reads_as_its_ascii_named_copy(runs):
    found = ckpt.newest_valid_checkpoint(runs["pre"] / "checkpoints")
    assert found == runs["pre"] / "checkpoints" / "2"
    ckpt.verify_checkpoint(found, for_inference=True)
    model, optim, groups, _ = ckpt.load_checkpoint(found, resume=True)
    ref = runs["ascii"] / "checkpoints" / "2"
    want_model = load_file(str(ref / ckpt.MODEL_FILE))  # safetensors itself, by an ASCII name
    want_optim = {k: v for k, v in load_file(str(ref / ckpt.OPTIMIZER_FILE)).items() if k != "_empty"}
    for got, want in ((model, want_model), (optim, want_optim)):
        assert got.keys() == want.keys() and got
        assert all(torch.equal(got[k], want[k]) and got[k].dtype == want[k].dtype for k in want)
    with safe_open(str(ref / ckpt.OPTIMIZER_FILE), framework="pt") as f:
        assert groups == json.loads(f.metadata()["param_groups"])
    # each tensor in memory of its own and writable (an optimizer's state is updated in place)
    t = next(iter(optim.values()))
    t.add_(1.0)
    assert torch.equal(t, want_optim[next(iter(optim))] + 1.0)


def test_load_and_embed_give_the_ascii_named_copys_embeddings(runs, tmp_path):
    store = str(runs["store"])
    got = encoderkit.load(runs["pre"])
    want = encoderkit.load(runs["ascii"])
    assert got.step == want.step == 2
    emb = got.embed(store, progress=False)
    np.testing.assert_array_equal(emb, want.embed(store, progress=False))
    # and streamed to outputs so named (.npy and .zarr)
    out = got.embed(store, out=tmp_path / latin("emb", ".npy"), progress=False)
    np.testing.assert_array_equal(np.load(out), emb)
    out = got.embed(store, out=tmp_path / latin("emb", ".zarr"), progress=False)
    np.testing.assert_array_equal(zarr.open_group(str(out), mode="r")["embeddings"][:], emb)


def test_a_run_so_named_resumes_as_its_ascii_named_copy(runs):
    for run in (runs["pre"], runs["ascii"]):  # resumed from checkpoint 2 to step 4
        pretrain(td.tiny_overrides(str(runs["store"]), str(run), steps=4, **ONCE))
    got = load_tensors(runs["pre"] / "checkpoints" / "4" / ckpt.MODEL_FILE)
    want = load_file(str(runs["ascii"] / "checkpoints" / "4" / ckpt.MODEL_FILE))
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    first = load_file(str(runs["ascii"] / "checkpoints" / "2" / ckpt.MODEL_FILE))
    assert not all(torch.equal(first[k], want[k]) for k in want)  # it did train on


def test_fine_tuned_from_it_and_predicted_to_a_parquet_so_named(runs):
    root, store = runs["root"], str(runs["store"])
    records = RecordStore(store)
    labels = root / "labels.csv"
    pd.DataFrame({"id": [records[i]["id"] for i in range(len(records))],
                  "label": [i % 3 for i in range(len(records))]}).to_csv(labels, index=False)
    extra = {"checkpoint": str(runs["pre"]), "task.labels": str(labels), "task.ensemble": 1, **ONCE}
    overrides = [o for o in td.tiny_overrides(store, str(root / latin("fein")), steps=2)
                 if o.split("=", 1)[0] not in extra and not o.startswith(("model", "data.val_fraction"))]
    finetune(overrides + [f"{k}={v}" for k, v in extra.items()])
    out = root / latin("vorhersage", ".parquet")
    assert main(["predict", f"checkpoint={root / latin('fein')}", f"input={store}", f"output={out}"]) == 0
    want = encoderkit.load(root / latin("fein")).predict(store, progress=False)
    with open(out, "rb") as f:  # Python opens the name by its bytes
        got = pd.read_parquet(f)
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_write_frame_writes_a_parquet_so_named_as_pandas_writes_one(tmp_path):
    frame = pd.DataFrame({"id": ["a", "b", "c"], "prediction": [1, 0, 1], "proba_1": [0.9, 0.2, 0.7]})
    got = write_frame(frame, tmp_path / latin("p", ".parquet"))
    assert os.listdir(os.fsencode(tmp_path)) == [b"p_\xfc.parquet"]  # that name, no temporary left
    frame.to_parquet(tmp_path / "ref.parquet", index=False)  # pandas' own writer, by an ASCII name
    assert got.read_bytes() == (tmp_path / "ref.parquet").read_bytes()


# ------------------------------------------------------------------ headers, read by the name's bytes

def _files() -> dict[str, bytes]:
    good = save({"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.zeros(0, 4),
                 "i": torch.tensor([1, 2], dtype=torch.int64)}, metadata={"param_groups": "[1]"})
    (n,) = struct.unpack("<Q", good[:8])
    return {
        "good": good,
        "bare": save({"x": torch.ones(1, dtype=torch.bfloat16)}),
        "empty": b"",
        "short": good[:5],
        "length beyond the file": struct.pack("<Q", len(good)) + good[8:],
        "not json": struct.pack("<Q", 4) + b"{{{{" + good[8 + n:],
        "a list": struct.pack("<Q", 2) + b"[]",
        "offsets beyond the data": good[:-8],
        "bytes after the data": good + bytes(8),
        "a tensor's bytes not its shape's": _edited(good, b'"shape":[2,3]', b'"shape":[3,3]'),
        "an unknown dtype": _edited(good, b'"I64"', b'"I63"'),
        "a sub-byte dtype": save({"x": torch.zeros(4, dtype=torch.uint8)}).replace(b'"U8"', b'"F4"'),
    }


def _edited(data: bytes, old: bytes, new: bytes) -> bytes:
    assert len(old) == len(new) and data.count(old) == 1
    return data.replace(old, new)


@pytest.mark.parametrize("case", list(_files()))
def test_a_header_read_by_the_names_bytes_is_safetensors_own(tmp_path, case):
    data = _files()[case]
    ref, named = tmp_path / "ref.safetensors", tmp_path / latin("w", ".safetensors")
    ref.write_bytes(data)
    named.write_bytes(data)
    try:
        with safe_open(str(ref), framework="pt") as f:
            want = ({k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}, dict(f.metadata() or {}))
    except SafetensorError:
        with pytest.raises(SafetensorError, match="deserializing header"):
            read_header(named)
        return
    assert tuple(read_header(named)) == want
    assert tuple(read_header(ref)) == want  # a UTF-8 name: safetensors' own reader


def test_a_checkpoint_without_manifest_so_named_verifies_by_its_headers_until_damaged(runs, tmp_path):
    old = tmp_path / latin("alt")
    shutil.copytree(runs["ascii"] / "checkpoints" / "2", old)
    (old / ckpt.MANIFEST_FILE).unlink()  # a checkpoint written before manifests: headers only
    ckpt.verify_checkpoint(old)  # was "Path ... is not valid UTF-8"
    weights = old / ckpt.MODEL_FILE
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(encoderkit.errors.DataError) as info:
        ckpt.verify_checkpoint(old)
    msg = str(info.value)
    assert str(weights) in msg and "not a readable safetensors file" in msg and "UTF-8" not in msg
