"""A run.dir the trainer cannot make (encoderkit/train/trainer_outputs.py, ``create_run_dir``):
the exit code says whose the problem is. A path the user named wrong (a file where a folder must
be, a name too long for the file system) is a usage error, exit 2, naming the path and the part
at fault; a disk that fails the folder's creation (ENOSPC, EIO, EROFS) is exit 1, worded as any
failed write. Before: every failure was exit 2 with the bare system text ("File exists", "Not a
directory", "No space left on device"), and a name too long was a traceback."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from encoderkit import cli


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    table = folder / "t.csv"
    table.write_text("a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(30)))
    assert cli.main(["ingest", "domain=tabular", f"input={table}", f"output={folder / 's.zarr'}"]) == 0
    return folder / "s.zarr"


def pretrain(store: Path, run_dir: str, capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    rc = cli.main(["pretrain", "domain=tabular", f"data.store={store}", f"run.dir={run_dir}",
                   "train.steps=1", "train.progress=false"])
    return rc, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("where", ["under", "itself"])
def test_a_file_in_the_run_dir_path_is_a_usage_error_naming_it(store, tmp_path, capsys, where):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a user's file")
    run_dir = blocker / "run" if where == "under" else blocker
    rc, err = pretrain(store, str(run_dir), capsys)
    assert rc == 2 and len(err) == 1, err
    assert f"The 'run.dir' parameter {str(run_dir)!r} cannot be created" in err[0]
    assert f"{str(blocker)!r} is a file, not a folder" in err[0]
    assert blocker.read_text() == "a user's file"


def test_a_link_to_nowhere_in_the_run_dir_path_is_a_usage_error_naming_it(store, tmp_path, capsys):
    link = tmp_path / "gone"
    link.symlink_to(tmp_path / "absent")
    rc, err = pretrain(store, str(link / "run"), capsys)
    assert rc == 2 and len(err) == 1, err
    assert f"{str(link)!r} is a link that leads to no folder" in err[0]


def test_a_name_too_long_is_a_usage_error_not_a_traceback(store, tmp_path, capsys):
    name = "r" * 300  # NAME_MAX is 255 bytes on ext4, xfs, tmpfs, apfs
    rc, err = pretrain(store, str(tmp_path / name / "run"), capsys)
    assert rc == 2 and len(err) == 1, err
    assert "Traceback" not in err[0] and "bug" not in err[0]
    assert "The 'run.dir' parameter" in err[0] and "is 300 bytes long" in err[0]
    assert os.strerror(errno.ENAMETOOLONG) in err[0]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO, errno.EROFS], ids=["ENOSPC", "EIO", "EROFS"])
def test_a_disk_that_fails_the_mkdir_is_exit_1_naming_the_folder(store, tmp_path, capsys, monkeypatch, code):
    run_dir = tmp_path / "runs" / "r1"
    real = Path.mkdir

    def failing(self, *args, **kwargs):  # the disk fails when the run folder itself is made
        if Path(self).absolute() == run_dir:
            raise OSError(code, os.strerror(code), str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", failing)
    rc, err = pretrain(store, str(run_dir), capsys)
    assert rc == 1 and len(err) == 1, err
    assert err[0].endswith(f"{run_dir}: cannot write the output: {os.strerror(code)}"), err
    assert not run_dir.exists()
