"""Two commands run from threads of one process: their stream guards must not outlive both.

The guards were stacked, each command putting back the streams it found; the order in
which threads end is free, so the first to end restored the originals and the second then
restored the first's guard, left on ``sys.stdout`` for the rest of the process (dropping
every write after a failure). Reference: the streams as they were before either command.
"""

from __future__ import annotations

import sys
import threading

from encoderkit import cli
from encoderkit.cli_streams import GuardedStream, guarded_streams


def test_interleaved_commands_leave_the_original_streams():
    before = sys.stdout, sys.stderr
    first = guarded_streams(entry=False)
    second = guarded_streams(entry=False)
    a = first.__enter__()
    b = second.__enter__()
    assert b.out is a.out  # the second shares the first's guard
    first.__exit__(None, None, None)  # the first command ends before the second
    second.__exit__(None, None, None)
    assert (sys.stdout, sys.stderr) == before
    assert not isinstance(sys.stdout, GuardedStream)


def test_commands_in_threads_print_and_leave_nothing_installed(capsys):
    before = sys.stdout, sys.stderr
    started, release = threading.Barrier(2), threading.Event()
    codes: list[int] = []

    def run() -> None:
        started.wait()
        codes.append(cli.main(["--version"]))
        release.wait(5)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    release.set()
    for t in threads:
        t.join(10)
    assert codes == [0, 0]
    assert (sys.stdout, sys.stderr) == before
    out = capsys.readouterr().out
    assert out.count("encoderkit") >= 2


def test_a_command_outliving_the_one_whose_guards_it_shares(monkeypatch):
    """Streams None (pythonw, a daemon): the first command opened /dev/null streams for its
    guards and closed them on ending while the second still wrote through them (ValueError:
    I/O operation on closed file; review r1). The last command to end takes them down."""
    import time

    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    real_main = cli._main

    def held(argv, entry, streams):
        code = real_main(argv, entry, streams)
        time.sleep(0.3 if threading.current_thread().name == "first" else 0.9)
        return code

    monkeypatch.setattr(cli, "_main", held)
    results: dict[str, object] = {}

    def run(name: str) -> None:
        try:
            results[name] = cli.main(["--version"])
        except BaseException as e:  # what escaped main is the finding
            results[name] = repr(e)

    first = threading.Thread(target=run, args=("first",), name="first")
    second = threading.Thread(target=run, args=("second",), name="second")
    first.start()
    time.sleep(0.1)
    second.start()
    first.join(10)
    second.join(10)
    assert results == {"first": 0, "second": 0}
    assert sys.stdout is None and sys.stderr is None
