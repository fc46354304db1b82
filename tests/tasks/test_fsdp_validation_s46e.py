"""Validation under FSDP2 scores every validation record (s46e). Every rank must run the same
number of forwards; the ranks were cut to the fewest batches any of them had, so the records
of the others' last batches were left out of val_<metric> while the summary said "validation
(64 records)". Now a rank with fewer batches repeats one and drops its outputs. Reference:
the run's own split file, and the loader's batches per rank computed here."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import ft_overrides
from test_finetune_slow import two_ranks


@pytest.mark.slow
def test_fsdp_validation_scores_every_record_when_ranks_have_unequal_batches(labelled_store, tmp_path):
    from encoderkit.data.loader import PackedLoader
    from encoderkit.data.store import RecordStore
    from encoderkit.registry import get_domain
    from encoderkit.tasks.labels import split_labelled

    store, _, y, labels = labelled_store
    fraction, max_tokens = 0.4, 64
    # the validation records' batches on each of 2 ranks, as the run's eval loader cuts them
    _, val = split_labelled(np.ones(len(y), bool), fraction, 0, y)
    st = RecordStore(store)
    domain = get_domain(st.domain)(st.schema)
    per_rank = [len(list(PackedLoader(st, domain, indices=np.asarray(val), max_tokens=max_tokens, max_seqlen=64,
                                      seed=1, rank=r, world_size=2, num_workers=0, train=False, shuffle=False,
                                      epochs=1))) for r in (0, 1)]
    assert per_rank[0] != per_rank[1], per_rank  # the case in question: one rank has a batch more
    run = tmp_path / "fsdp"
    two_ranks(ft_overrides(store, str(run), str(labels), steps=4, **{
        "train.strategy": "fsdp", "train.eval_every": 4, "train.checkpoint_every": 0,
        "task.val_fraction": fraction, "data.max_tokens": max_tokens}))
    split = json.loads((run / "split.json").read_text())["val"]
    assert len(split) == len(val)
    scored = np.load(run / "best" / "val.npz")
    assert len(scored["y_true"]) == len(split)  # was 62 of 64
    logged = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    acc = [m["val_accuracy"] for m in logged if "val_accuracy" in m][-1]
    assert acc == pytest.approx(float(np.mean(scored["values"].argmax(1) == scored["y_true"])))
