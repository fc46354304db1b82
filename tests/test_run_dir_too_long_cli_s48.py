"""A run folder name longer than the file system takes is one worded usage error from the
commands that stat it before the trainer does (finetune's freshness check, impute's run_dir
check), not a raw OSError (ENAMETOOLONG)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from encoderkit.errors import UsageError

LONG = "r" * 300


def _name_max(path: Path) -> int:
    return os.pathconf(path, "PC_NAME_MAX")


def test_finetune_names_a_run_dir_too_long(tmp_path: Path) -> None:
    if _name_max(tmp_path) >= 300:
        pytest.skip("this file system takes 300-byte names")
    from encoderkit.tasks import finetune

    (tmp_path / "labels.csv").write_text("id,label\nrow0,a\n")
    with pytest.raises(UsageError, match=r"is 300 bytes long, more than the file system takes"):
        finetune(["checkpoint=none", "domain=tabular", f"data.store={tmp_path / 'absent.zarr'}",
                  f"task.labels={tmp_path / 'labels.csv'}", f"run.dir={tmp_path / LONG}"])
    assert [p.name for p in tmp_path.iterdir()] == ["labels.csv"]


def test_impute_names_a_run_dir_too_long(tmp_path: Path) -> None:
    if _name_max(tmp_path) >= 300:
        pytest.skip("this file system takes 300-byte names")
    from encoderkit.impute import check_run_dir

    with pytest.raises(UsageError, match=r"'run_dir' parameter .* is 300 bytes long"):
        check_run_dir(tmp_path / LONG, overwrite=False)
