"""``check_run_dir`` (encoderkit/train/run_dir.py) called with a ``run.dir`` the file system
cannot take: a name longer than NAME_MAX, a path longer than PATH_MAX. Before: the first stat
raised a raw ``OSError`` (ENAMETOOLONG) to every caller but the trainer, which worded it
itself; now ``check_run_dir`` raises the trainer's one-line error (``run_dir_error``): exit 2
naming the part at fault, and a disk's failure of the stat exit 1."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from encoderkit.errors import DataError
from encoderkit.train import checkpoint as ckpt
from encoderkit.train.config import ConfigError
from encoderkit.train.run_dir import check_run_dir

TOO_LONG = os.strerror(errno.ENAMETOOLONG)  # "File name too long"


@pytest.mark.parametrize("below", ["", "run"], ids=["itself", "a-parent"])
def test_a_name_longer_than_the_file_system_takes_is_one_usage_line(tmp_path, below):
    run_dir = tmp_path / ("r" * 300) / below if below else tmp_path / ("r" * 300)
    with pytest.raises(ConfigError) as info:
        check_run_dir(run_dir)
    assert info.value.exit_code == 2
    assert str(info.value) == (f"The 'run.dir' parameter {str(run_dir)!r} cannot be created: the name "
                               f"{'r' * 24!r}... is 300 bytes long, more than the file system takes "
                               f"({TOO_LONG}); choose another run.dir")
    assert list(tmp_path.iterdir()) == []  # nothing made


def test_a_path_longer_than_the_file_system_takes_is_one_usage_line(tmp_path):
    run_dir = tmp_path.joinpath(*["p" * 200] * 25)  # each name fits, the whole is over PATH_MAX (4096)
    with pytest.raises(ConfigError, match=r"cannot be created: the path is longer than the file "
                                          rf"system takes \({TOO_LONG}\); choose another run.dir$"):
        check_run_dir(run_dir)


def test_the_checkpoint_module_name_raises_the_same(tmp_path):
    """``checkpoint.check_run_dir`` (the name callers import) is the worded one."""
    with pytest.raises(ConfigError, match="is 300 bytes long"):
        ckpt.check_run_dir(tmp_path / ("c" * 300))


def test_a_disk_that_fails_the_stat_is_exit_1_naming_the_folder(tmp_path, monkeypatch):
    run_dir = tmp_path / "runs" / "r1"
    real = Path.is_dir

    def failing(self, *args, **kwargs):  # the disk fails the run folder's first stat
        if Path(self) == run_dir:
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "is_dir", failing)
    with pytest.raises(DataError) as info:
        check_run_dir(run_dir)
    assert not isinstance(info.value, ConfigError) and info.value.exit_code == 1
    assert str(info.value) == f"{run_dir}: cannot write the output: {os.strerror(errno.EIO)}"


def test_a_new_run_dir_of_fitting_names_passes(tmp_path):
    check_run_dir(tmp_path / ("r" * 255) / "run")  # NAME_MAX itself is a valid name
    assert list(tmp_path.iterdir()) == []  # checking makes nothing
