"""Resuming with another number of processes (audit s48 d, finding 2): the rank count is
checked before the config. A fine-tuning run's ``data.max_tokens=auto`` is split among the
ranks, so a checkpoint written by 2 ranks records other resolved ``data.max_tokens`` /
``data.max_seqlen`` than 1 process resolves; the resume was refused as "trained with a
different config: data.max_seqlen ...; data.max_tokens ... (use another run.dir)", values the
user never typed, where pretraining says the checkpoint was written by 2 ranks.

The 2-rank checkpoint is made without processes: a 1-process checkpoint edited as 2 ranks
write it (one loader and random state per rank, ``world_size``, the per-rank auto batch
halved, the manifest's sha256 of state.json renewed so that it still verifies)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import testdomain as td
from encoderkit.tasks import finetune
from encoderkit.train import checkpoint as ckpt
from encoderkit.train.config import ConfigError


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("ws")
    store = td.write_store(folder / "store.zarr", n=48)
    labels = folder / "labels.csv"
    labels.write_text("id,label\n" + "".join(f"r{i},{i % 2}\n" for i in range(48)))
    return store, str(labels)


def _overrides(store: str, labels: str, run: Path, steps: int) -> list[str]:
    """A seconds-long fine-tuning run from scratch with the auto batch (split per rank)."""
    base = [o for o in td.tiny_overrides(store, str(run), steps=steps)
            if not o.startswith(("data.val_fraction=", "data.max_tokens=", "train.eval_every=",
                                 "train.checkpoint_every="))]
    return base + ["checkpoint=none", f"task.labels={labels}", "task.ensemble=1",
                   "data.max_tokens=auto", "train.eval_every=0", "train.checkpoint_every=2"]


def _as_written_by_two_ranks(path: Path) -> None:
    """Edit checkpoint ``path`` as 2 ranks would have written it (``TrainerOutputs._save``
    gathers one loader and one random state per rank; ``auto_max_tokens`` halves the batch)."""
    state = json.loads((path / ckpt.STATE_FILE).read_text())
    state["loader"], state["rng"] = state["loader"] * 2, state["rng"] * 2
    state["world_size"] = 2
    data = state["config"]["data"]
    data["max_tokens"], data["max_seqlen"] = data["max_tokens"] // 2, data["max_seqlen"] // 2
    (path / ckpt.STATE_FILE).write_text(json.dumps(state, indent=1))
    manifest = json.loads((path / ckpt.MANIFEST_FILE).read_text())
    manifest["files"][ckpt.STATE_FILE] = ckpt.file_digest(path / ckpt.STATE_FILE)
    (path / ckpt.MANIFEST_FILE).write_text(json.dumps(manifest))


def test_a_checkpoint_of_two_ranks_resumed_by_one_process_names_the_rank_count(inputs, tmp_path):
    store, labels = inputs
    run = tmp_path / "run"
    finetune(_overrides(store, labels, run, steps=2))
    last = run / "checkpoints" / "2"
    _as_written_by_two_ranks(last)
    ckpt.verify_checkpoint(last)  # still a sound checkpoint: only the rank count stands in the way
    with pytest.raises(ConfigError) as info:
        finetune(_overrides(store, labels, run, steps=4))
    message = str(info.value)
    assert message == (f"checkpoint {last} was written by 2 ranks; resuming needs the same "
                       f"number (got 1)"), message
    assert "different config" not in message and "max_tokens" not in message
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["2"]  # nothing trained on


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_the_same_rank_count_still_resumes(inputs, tmp_path):
    """The check moved, not widened: a 1-process checkpoint resumes in 1 process."""
    store, labels = inputs
    run = tmp_path / "run"
    finetune(_overrides(store, labels, run, steps=2))
    finetune(_overrides(store, labels, run, steps=4))
    assert json.loads((run / "checkpoints" / "4" / ckpt.STATE_FILE).read_text())["step"] == 4
