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


def test_impute_names_a_file_or_a_dangling_link_in_its_run_dir(tmp_path: Path) -> None:
    """impute's run_dir is refused as the trainer's run.dir is: the part at fault named, exit 2
    (was "cannot create the run_dir: Not a directory / File exists", exit 1)."""
    from encoderkit.impute import _work_dir

    (tmp_path / "afile").write_text("")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    for run_dir, named in [("afile/sub", "afile' is a file, not a folder"),
                           ("dangling", "dangling' is a link that leads to no folder"),
                           ("dangling/sub", "dangling' is a link that leads to no folder")]:
        with pytest.raises(UsageError, match=named) as caught:
            _work_dir(str(tmp_path / run_dir), False, "in.csv", "out.csv")
        assert caught.value.exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "dangling"]


def test_domain_still_exports_torch_names_lazily() -> None:
    """Plug-ins that imported ``Tensor`` / ``nn`` / ``torch`` from encoderkit.domain (when it
    imported torch at the top) still can."""
    import torch

    import encoderkit.domain as d

    assert d.Tensor is torch.Tensor and d.nn is torch.nn and d.torch is torch
    with pytest.raises(AttributeError):
        d.not_a_name  # noqa: B018
