"""Outputs that are the command's own input under another name, and error lines that name
their file (session 56, helper d: an operations audit of paths and outputs).

``input=x.npy output=x.npy overwrite=true`` replaced a series with its embeddings (exit 0);
impute and infill refused ``output=`` equal to ``input=`` by name only, so a symbolic link
(``input=link.csv output=x.csv``) replaced the input too. The final rename of every checked
output now refuses a file the command read (``outputs.refuse_input_as_output``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from encoderkit import outputs
from encoderkit.errors import DataError, InputNotFoundError, OutputExistsError, reading


@pytest.fixture(autouse=True)
def _fresh_command():
    outputs.forget_checks()  # as cli.main does at each command
    yield
    outputs.forget_checks()


def _command(inp: Path, out: Path, overwrite: bool = True) -> None:
    """A command as every writer runs one: check the output, read the input, write the output."""
    outputs.check_output(out, overwrite, what="a single file", file_ok=True)
    with reading(inp):
        text = inp.read_text()
    outputs.atomic_write(out, lambda tmp: Path(tmp).write_text(text.upper()))


@pytest.mark.parametrize("link", ["symlink", "hardlink", "folder"])
def test_output_that_is_the_input_under_another_name_is_refused(tmp_path, link):
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,\n")
    if link == "symlink":
        inp, out = tmp_path / "link.csv", data
        inp.symlink_to(data)
    elif link == "hardlink":
        inp, out = tmp_path / "other.csv", data
        os.link(data, inp)
    else:  # a path through a linked folder: the names differ, the file is one
        (tmp_path / "alias").symlink_to(tmp_path)
        inp, out = tmp_path / "alias" / "data.csv", data
    with pytest.raises(OutputExistsError, match="is the file this command read as its input"):
        _command(inp, out)
    assert data.read_text() == "a,b\n1,\n"  # the input as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        {"data.csv", "link.csv", "other.csv", "alias"} & {p.name for p in tmp_path.iterdir()})  # no temporary


def test_other_outputs_and_later_commands_are_not_refused(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("x\n1\n")
    _command(a, b)  # an output that is not the input: written
    assert b.read_text() == "X\n1\n"
    # the next call of this process (Python, no cli.main between) writes a.csv, read by the one
    # before: not this call's input once that call's output was published
    c = tmp_path / "c.csv"
    c.write_text("y\n2\n")
    _command(c, a)
    assert a.read_text() == "Y\n2\n"


def test_a_work_file_read_and_written_again_is_not_refused(tmp_path):
    """Only outputs ``check_output`` checked are compared: a command's own work file (impute's
    held-back copy) may be read and then rewritten."""
    work = tmp_path / "holed.csv"
    outputs.atomic_write(work, lambda tmp: Path(tmp).write_text("1\n"))
    with reading(work):
        work.read_text()
    outputs.atomic_write(work, lambda tmp: Path(tmp).write_text("2\n"))
    assert work.read_text() == "2\n"


def test_embed_writer_refuses_its_input_array(tmp_path):
    """The embedding writer's own renames (not ``publish``): ``x.npy`` read as the records,
    then given as the output with overwrite=true."""
    from encoderkit.infer.embed import EmbeddingWriter

    series = tmp_path / "x.npy"
    np.save(series, np.arange(6, dtype=np.float32).reshape(2, 3))
    before = series.read_bytes()
    with reading(series):  # embed reads a raw file before it opens the writer
        np.load(series)
    writer = EmbeddingWriter(series, n=2, dim=4, pooling="mean", overwrite=True)
    for i in range(2):
        writer.add(str(i), np.zeros(4, dtype=np.float32))
    with pytest.raises(OutputExistsError, match="read as its input"):
        writer.close()
    writer.abort()
    assert series.read_bytes() == before
    assert not (tmp_path / "x.ids.npy").exists()


def test_write_error_keeps_an_encoderkit_error_as_it_is(tmp_path):
    """A refusal raised by the final rename is an OSError too (FileExistsError): the writers'
    ``except OSError`` wrapped it as "cannot write the output: <absolute path>: <refusal>"."""
    refusal = OutputExistsError("is the file this command read", file="x.csv")
    assert outputs.write_error(refusal, tmp_path / "x.csv") is refusal
    plain = outputs.write_error(OSError(28, "No space left on device"), "y.csv")
    assert str(plain) == "y.csv: cannot write the output: No space left on device"


@pytest.mark.parametrize("name, message", [
    ("in", "input does not exist"),            # a word of the message holds the name
    ("ff", "is a pipe: encoderkit reads it to sniff its format"),
    ("x", "unsupported file type; use .csv or .tsv (optionally .gz/.xz)"),
    ("a.csv", "cannot read a.csv.gz"),         # another file's name begins with it
    ("other", "is a directory that is not an export (it holds other files)"),  # a word of the text
])
def test_error_line_names_a_file_whose_name_is_part_of_a_word(name, message):
    assert str(DataError(message, file=name)) == f"{name}: {message}"


@pytest.mark.parametrize("file, message", [("a.csv", "input file 'a.csv' does not exist"),
                                           ("a.csv", "cannot write a.csv."),
                                           ("a.csv", "cannot write here: /tmp/d/a.csv is a file"),
                                           ("data", "input file 'data' does not exist"),
                                           ("data", "cannot write here: /tmp/data is a file")])
def test_error_line_names_a_file_once(file, message):
    assert str(InputNotFoundError(message, file=file)) == message


@pytest.mark.slow
def test_commands_refuse_their_input_as_output(tmp_path):
    """End to end: embed and infill of a series file, given the input again as the output
    (by its own name for embed, through a symbolic link for infill), overwrite=true."""
    from encoderkit.cli import main

    series = tmp_path / "s.npy"
    values = np.random.default_rng(0).normal(size=(8, 32)).cumsum(1).astype(np.float32)
    np.save(series, values)
    tiny = ["model.hidden_size=16", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=32",
            "train.steps=1", "train.progress=false", "train.eval_every=0", "train.plot=false"]
    assert main(["ingest", "domain=timeseries", f"input={series}", f"output={tmp_path / 's.zarr'}",
                 "progress=false"]) == 0
    assert main(["pretrain", "domain=timeseries", f"data.store={tmp_path / 's.zarr'}",
                 f"run.dir={tmp_path / 'run'}", *tiny]) == 0
    before = series.read_bytes()
    assert main(["embed", f"checkpoint={tmp_path / 'run'}", f"input={series}", f"output={series}",
                 "overwrite=true", "progress=false"]) == 2  # refused before any work: a usage error
    assert series.read_bytes() == before
    holed = values.copy()
    holed[0, 3:6] = np.nan
    np.save(series, holed)
    before = series.read_bytes()
    (tmp_path / "link.npy").symlink_to(series)
    assert main(["infill", f"checkpoint={tmp_path / 'run'}", f"input={tmp_path / 'link.npy'}",
                 f"output={series}", "overwrite=true"]) == 2
    assert series.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.npy", "run", "s.npy", "s.zarr"]


def _busy_zarr_loop(seconds: float):
    """zarr's loop thread held in a chunk's work (blocking), and a read's task left pending."""
    import asyncio
    import threading
    import time

    import zarr.core.sync as zs

    loop = zs._get_loop()
    started = threading.Event()

    async def decode():  # a chunk decoded on the loop thread, slower than zarr's 0.2 s join
        started.set()
        time.sleep(seconds)

    async def waiting():  # a read waiting on what never comes
        await asyncio.Event().wait()

    asyncio.run_coroutine_threadsafe(waiting(), loop)
    asyncio.run_coroutine_threadsafe(decode(), loop)
    started.wait()
    return zs, loop


def test_a_stopped_command_leaves_zarr_loop_idle_for_its_exit_hook(monkeypatch):
    """Ctrl-C while embed waited on a store read: zarr's atexit hook found its loop still
    running and printed "RuntimeError: Cannot close a running event loop" after the one-line
    "interrupted" (seen in about 1 of 7 interrupted embeds on a loaded machine)."""
    import asyncio
    import sys
    import types

    from encoderkit import cli

    fake = types.ModuleType("fake_stopped_command_s56d")

    def run(command, argv):
        fake.zs, fake.loop = _busy_zarr_loop(0.8)
        raise KeyboardInterrupt  # as the SIGINT handler raises it, mid-read

    fake.run = run
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    monkeypatch.setitem(cli.COMMANDS, "embed", (fake.__name__, ""))
    assert cli.main(["embed"]) == 130
    assert not asyncio.all_tasks(fake.loop)  # the read's task ended, not destroyed pending
    fake.zs.cleanup_resources()  # zarr's exit hook: raised RuntimeError before
    assert fake.zs.loop[0] is None


def test_a_file_named_like_a_pattern_is_read_as_that_file(tmp_path):
    """``input=scan[1].csv`` (a name a download or a spreadsheet export gives) was read as a
    pattern, matched nothing, and was refused: "input pattern ... matches no files" of a file
    that exists (ingest, and impute through it). As a shell does, the name is the file when
    the pattern matches nothing; a pattern that matches is still a pattern."""
    from encoderkit.data.ingest import expand_inputs
    from encoderkit.errors import InputNotFoundError

    literal = tmp_path / "scan[1].csv"
    literal.write_text("a\n1\n")
    assert expand_inputs(str(literal)) == [str(literal)]
    for name in ("scan1.csv", "scan2.csv"):
        (tmp_path / name).write_text("a\n1\n")
    assert expand_inputs(str(tmp_path / "scan[12].csv")) == [str(tmp_path / "scan1.csv"), str(tmp_path / "scan2.csv")]
    assert expand_inputs(str(literal)) == [str(tmp_path / "scan1.csv")]  # a match: the pattern, as bash reads it
    with pytest.raises(InputNotFoundError, match="matches no files"):
        expand_inputs(str(tmp_path / "none[1].csv"))


@pytest.mark.parametrize("change", ["truncated", "appended"])
def test_an_input_written_to_while_the_command_ran_is_refused(tmp_path, change):
    """impute read the file, trained, then took each kept cell's text from the file again:
    truncated meanwhile (``head -40 x.csv > x.csv`` of an editing user), the output had the
    new file's rows with fills of the old one, exit 0. Now nothing is written."""
    inp, out = tmp_path / "x.csv", tmp_path / "out.csv"
    inp.write_text("a\n" + "".join(f"{i}\n" for i in range(100)))
    outputs.check_output(out, False, what="a single file", file_ok=True)
    with reading(inp):
        text = inp.read_text()
    with open(inp, "w" if change == "truncated" else "a") as fh:  # in place: the same file
        fh.write("a\n1\n" if change == "truncated" else "100\n")
    with pytest.raises(DataError, match="was written to while this command read it"):
        outputs.atomic_write(out, lambda tmp: Path(tmp).write_text(text))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]


def test_an_input_replaced_by_a_rename_or_removed_is_not_refused(tmp_path):
    """What was read stays whole when the file is replaced by a rename (an editor's save, a
    work file rewritten) or removed: the output is written."""
    a, b, out = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "out.csv"
    a.write_text("x\n1\n")
    b.write_text("x\n1\n")
    outputs.check_output(out, False, what="a single file", file_ok=True)
    for f in (a, b):
        with reading(f):
            f.read_text()
    (tmp_path / "new.csv").write_text("x\n2\n3\n")
    os.replace(tmp_path / "new.csv", a)
    b.unlink()
    outputs.atomic_write(out, lambda tmp: Path(tmp).write_text("done\n"))
    assert out.read_text() == "done\n"


def test_a_file_corrected_in_place_after_a_failed_call_is_read_again(tmp_path):
    """From Python no command boundary clears what was read: a call that failed (nothing
    published) read x.csv, the user corrected it in place, the next call reads it again and
    writes its output."""
    inp, out = tmp_path / "x.csv", tmp_path / "out.csv"
    inp.write_text("a\nbad\n")
    with reading(inp):  # the failed call's read
        inp.read_text()
    inp.write_text("a\n1\n2\n")  # corrected in place (pandas' to_csv opens it with "w")
    _command(inp, out, overwrite=False)
    assert out.read_text() == "A\n1\n2\n"


def test_a_file_output_that_is_an_empty_folder_is_refused_before_any_work(tmp_path):
    """``output=filled.csv overwrite=true`` where ``filled.csv`` is an empty folder passed the
    check (an empty folder may be replaced), and impute trained and filled for nothing: the
    final rename of a file onto a folder failed ("Is a directory")."""
    folder = tmp_path / "filled.csv"
    folder.mkdir()
    with pytest.raises(OutputExistsError, match="is a directory, and the output is a single file"):
        outputs.check_output(folder, True, what="a filled file", file_ok=True)
    outputs.check_output(folder, True, what="a store", recognise=lambda p: False)  # a folder output: still replaceable


def test_write_error_reads_the_system_error_in_a_writer_s_own_error():
    from safetensors import SafetensorError

    full = SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
    assert str(outputs.write_error(full, "hf")) == "hf: cannot write the output: No space left on device"


@pytest.mark.slow
def test_export_hf_on_a_full_disk_is_one_line_and_keeps_the_old_export(tmp_path, monkeypatch, capsys):
    """safetensors' writer raises its own ``SafetensorError`` on a full disk (not an OSError):
    export-hf printed a traceback and "this is a bug in encoderkit"."""
    from safetensors import SafetensorError

    from encoderkit.cli import main
    from encoderkit.interop import hf

    fasta = tmp_path / "g.fa"
    rng = np.random.default_rng(0)
    fasta.write_text("".join(f">r{i}\n{''.join(rng.choice(list('ACGT'), 120))}\n" for i in range(8)))
    assert main(["ingest", "domain=genomic", f"input={fasta}", f"output={tmp_path / 'g.zarr'}",
                 "progress=false"]) == 0
    assert main(["pretrain", "domain=genomic", f"data.store={tmp_path / 'g.zarr'}", f"run.dir={tmp_path / 'run'}",
                 "model.hidden_size=16", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=32",
                 "train.steps=1", "train.progress=false", "train.eval_every=0", "train.plot=false"]) == 0
    out = tmp_path / "hf"
    assert main(["export-hf", str(tmp_path / "run"), str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def full(*_a, **_k):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(hf, "save_file", full)
    capsys.readouterr()
    assert main(["export-hf", str(tmp_path / "run"), str(out), "overwrite=true"]) == 1
    assert capsys.readouterr().err.strip() == f"encoderkit export-hf: error: {out}: cannot write the output: " \
                                               "No space left on device"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.fa", "g.zarr", "hf", "run"]


def test_a_file_rewritten_between_two_python_calls_is_not_refused(tmp_path):
    """A call that publishes nothing (a fill returned as a frame) leaves its reads recorded; the
    user then rewrites that file in place (``df.to_csv`` over it) and runs another command:
    only a write during that command's own work refuses its output (lead, session 56)."""
    data, other, out = tmp_path / "data.csv", tmp_path / "other.csv", tmp_path / "out.csv"
    data.write_text("a\n1\n")
    other.write_text("b\n2\n")
    with reading(data):  # the first call: read, nothing published
        data.read_text()
    with open(data, "w") as f:  # rewritten in place: the same inode, another size
        f.write("a\n10\n20\n")
    _command(other, out)
    assert out.read_text() == "B\n2\n"


def test_another_thread_s_reads_are_not_this_command_s_inputs(tmp_path):
    """A service's threads run commands of their own: a file another thread read (and rewrote
    in place) is no input of this thread's command."""
    import threading

    shared, inp, out = tmp_path / "shared.csv", tmp_path / "in.csv", tmp_path / "out.csv"
    shared.write_text("s\n1\n")
    inp.write_text("i\n1\n")
    outputs.check_output(out, True, what="a single file", file_ok=True)
    with reading(inp):
        text = inp.read_text()

    def other_command() -> None:
        with reading(shared):
            shared.read_text()
    worker = threading.Thread(target=other_command)
    worker.start()
    worker.join()
    with open(shared, "a") as f:  # written to in place after the other thread read it
        f.write("2\n")
    outputs.atomic_write(out, lambda tmp: Path(tmp).write_text(text))
    assert out.read_text() == "i\n1\n"


@pytest.mark.parametrize("command", ["embed", "infill", "predict"])
def test_commands_refuse_a_linked_input_as_output_before_any_work(tmp_path, capsys, command):
    """Before the checkpoint is even read (it does not exist here): a link to the input named as
    the output is the input (embed checked nothing before its work; infill compared names)."""
    from encoderkit.cli import main

    if command == "predict":  # predictions are a table
        data, link = tmp_path / "table.csv", tmp_path / "link.csv"
        data.write_text("a,b\n1,2\n")
    else:
        data, link = tmp_path / "series.npy", tmp_path / "link.npy"
        np.save(data, np.zeros((2, 8), dtype=np.float32))
    link.symlink_to(data)
    before = data.read_bytes()
    assert main([command, f"checkpoint={tmp_path / 'no-run'}", f"input={link}", f"output={data}",
                 "overwrite=true"]) != 0
    assert "is the input" in capsys.readouterr().err
    assert data.read_bytes() == before


def test_impute_refuses_a_linked_input_as_output_before_any_work(tmp_path, capsys):
    """impute compared the names of input and output: a link to the input passed, and the
    refusal came only at the final rename, after the training."""
    from encoderkit.cli import main

    data = tmp_path / "table.csv"
    data.write_text("a,b\n1,\n2,3\n4,5\n")
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    before = data.read_bytes()
    assert main(["impute", f"input={link}", f"output={data}", "overwrite=true"]) != 0
    assert "must differ from 'input'" in capsys.readouterr().err
    assert data.read_bytes() == before


def test_another_thread_starting_a_command_keeps_this_thread_s_checks(tmp_path):
    """``cli.main`` in another thread clears the checks of its own command only: it cleared every
    thread's, and this thread's final rename then wrote over a hard link to its input (helper r's
    finding 4)."""
    import threading

    data = tmp_path / "data.csv"
    data.write_text("a\n1\n")
    link = tmp_path / "link.csv"
    os.link(data, link)
    outputs.check_output(data, True, what="a single file", file_ok=True)
    with reading(link):
        link.read_text()
    other = threading.Thread(target=outputs.forget_checks)  # another thread's command begins
    other.start()
    other.join()
    with pytest.raises(OutputExistsError, match="is the file this command read as its input"):
        outputs.atomic_write(data, lambda tmp: Path(tmp).write_text("FILLED\n"))
    assert data.read_text() == "a\n1\n"
