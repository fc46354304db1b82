"""A run folder whose ``checkpoints/`` (or ``best/``, ``members/``, or one checkpoint) is a
symbolic link is refused at the trainer's start: a resumed run wrote its checkpoints into the
linked run's folder and pruned that run's own (``train.keep=1`` left the other run 1 of its
checkpoints). Links are never taken for checkpoints, pruned, or followed when removed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import testdomain as td
from encoderkit.errors import DataError
from encoderkit.train import checkpoint as ckpt
from encoderkit.train import pretrain


@pytest.fixture(scope="module")
def victim(tmp_path_factory):
    root = tmp_path_factory.mktemp("links")
    store = td.write_store(root / "s.zarr", n=32)
    run = Path(pretrain(td.tiny_overrides(store, str(root / "victim"), steps=2,
                                          **{"train.keep": 0, "train.checkpoint_every": 1})))
    return store, run


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("where", ["checkpoints", "checkpoints/2", "best", "members", "members/1"])
def test_a_linked_part_of_a_run_is_refused_and_the_linked_run_is_untouched(victim, tmp_path, where):
    store, run = victim
    before = {p.relative_to(run): p.stat().st_mtime_ns for p in run.rglob("*")}
    up = tmp_path / "up"
    up.mkdir()
    shutil.copy(run / "config.yaml", up / "config.yaml")
    if where in ("checkpoints/2", "members/1"):  # (members/1: a member linked to another run resumed it)
        (up / where.split("/")[0]).mkdir()
    target = run / "checkpoints" / "2" if where == "checkpoints/2" else run if where == "members/1" \
        else run / "checkpoints"
    (up / where).symlink_to(target, target_is_directory=True)
    with pytest.raises(DataError, match="is a link: a run's checkpoints are written and pruned in place") as e:
        pretrain(td.tiny_overrides(store, str(up), steps=4, **{"train.keep": 1}))
    assert str(up / where) in str(e.value)
    assert {p.relative_to(run): p.stat().st_mtime_ns for p in run.rglob("*")} == before
    assert _names(run / "checkpoints") == ["1", "2"]


def test_links_are_no_checkpoints_and_are_removed_as_links(victim, tmp_path):
    _, run = victim
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "7").symlink_to(run / "checkpoints" / "2", target_is_directory=True)
    (folder / ".tmp-3-1").symlink_to(run / "checkpoints" / "1", target_is_directory=True)
    assert ckpt.complete_checkpoints(folder) == [] and ckpt.latest_checkpoint(folder) is None
    ckpt.remove_stale(folder)
    assert _names(folder) == ["7"] and _names(run / "checkpoints" / "1")  # the target kept its files
    # keep=1 prunes this run's own older checkpoints, never the link
    tensors = {"w": torch.zeros(2)}
    for step in (8, 9):
        ckpt.save_checkpoint(folder, step, tensors, {}, [], {"step": step}, keep=1)
    assert _names(folder) == ["7", "9"]
    assert _names(run / "checkpoints" / "2") == _names(run / "checkpoints" / "1")
