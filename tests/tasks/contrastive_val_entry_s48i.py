"""A contrastive model's validation figures on records shared among the ranks of a torchrun
group (``test_contrastive_val_s48i.py``): rank r takes records r, r + W, ... in batches of
``PER_BATCH`` records and calls ``TaskEvaluation._contrastive_val``; rank 0 writes the figures
as JSON to ``argv[1]``. ``figures(batches, info)`` is the same call in one process."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from types import SimpleNamespace

import numpy as np
import torch

import testdomain as td
from encoderkit.core import EncoderConfig
from encoderkit.data.collate import collate
from encoderkit.tasks.model import TaskModel
from encoderkit.tasks.objective import Prepare
from encoderkit.tasks.objective_eval import TaskEvaluation
from encoderkit.tasks.spec import TaskSpec
from encoderkit.train import distributed as D

RECORDS = 23
PER_BATCH = 4
CONFIG = EncoderConfig.preset("tiny", hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                              local_window=16, backend="sdpa", rope_axes=1)


def model() -> TaskModel:
    torch.manual_seed(0)
    spec = TaskSpec(type="contrastive", projection="mlp")
    return TaskModel(td.CropViewsDomain({"vocab": td.VOCAB}), CONFIG, spec, temperature=0.1)


def pairs(records) -> list:
    """The two unmasked views of each record (validation's), seeded per record as the loader does."""
    domain = td.CropViewsDomain({"vocab": td.VOCAB})
    spec = TaskSpec(type="contrastive", projection="mlp")
    prepare = Prepare(domain, spec, np.zeros(RECORDS), False, "", np.arange(RECORDS))
    raw = td.make_records(RECORDS, seed=3)
    out = []
    for r in records:
        ex = domain.featurize({"ids": raw[r]})
        ex.record = int(r)
        out.append(prepare(ex, np.random.default_rng([1, 0, int(r), 0]), False))
    return out


def batches(records, per_batch: int) -> list:
    views = pairs(records)
    return [collate([m for p in views[i:i + per_batch] for m in p]) for i in range(0, len(views), per_batch)]


def figures(batch_list, info: D.DistInfo) -> dict:
    trainer = SimpleNamespace(device=torch.device("cpu"), _autocast=contextlib.nullcontext, info=info,
                              _fsdp=False)
    return TaskEvaluation._contrastive_val(SimpleNamespace(model=model()), batch_list, trainer)


if __name__ == "__main__":
    torch.set_num_threads(1)
    info, _ = D.setup("cpu")
    got = figures(batches(np.arange(info.rank, RECORDS, info.world_size), PER_BATCH), info)
    if info.is_main:
        with open(sys.argv[1], "w") as f:
            json.dump(got, f)
    D.teardown()
    sys.stdout.flush()
    os._exit(0)  # a Gloo shutdown race can abort a finished process (see tests/train/dist_entry.py)
