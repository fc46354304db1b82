"""Operator-facing fixes of session 45: two writers of one output at once, a closed pipe
after ingest, ``~`` in path parameters, the bare ``encoderkit`` command and ``--version``,
help texts, the ``progress=`` hint of pretrain, and progress bars in a scheduler log."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest

from encoderkit.cli import main
from encoderkit.errors import OutputExistsError
from encoderkit.outputs import atomic_write, check_output, forget_checks


@pytest.fixture(autouse=True)
def _fresh_command():
    forget_checks()  # each test is one command
    yield
    forget_checks()


def _others(folder: Path, *keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# ------------------------------------------------------------- two writers of one output


def test_atomic_write_refuses_an_output_another_process_created(tmp_path):
    out = tmp_path / "cc.csv"
    check_output(out, False, what="a filled file", file_ok=True)  # absent at the start
    out.write_text("the other run's result\n")  # another command finished first
    with pytest.raises(OutputExistsError, match="another process") as e:
        atomic_write(out, lambda tmp: Path(tmp).write_text("this run's result\n"))
    assert str(out) in str(e.value)
    assert out.read_text() == "the other run's result\n"  # kept, not silently replaced
    assert _others(tmp_path, "cc.csv") == []  # no temporary left


def test_atomic_write_refuses_an_output_replaced_meanwhile_with_overwrite(tmp_path):
    out = tmp_path / "cc.csv"
    out.write_text("old\n")
    check_output(out, True, what="a filled file", file_ok=True)
    other = tmp_path / "other.tmp"
    other.write_text("the other run's result\n")
    os.replace(other, out)  # another overwrite=true run renamed its result there
    with pytest.raises(OutputExistsError, match="another process replaced it"):
        atomic_write(out, lambda tmp: Path(tmp).write_text("this run's result\n"))
    assert out.read_text() == "the other run's result\n"


def test_atomic_write_replaces_what_it_checked_and_its_own_output(tmp_path):
    out = tmp_path / "cc.csv"
    out.write_text("old\n")
    check_output(out, True, what="a filled file", file_ok=True)
    atomic_write(out, lambda tmp: Path(tmp).write_text("one\n"))
    atomic_write(out, lambda tmp: Path(tmp).write_text("two\n"))  # the command rewrites its own
    assert out.read_text() == "two\n"
    fresh = tmp_path / "new.csv"  # never checked: judged from when the write began
    atomic_write(fresh, lambda tmp: Path(tmp).write_text("x\n"))
    assert fresh.read_text() == "x\n"


def _writer(path: Path, seed: int, n: int = 5, dim: int = 3):
    from encoderkit.infer.embed import EmbeddingWriter

    w = EmbeddingWriter(path, n, dim, "mean")
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    ids = [f"run{seed}-{i}" for i in range(n)]
    for rid, v in zip(ids, vectors):
        w.add(rid, v)
    return w, vectors, ids


@pytest.mark.parametrize("suffix", [".npy", ".zarr"])
def test_embed_second_writer_of_one_output_is_refused_and_pairs_stay_whole(tmp_path, suffix):
    from encoderkit.infer.probe import read_embeddings  # the reader embed's outputs go to

    out = tmp_path / f"x{suffix}"
    first, _, _ = _writer(out, 1)  # checked the output while it was absent
    # another process (its own pid, so its own temporaries) finishes first: its output is
    # written beside and renamed onto x, as its close does
    other = tmp_path / "other"
    other.mkdir()
    forget_checks()
    second, vectors, ids = _writer(other / f"x{suffix}", 2)
    second.close()
    for p in other.iterdir():
        os.replace(p, tmp_path / p.name)
    other.rmdir()
    with pytest.raises(OutputExistsError, match="another process created it") as e:
        first.close()
    first.abort()
    assert str(out) in str(e.value)
    X, got_ids = read_embeddings(out)
    np.testing.assert_array_equal(X, vectors)  # the other run's vectors ...
    assert list(got_ids) == ids  # ... with the other run's ids
    keep = {"x.npy", "x.ids.npy"} if suffix == ".npy" else {"x.zarr"}
    assert _others(tmp_path, *keep) == []


def test_embed_npy_ids_replaced_alone_is_noticed(tmp_path):
    out = tmp_path / "x.npy"
    np.save(out, np.zeros((5, 3), np.float32))
    np.save(tmp_path / "x.ids.npy", np.asarray(["a"] * 5))
    from encoderkit.infer.embed import EmbeddingWriter

    w = EmbeddingWriter(out, 5, 3, "mean", overwrite=True)
    for i in range(5):
        w.add(str(i), np.ones(3, np.float32))
    np.save(tmp_path / "other.npy", np.asarray(["b"] * 5))
    os.replace(tmp_path / "other.npy", tmp_path / "x.ids.npy")  # another run's ids landed
    with pytest.raises(OutputExistsError, match="x.ids.npy"):
        w.close()
    w.abort()
    # neither file was renamed: the old vectors are still there (checked before either rename)
    np.testing.assert_array_equal(np.load(out), np.zeros((5, 3), np.float32))


# ------------------------------------------------------------- ingest into a closed pipe


class _ClosedPipe(io.StringIO):
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


def _fasta(path: Path) -> Path:
    path.write_text(">a\nACGTACGTAC\n>b\nGGCCAATTGG\n")
    return path


def test_ingest_into_a_closed_pipe_exits_141_quietly(tmp_path, monkeypatch, capsys):
    fa = _fasta(tmp_path / "in.fa")
    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    rc = main(["ingest", "domain=genomic", f"input={fa}", f"output={tmp_path / 's.zarr'}", "progress=false"])
    err = capsys.readouterr().err
    assert rc == 141, err
    assert "error" not in err and "cannot read" not in err


# ------------------------------------------------------------- ~ in path parameters


def test_expand_home_in_values_only():
    """A bare ``~`` stays as typed (``delimiter=~``): only ``~/`` and ``~user/`` are a home."""
    from encoderkit.overrides import expand_home

    home = os.path.expanduser("~")
    assert expand_home(["output=~/x.zarr", "run.dir=~", "input=[~/a.csv,~/b.csv]", "input=~/a,~/b",
                        "~train.x=1", "name=a~b", "q='~/kept'", "input"]) == \
        [f"output={home}/x.zarr", "run.dir=~", f"input=[{home}/a.csv,{home}/b.csv]",
         f"input={home}/a,{home}/b", "~train.x=1", "name=a~b", "q='~/kept'", "input"]


def test_ingest_tilde_output_goes_home_not_to_a_tilde_folder(tmp_path, monkeypatch, capsys):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    _fasta(home / "in.fa")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    rc = main(["ingest", "domain=genomic", "input=~/in.fa", "output=~/s.zarr", "progress=false"])
    assert rc == 0, capsys.readouterr().err
    assert (home / "s.zarr").is_dir()
    assert not (work / "~").exists()


# ------------------------------------------------------------- the bare command, --version


def test_bare_encoderkit_is_a_usage_error(capsys):
    assert main([]) == 2
    captured = capsys.readouterr()
    assert "usage: encoderkit" in captured.err and captured.out == ""


def test_version(capsys):
    import encoderkit

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"encoderkit {encoderkit.__version__}"


@pytest.mark.parametrize("command", ["predict", "export-hf", "evaluate", "import-hf"])
def test_help_is_user_help_not_module_notes(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: encoderkit {command} ")
    for internal in ("``", "EncoderkitError", "encoderkit.cli.main", "finetune |"):
        assert internal not in out, (internal, out)


def test_pretrain_progress_hint(capsys):
    assert main(["pretrain", "progress=false"]) == 2
    err = capsys.readouterr().err
    assert "unknown config key 'progress' (did you mean train.progress?)" in err
    # finetune's schema has a required (???) key: the hint must not trip over it
    assert main(["finetune", "progress=false", "checkpoint=x"]) == 2
    err = capsys.readouterr().err
    assert "did you mean train.progress?" in err and "Traceback" not in err


# ------------------------------------------------------------- bars in a log


def _bar_bytes(stream, steps: int = 200) -> str:
    from encoderkit.cliutil import progress_bar

    bar = progress_bar(total=steps, desc="pretrain", file=stream)
    for i in range(steps):
        bar.update(1)
        bar.set_postfix(loss=f"{1 / (i + 1):.4f}", lr="1.00e-03")  # as the trainer does
    bar.close()
    return stream.getvalue()


def test_progress_bar_in_a_log_is_not_redrawn_every_step():
    text = _bar_bytes(io.StringIO())  # not a terminal
    redraws = text.count("\r")
    assert redraws <= 3, (redraws, text)  # the first draw, the final one (not 200)
    assert "200/200" in text  # the final state is still written


def test_progress_bar_on_a_terminal_is_tqdm_as_before():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert _bar_bytes(Terminal()).count("\r") > 50  # tqdm's own refresh, every postfix change


def test_a_bare_tilde_is_a_value_not_a_home():
    """A review found ``delimiter=~`` / ``missing_value=~`` turned into the home folder."""
    from encoderkit.overrides import expand_home

    home = os.path.expanduser("~")
    assert expand_home(["delimiter=~", "missing_value=~", "na=[~,NA]", "~key", "r=^~abc"]) == \
        ["delimiter=~", "missing_value=~", "na=[~,NA]", "~key", "r=^~abc"]
    assert expand_home(["input=~/a.csv", "x=[~/a,~/b]"]) == [f"input={home}/a.csv", f"x=[{home}/a,{home}/b]"]


def test_a_used_check_is_forgotten_after_the_write(tmp_path):
    """A review found a stale record refusing a later Python write of a path another tool
    had replaced meanwhile (no command was running at the same time)."""
    from pathlib import Path

    forget_checks()
    out = tmp_path / "o.txt"
    check_output(out, False, what="a file", file_ok=True)
    atomic_write(out, lambda tmp: Path(tmp).write_bytes(b"first"))
    out.unlink()
    out.write_bytes(b"another tool's")
    atomic_write(out, lambda tmp: Path(tmp).write_bytes(b"second"))  # no check_output before it
    assert out.read_bytes() == b"second"
