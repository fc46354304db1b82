"""What a killed or failing writer leaves behind (audit s44, findings 5-7): work folders in the
temporary directory (encoderkit/outputs.py ``make_work_dir``), a full disk's pending zarr writes
(``store.settle_zarr_writes``) and an old store stranded between the two renames of an
overwrite (``store.recover_stranded``). Kills are real (SIGKILL, ``os._exit``) in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from encoderkit.data.store import RecordStore, StoreWriter
from encoderkit.errors import DataError, OutputExistsError
from encoderkit.outputs import WORK_MARKER, make_work_dir, remove_dead_work_dirs

REPO = Path(__file__).resolve().parents[2]


def run_python(code: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True,
                         text=True, env=env, timeout=120, cwd=REPO)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def dead_pid() -> int:
    """The pid of a process that has exited (and was reaped)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def fake_work_dir(root: Path, prefix: str, **owner) -> Path:
    """A work folder as ``make_work_dir`` of another process would have left it."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    (path / "train.zarr").mkdir()
    (path / "train.zarr" / "chunk").write_bytes(b"x" * 1000)
    from encoderkit.outputs import _pid_namespace

    marker = {"host": __import__("socket").gethostname(), "prefix": prefix, "started": None,
              "pidns": _pid_namespace(), **owner}
    (path / WORK_MARKER).write_text(json.dumps(marker))
    return path


def leftovers(folder: Path, prefix: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(prefix))


# ---- finding 5: work folders in the temporary directory ----

def test_a_sigkilled_processs_work_folder_is_removed_by_the_next_one(tmp_path):
    run_python("""
        import os, signal, sys
        from encoderkit.outputs import make_work_dir
        work = make_work_dir("encoderkit-impute-", dir=sys.argv[1])
        (work / "train.zarr").write_bytes(b"x" * 100_000)
        os.kill(os.getpid(), signal.SIGKILL)
    """, str(tmp_path), check=False)
    (left,) = leftovers(tmp_path, "encoderkit-impute-")  # the kill left it (the audit's 15 MB each)
    mine = make_work_dir("encoderkit-impute-", dir=tmp_path)
    assert leftovers(tmp_path, "encoderkit-impute-") == [mine.name] and left != mine.name
    assert json.loads((mine / WORK_MARKER).read_text())["pid"] == os.getpid()


def test_only_folders_of_dead_owners_on_this_host_that_carry_the_marker_are_removed(tmp_path):
    prefix = "encoderkit-ingest-"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        from encoderkit.outputs import _start_time

        dead = fake_work_dir(tmp_path, prefix, pid=dead_pid())
        reused = fake_work_dir(tmp_path, prefix, pid=os.getpid(), started=-1)  # a recycled pid: gone
        live = fake_work_dir(tmp_path, prefix, pid=sleeper.pid, started=_start_time(sleeper.pid))
        other_host = fake_work_dir(tmp_path, prefix, pid=dead_pid(), host="elsewhere-" + os.urandom(4).hex())
        other_prefix = fake_work_dir(tmp_path, "encoderkit-impute-", pid=dead_pid())
        # (review s44) another container of the pod: same host name and /tmp, its own pids
        other_pids = fake_work_dir(tmp_path, prefix, pid=dead_pid(), pidns="4026531836:another-boot")
        unmarked = Path(tempfile.mkdtemp(prefix=prefix, dir=tmp_path))  # not made by make_work_dir
        (unmarked / "data").write_text("a user's")
        mine = make_work_dir(prefix, dir=tmp_path)
        remove_dead_work_dirs(prefix, dir=tmp_path)
        # (session 50) a dead writer's folder of another encoderkit prefix goes too: each
        # command's work folder was left until the next command of its own kind
        assert not dead.exists() and not reused.exists() and not other_prefix.exists()
        for kept in (live, other_host, other_pids, unmarked, mine):
            assert kept.exists(), kept
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.fixture()
def tmpdir_here(tmp_path, monkeypatch):
    """The temporary directory (where commands make their work folders) is a fresh folder."""
    folder = tmp_path / "TMP"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_parallel_ingest_removes_the_spool_folder_a_killed_one_left(tmp_path, tmpdir_here):
    from encoderkit.data.ingest import ingest

    stale = fake_work_dir(tmpdir_here, "encoderkit-ingest-", pid=dead_pid())
    files = []
    for k in range(3):
        files.append(tmp_path / f"p{k}.fa")
        files[-1].write_text(f">r{k}\nACGTACGTTTGACCA\n>s{k}\nGGGTTTAAACCC\n")
    ingest("genomic", [str(f) for f in files], str(tmp_path / "out.zarr"), progress=False, verbose=False,
           workers=2)
    assert len(RecordStore(str(tmp_path / "out.zarr"))) == 6
    assert leftovers(tmpdir_here, "encoderkit-ingest-") == [] and not stale.exists()


def test_impute_removes_the_work_folder_a_killed_impute_left(tmp_path, tmpdir_here, monkeypatch):
    import encoderkit.data.ingest as ingest_module
    from encoderkit.impute import impute

    stale = fake_work_dir(tmpdir_here, "encoderkit-impute-", pid=dead_pid())
    table = tmp_path / "t.csv"
    pd.DataFrame({"a": [1.0, None, 3.0, 4.0] * 5, "b": [2.0, 1.0, None, 5.0] * 5}).to_csv(table, index=False)

    def failing_ingest(*args, **kwargs):  # stop the impute after it made its work folder
        raise DataError("stop here", file=str(table))

    monkeypatch.setattr(ingest_module, "ingest", failing_ingest)
    with pytest.raises(DataError, match="stop here"):
        impute(str(table), str(tmp_path / "out.csv"), domain="tabular", progress=False)
    assert leftovers(tmpdir_here, "encoderkit-impute-") == [] and not stale.exists()


def test_encoder_imputer_fit_removes_the_work_folder_a_killed_fit_left(tmpdir_here, monkeypatch):
    import encoderkit.sklearn as sk

    stale = fake_work_dir(tmpdir_here, "encoderkit-imputer-", pid=dead_pid())

    def failing_ingest(*args, **kwargs):
        raise DataError("stop here")

    monkeypatch.setattr(sk, "_ingest_frame", failing_ingest)
    frame = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0] * 10, "b": [2.0, 1.0, np.nan, 5.0] * 10})
    with pytest.raises(DataError, match="stop here"):
        sk.EncoderImputer(steps=1, select="model").fit(frame)
    assert leftovers(tmpdir_here, "encoderkit-imputer-") == [] and not stale.exists()


# ---- finding 6: a full disk while zarr still has chunk writes in flight ----

FULL_DISK = """
    import asyncio, errno, sys, time
    import numpy as np
    import zarr.storage
    import encoderkit.data.store_writer as st  # where StoreWriter.abort looks settle_zarr_writes up
    from encoderkit.errors import EncoderkitError

    if sys.argv[2] == "unfixed":
        st.settle_zarr_writes = lambda *a, **k: None
    real, calls = zarr.storage.LocalStore.set, [0]

    def put(path):  # zarr's _put on a full disk: the chunk's folders are made, its data fails
        time.sleep(0.02)
        path.parent.mkdir(parents=True, exist_ok=True)
        raise OSError(errno.ENOSPC, "No space left on device")

    async def full_disk(self, key, value):  # the first chunk fails at once, the others a bit later
        if "/c/" not in key:
            return await real(self, key, value)
        calls[0] += 1
        if calls[0] == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        await asyncio.to_thread(put, self.root / key)

    zarr.storage.LocalStore.set = full_disk
    try:
        with st.StoreWriter(sys.argv[1], "synthetic") as w:
            w.append({"x": np.ones(30_000_000, dtype=np.uint8)})  # 115 chunks written at once
            w.finalize({}, {})
    except EncoderkitError as e:
        print(e, file=sys.stderr)
    if sys.argv[3] == "wait":
        time.sleep(1.5)
"""


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
@pytest.mark.parametrize("fixed", [True, False], ids=["fixed", "unfixed-reproduces"])
def test_a_full_disk_is_one_line_and_leaves_no_temporary(tmp_path, fixed):
    target = tmp_path / "big.zarr"
    mode = "fixed" if fixed else "unfixed"
    quick = run_python(FULL_DISK, str(target), mode, "exit")  # exits while writes may be pending
    waited = run_python(FULL_DISK, str(target), mode, "wait")  # they finish before the exit
    lines = quick.stderr.strip().splitlines()
    left = sorted(p.name for p in tmp_path.iterdir())
    if fixed:
        assert lines == [f"{target}: cannot write the store: No space left on device"], quick.stderr
        assert waited.stderr.strip().splitlines() == lines
        assert left == []
    else:  # the audit's symptoms, so the test above checks what it should
        assert any("Task was destroyed but it is pending" in x for x in lines[1:]), quick.stderr
        assert len(left) == 1 and left[0].startswith("big.zarr.tmp-"), left  # recreated after abort


# ---- finding 7: an overwrite killed between its two renames ----


@pytest.fixture(autouse=True)
def entries_aged(monkeypatch):
    """The kills here are a second old: recovery takes entries of any age (it leaves those
    renamed within ``RECENT_SECONDS``, which may be a writer's on another host)."""
    import encoderkit.outputs as outputs

    monkeypatch.setattr(outputs, "RECENT_SECONDS", 0.0)


def test_a_recently_moved_store_of_a_pid_unknown_here_is_left_alone(tmp_path, monkeypatch):
    """(review s44) A writer on another host or in another pid namespace has a pid that is
    dead here: between its two renames (milliseconds) a reader must not put the old store back."""
    import encoderkit.outputs as outputs

    monkeypatch.setattr(outputs, "RECENT_SECONDS", 60.0)
    target = tmp_path / "ren.zarr"
    write_store(target, "old")
    os.rename(target, tmp_path / f"ren.zarr.old-{dead_pid()}")
    with pytest.raises(Exception, match="no such record store"):
        RecordStore(str(target))
    assert any(".old-" in p.name for p in tmp_path.iterdir())

CRASH_BETWEEN_RENAMES = """
    import os, sys
    import numpy as np
    import encoderkit.data.store_writer as st  # the writer: its os.replace and shutil.rmtree

    real = os.replace
    def replace(a, b):  # SIGKILL / a power cut right after the first rename
        real(a, b)
        if ".old-" in str(b) and sys.argv[2] == "first":
            os._exit(9)
    st.os.replace = replace
    real_rmtree = st.shutil.rmtree
    def rmtree(path, *a, **k):  # after both renames, before the old store is removed
        if ".old-" in str(path) and sys.argv[2] == "second":
            os._exit(9)
        return real_rmtree(path, *a, **k)
    st.shutil.rmtree = rmtree
    with st.StoreWriter(sys.argv[1], "synthetic", overwrite=True) as w:
        w.append({"x": np.full(5, 2, dtype=np.int16)}, id="new")
        w.finalize({"v": "new"}, {})
"""


def write_store(path: Path, version: str) -> None:
    with StoreWriter(str(path), "synthetic") as w:
        w.append({"x": np.arange(7, dtype=np.int16)}, id=version)
        w.finalize({"v": version}, {})


def crash_overwrite(target: Path, when: str) -> None:
    out = run_python(CRASH_BETWEEN_RENAMES, str(target), when, check=False)
    assert out.returncode == 9, out.stderr


def test_an_overwrite_killed_between_its_renames_is_restored_when_the_store_is_opened(tmp_path):
    target = tmp_path / "ren.zarr"
    write_store(target, "old")
    crash_overwrite(target, "first")
    assert not target.exists() and any(".old-" in p.name for p in tmp_path.iterdir())  # the audit's state
    with pytest.warns(UserWarning, match=r"killed while replacing it.*restored the previous one from ren\.zarr\.old-"):
        store = RecordStore(str(target))
    assert store.schema == {"v": "old"} and store[0]["id"] == "old"
    assert [p.name for p in tmp_path.iterdir() if ".old-" in p.name] == []


def test_the_next_write_restores_the_old_store_and_removes_the_dead_writers_temporaries(tmp_path):
    target = tmp_path / "ren.zarr"
    write_store(target, "old")
    crash_overwrite(target, "first")
    with pytest.warns(UserWarning, match="restored the previous one"):
        with pytest.raises(OutputExistsError):  # the old store is back: no overwrite, no replacing it
            StoreWriter(str(target), "synthetic")
    assert RecordStore(str(target)).schema == {"v": "old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ren.zarr"]
    write_store_overwrite = StoreWriter(str(target), "synthetic", overwrite=True)
    write_store_overwrite.append({"x": np.ones(3, dtype=np.int16)}, id="newer")
    write_store_overwrite.finalize({"v": "newer"}, {})
    assert RecordStore(str(target)).schema == {"v": "newer"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ren.zarr"]


def test_an_old_store_left_after_both_renames_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "ren.zarr"
    write_store(target, "old")
    crash_overwrite(target, "second")
    assert RecordStore(str(target)).schema == {"v": "new"}  # the new store is in place
    assert any(".old-" in p.name for p in tmp_path.iterdir())
    with pytest.warns(UserWarning, match=r"removed ren\.zarr\.old-\d+"):
        write = StoreWriter(str(target), "synthetic", overwrite=True)
    write.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ren.zarr"]
    assert RecordStore(str(target)).schema == {"v": "new"}


def test_a_live_writers_old_store_is_left_alone(tmp_path):
    target = tmp_path / "ren.zarr"
    write_store(target, "old")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        os.rename(target, tmp_path / f"ren.zarr.old-{sleeper.pid}")  # that writer is between its renames
        with pytest.raises(Exception, match="no such record store"):
            RecordStore(str(target))
        assert (tmp_path / f"ren.zarr.old-{sleeper.pid}").exists()
    finally:
        sleeper.send_signal(signal.SIGKILL)
        sleeper.wait()
