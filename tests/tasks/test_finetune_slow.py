"""Slow fine-tuning checks in subprocesses: SIGKILL at random moments (also while a
checkpoint is written) resumes to the weights of an uninterrupted run, bitwise (CPU);
2 gloo ranks under DDP and FSDP2 fine-tune with validation gathered across ranks."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

import testdomain as td
from conftest import ft_overrides
from crash_runs import ENTRY, crash_and_finish
from encoderkit.tasks import finetune


def two_ranks(overrides: list[str]) -> None:
    """``encoderkit finetune`` under torchrun with 2 gloo ranks (1 thread each); asserts success."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", str(ENTRY), "finetune", *overrides],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
def test_sigkill_during_finetune_resumes_to_identical_weights(labelled_store, tmp_path):
    store, _, _, labels = labelled_store
    extra = {"train.checkpoint_every": 2, "train.keep": 2, "train.eval_every": 2, "task.dropout": 0.2}
    steps = 10
    ref = finetune(ft_overrides(store, str(tmp_path / "ref"), str(labels), steps=steps, **extra))
    run = tmp_path / "crash"
    overrides = ft_overrides(store, str(run), str(labels), steps=steps, **extra)
    crash_and_finish(["finetune", *overrides], run, ref, steps, check_state=lambda state: "task" in state)


@pytest.mark.slow
@pytest.mark.parametrize("strategy,max_tokens", [("ddp", 128), ("fsdp", 128), ("ddp", "auto")])
def test_two_ranks_finetune_with_validation(labelled_store, tmp_path, strategy, max_tokens):
    store, _, _, labels = labelled_store
    run = tmp_path / strategy
    two_ranks(ft_overrides(store, str(run), str(labels), steps=40, **{
        "train.strategy": strategy, "train.eval_every": 20,
        "train.checkpoint_every": 20, "task.val_fraction": 0.3,
        "data.max_tokens": max_tokens}))
    if max_tokens == "auto":  # the global batch split over 2 ranks (budget.py's rule)
        from omegaconf import OmegaConf

        from encoderkit.data.store import RecordStore

        s = RecordStore(store)
        by_id = {s[i]["id"]: len(s[i]["ids"]) for i in range(len(s))}
        lengths = [by_id[i] for i in json.loads((run / "split.json").read_text())["train"]]
        n, total = len(lengths), sum(lengths)
        expected = max(math.ceil(min(32, math.ceil(n / 8)) * total / n / 2), max(lengths))
        assert OmegaConf.load(run / "config.yaml").data.max_tokens == expected
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    val = [m for m in metrics if "val_accuracy" in m]
    assert len(val) == 2 and val[-1]["val_accuracy"] >= 0.9  # 48 records, gathered from both ranks
    state = json.loads((run / "best" / "state.json").read_text())
    assert state["task"]["type"] == "classification"


@pytest.mark.slow
def test_two_ranks_train_an_ensemble(labelled_store, tmp_path):
    """``task.ensemble`` under torchrun: every rank trains every member in turn (each a
    distributed run), rank 0 writes the manifest with the ensemble's validation score."""
    import encoderkit

    store, _, _, labels = labelled_store
    run = tmp_path / "ens"
    two_ranks(ft_overrides(store, str(run), str(labels), steps=20, **{
        "train.eval_every": 10, "task.val_fraction": 0.3, "task.ensemble": 2}))
    manifest = json.loads((run / "ensemble.json").read_text())
    assert manifest["members"] == ["members/1"] and manifest["val"]["accuracy"] >= 0.9
    assert (run / "members" / "1" / "best" / "state.json").is_file()
    assert len(encoderkit.load(run).members) == 1


@pytest.fixture(scope="module")
def pretrained(labelled_store, tmp_path_factory):
    from encoderkit.train import pretrain

    store = labelled_store[0]
    return pretrain(td.tiny_overrides(store, str(tmp_path_factory.mktemp("pre") / "pre"), steps=3))


def ddp_from(pretrained, store, run, labels, steps: int, **extra) -> None:
    """Fine-tune ``pretrained`` under DDP on 2 ranks, validating on 30% of the labels."""
    two_ranks(ft_overrides(store, str(run), str(labels), steps=steps, **{
        "checkpoint": str(pretrained), "train.strategy": "ddp", "task.val_fraction": 0.3,
        "data.max_tokens": 128, **extra}))


@pytest.mark.slow
def test_two_ranks_fit_one_probe_head_from_a_pretrained_run(labelled_store, pretrained, tmp_path):
    """The default start from a checkpoint (``head_init=auto`` -> probe) under DDP: both
    ranks fit the probe on all training records (gathered), and the step-0 evaluation of
    that head is logged once."""
    store, _, _, labels = labelled_store
    run = tmp_path / "ddp"
    ddp_from(pretrained, store, run, labels, 20, **{"train.eval_every": 10, "train.checkpoint_every": 20})
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    split = json.loads((run / "split.json").read_text())
    assert [m["head_init_records"] for m in metrics if "head_init_records" in m] == [len(split["train"])]
    assert [m["step"] for m in metrics if "val_accuracy" in m] == [0, 10, 20]


@pytest.mark.slow
def test_two_ranks_train_an_ensemble_with_its_probe_member(labelled_store, pretrained, tmp_path):
    """Under torchrun every rank trains the training-split probe and the kept one; rank 0
    chooses the weight, removes ``members/probe_val`` and writes the manifest; the ensemble
    predicts the weighted mean of its members loaded alone."""
    import numpy as np

    import encoderkit
    from encoderkit.infer.load import resolve_checkpoint
    from encoderkit.tasks import probe_member as PM

    store, _, _, labels = labelled_store
    run = tmp_path / "ens"
    ddp_from(pretrained, store, run, labels, 10, **{"train.eval_every": 5, "task.ensemble": 2})
    manifest = json.loads((run / "ensemble.json").read_text())
    probe = manifest["probe"]
    assert probe["chosen_by"] == "validation" and probe["weight"] in PM.PROBE_WEIGHTS
    assert not (run / "members" / PM.PROBE_VAL).exists()
    assert (run / "members" / "probe" / "checkpoints").is_dir()
    parts = [encoderkit.load(resolve_checkpoint(run))] + [encoderkit.load(run / m) for m in manifest["members"]]
    outs = [p.predict(store)[["proba_0", "proba_1"]].to_numpy() for p in parts]
    got = encoderkit.load(run).predict(store)[["proba_0", "proba_1"]].to_numpy()
    np.testing.assert_allclose(got, sum(w * o for w, o in zip(manifest["weights"], outs)), atol=1e-6)
