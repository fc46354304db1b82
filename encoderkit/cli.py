"""`encoderkit <command> [hydra overrides]`: a thin dispatcher.

Each command lives with the layer that implements it and takes ``argv`` (the
words after the command), returning an exit code. Commands are imported lazily
so `encoderkit --help` is instant and a missing optional part breaks only its
own command.

``main`` is the one place that reports errors: a user error (``EncoderkitError``,
see ``encoderkit.errors``) is one line ``encoderkit <command>: error: <message>`` on
stderr and exit code 1 (data) or 2 (usage); anything else is a bug in encoderkit and
gets its traceback plus a line asking to report it, except running out of memory (a
``MemoryError``, torch's out-of-memory errors): one line saying so and what to make
smaller, exit 1. Commands just raise. An error about a key the user misspelled, in
whatever words the command or its domain refused it, becomes a usage error naming the
key, the closest valid one and ``<command> --help`` (``encoderkit.cliutil.explain_key_error``).

SIGTERM (``kill``, a scheduler's time limit, a container stop) and SIGHUP (the terminal or
ssh session closed) end a command as Ctrl-C does: they raise ``Terminated`` (a
``KeyboardInterrupt``) where the command is, so every writer's clean-up runs (temporaries
removed, nothing half-written left behind) before the exit code 128 + the signal's number
(130 Ctrl-C, 143 SIGTERM, 129 SIGHUP); the default action would end the process with no
clean-up at all. Once the first of them is being handled the later ones are ignored: Ctrl-C
pressed two or three times cut the clean-up short (a work folder left in $TMPDIR, a
traceback from the second interrupt). A signal the caller ignores (``nohup``) or handles
itself is left so.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading
import traceback
import warnings
from typing import Sequence

from encoderkit.cli_streams import Streams, guarded_streams, point_at_null
from encoderkit.cliutil import clear_bars, explain_key_error, say
from encoderkit.errors import EncoderkitError

BUG_LINE = "this is a bug in encoderkit; please report it with the command above"

COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("encoderkit.data.ingest", "Raw files -> record store"),
    "pretrain": ("encoderkit.train.cli", "Pretrain an encoder (Hydra overrides)"),
    "embed": ("encoderkit.infer.cli", "Embeddings for a store or raw files"),
    "infill": ("encoderkit.infer.cli", "Fill missing/masked parts of records"),
    "probe": ("encoderkit.infer.cli", "Linear probe of embeddings with cross-validation"),
    "impute": ("encoderkit.impute", "Fit on a table / series file's observed values and fill its gaps"),
    "finetune": ("encoderkit.tasks.cli", "Fine-tune a task head on a pretrained encoder"),
    "predict": ("encoderkit.tasks.cli", "Predictions of a fine-tuned run (CSV / Parquet)"),
    "evaluate": ("encoderkit.tasks.cli", "Task metrics of a fine-tuned run against labels"),
    "export-hf": ("encoderkit.interop.cli", "Write a Hugging Face ModernBERT directory"),
    "import-hf": ("encoderkit.interop.cli", "Start a run from a Hugging Face ModernBERT directory"),
}


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (``signum``), raised where the command is so that its clean-up runs."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__()
        self.signum = int(signum)


# the signals that stop a command with its clean-up, what is said of each, and the handler each
# has by default (the only one replaced: a caller's own handler, or SIG_IGN under nohup, stays)
_STOPS = {signal.SIGINT: ("interrupted", signal.default_int_handler),
          signal.SIGTERM: ("terminated", signal.SIG_DFL)}
if hasattr(signal, "SIGHUP"):  # not on Windows
    _STOPS[signal.SIGHUP] = ("hung up (SIGHUP: the terminal or ssh session closed)", signal.SIG_DFL)
_stopping = False  # set by the first stop signal; cleared when main gives the handlers back
_ignored: set[int] = set()  # the stop signals _terminate set to SIG_IGN (a child forked since resets them)


def _terminate(signum, frame) -> None:
    """The first stop signal raises where the command is; the ones after it (Ctrl-C pressed
    again, a second SIGTERM) are ignored while its clean-up runs."""
    global _stopping
    if _stopping:  # delivered before the signals below were ignored
        return
    _stopping = True
    for s in _STOPS:
        if signal.getsignal(s) is _terminate:
            signal.signal(s, signal.SIG_IGN)
            _ignored.add(s)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt()
    raise Terminated(signum)


def _take_signals() -> dict[int, object]:
    """Install ``_terminate`` for each stop signal that has its default handler (main thread
    only); returns those replaced, with the handler each had."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    taken = {}
    for s, (_, default) in _STOPS.items():
        if signal.getsignal(s) == default:
            taken[s] = signal.signal(s, _terminate)
    return taken


def _give_back(taken: dict[int, object], entry: bool) -> None:
    """The handlers ``_take_signals`` replaced, restored; except after a stop of the console
    command, whose process is about to exit: a Ctrl-C pressed once more must not raise there."""
    global _stopping
    if entry and _stopping:
        return
    for s, previous in taken.items():
        signal.signal(s, previous)
    _stopping = False
    _ignored.clear()


def _child_default() -> None:
    # a forked worker (data loader, ingest pool) is stopped by its parent with SIGTERM: it
    # keeps the default actions rather than raising in the middle of its loop
    for s, (_, default) in _STOPS.items():
        if signal.getsignal(s) is _terminate or s in _ignored:
            signal.signal(s, default)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_child_default)


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: encoderkit <command> [key=value ...]", "       encoderkit --version", "", "commands:"]
    lines += [f"  {name:<{width}}  {doc}" for name, (_, doc) in COMMANDS.items()]
    lines += ["", "`encoderkit <command> --help` (or `encoderkit help <command>`) describes a command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    entry = argv is None  # the console script / `python -m encoderkit`, not a Python caller
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    # every word it prints goes through the guarded streams (encoderkit.cli_streams): a reader
    # gone away ends it quietly with 141, any other failed write is said once it has run
    with guarded_streams(entry) as streams:
        try:
            code = _main(argv, entry, streams)
            streams.flush()  # a block-buffered stdout's failure shows here, not at exit
        except BrokenPipeError:
            # the reader went away (`encoderkit --help | head -1`): stop quietly, as
            # command-line tools killed by SIGPIPE do, and keep the exit from writing again
            if entry:
                point_at_null(1)
            return 141
        return _streams_said(streams, code, command)


def _streams_said(streams: Streams, code: int, command: str | None) -> int:
    """``code``, or 1 after saying which stream could not be written when the command
    succeeded otherwise (``encoderkit.cli_streams``); a failed command's own error is the news."""
    problem = streams.problem(ran=command is not None)
    if problem is None or code != 0:
        return code
    with contextlib.suppress(OSError):
        say(f"encoderkit{' ' + command if command else ''}: error: {problem}")
        streams.flush()
    return 1


def _main(argv: list[str], entry: bool, streams: Streams) -> int:
    """``main`` within its guarded ``streams``: the command's exit code."""
    if not argv:  # `$CMD` empty in a script: a usage error, not a success
        print(usage(), file=sys.stderr)
        return 2
    if argv[:1] == ["help"] and len(argv) > 1:  # `encoderkit help ingest`: ingest's own help
        argv = [argv[1], "--help"]
    if argv[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    if argv[0] in {"-V", "--version", "version"}:
        from encoderkit import __version__

        print(f"encoderkit {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if rest == ["help"]:  # `encoderkit pretrain help`: each command read the word its own way
        rest = ["--help"]
    if command not in COMMANDS:
        print(f"encoderkit: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    # warnings are for people here: one line each, no source line, never glued after a bar
    previous = warnings.formatwarning

    def one_line(message, category, *_a, **_k) -> str:
        clear_bars()
        return f"encoderkit {command}: warning: {' '.join(str(message).split())}\n"

    warnings.formatwarning = one_line
    # only the main thread may set a handler; one the caller installed is left alone
    taken = _take_signals()
    from encoderkit.outputs import forget_checks
    from encoderkit.input_reads import command as command_reads
    from encoderkit.overrides import expand_home

    forget_checks()  # outputs an earlier command of this process checked are not this one's
    rest = expand_home(rest)  # output=~/x from /bin/sh or cron: the home folder, not ./~
    quiet = contextlib.ExitStack()
    if _other_rank():  # rank 0 says the warnings; the caller's filters come back on the way out
        quiet.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
    try:
        _check_one_process(command, rest)
        module = importlib.import_module(COMMANDS[command][0])
        # Each module exposes `run(command, argv) -> int`.
        with command_reads():  # the Python entry points it calls keep what it read (input_reads)
            code = int(module.run(command, rest) or 0)
        if entry and command == "pretrain" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            # A finished torchrun rank skips interpreter teardown: Gloo's worker threads can
            # still hold tensors then and abort the process (SIGABRT) after the run has
            # completed and saved, a known torch shutdown race.
            streams.flush()
            code = _streams_said(streams, code, command)
            os._exit(code)
        return code
    except EncoderkitError as e:
        return report(command, explain_key_error(command, rest, e, lambda: _usage_of(command)))
    except BrokenPipeError:
        raise  # main ends it quietly
    except KeyboardInterrupt as e:
        signum = e.signum if isinstance(e, Terminated) else int(signal.SIGINT)
        with contextlib.suppress(OSError, ValueError):  # after SIGHUP the terminal may be gone (EIO): the exit code still says it
            say(f"encoderkit {command}: {_STOPS[signum][0] if signum in _STOPS else 'terminated'}")
        from encoderkit.stop_cleanup import settle_zarr_loop

        settle_zarr_loop()  # a store read the stop cut short: else zarr's exit hook printed a traceback
        return 128 + signum
    except Exception as e:
        if _out_of_memory_error(e):  # the machine's limit, not a bug: say it with what to lower
            return _out_of_memory(command, e)
        stopped = _peer_stopped(e)
        if stopped:  # not this process's fault: the one that stopped said why
            say(f"encoderkit {command}: error: {stopped}")
            return 1
        clear_bars()
        traceback.print_exc()
        print(f"encoderkit {command}: {BUG_LINE}", file=sys.stderr)
        return 1
    finally:
        quiet.close()
        warnings.formatwarning = previous
        _give_back(taken, entry)


SEVERAL_PROCESSES = ("pretrain", "finetune")  # the commands that train as one torchrun job


def _check_one_process(command: str, rest: Sequence[str]) -> None:
    """Refuse a command other than pretrain / finetune started as several processes
    (torchrun): every rank would run it whole and write the same output file, store or
    run_dir at once (one rank's file won, the other failed or clashed)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return  # named by encoderkit.train.distributed.environment where it matters
    if world <= 1 or command in SEVERAL_PROCESSES or any(a in ("-h", "--help") for a in rest):
        return
    from encoderkit.errors import UsageError

    train = ("; to train on several GPUs: ingest, `torchrun ... -m encoderkit pretrain`, then "
             "`encoderkit infill` in one process") if command == "impute" else ""
    raise UsageError(f"runs in one process, not under torchrun (WORLD_SIZE={world}): each of the "
                     f"{world} processes would write the same output; run `encoderkit {command}` once"
                     f"{train} (pretrain and finetune are the commands that run as several processes)")


def _other_rank() -> bool:
    """Whether this process is a rank other than 0 of a multi-process (torchrun) run. Every
    rank runs the same command on the same data and configuration, so rank 0 says each
    warning for all of them (a warning said once per rank read as N problems). Errors are
    printed by every rank: each may differ. A malformed RANK / WORLD_SIZE is left for
    ``encoderkit.train.distributed.environment`` to name."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1 and int(os.environ.get("RANK", "0")) > 0
    except ValueError:
        return False


def _peer_stopped(error: BaseException) -> str | None:
    """The one-line message for an error that says another process of this distributed run
    is gone (it stopped on its own error, or was terminated), or None. Only once this process
    joined a process group: without one no peer exists. ``encoderkit.train.distributed``
    is looked up, not imported: a command that never imported it has no process group."""
    dist = sys.modules.get("encoderkit.train.distributed")
    return None if dist is None else dist.peer_failure(error)


def _usage_of(command: str) -> str:
    """What ``encoderkit <command> --help`` prints (the options a typo is matched against)."""
    import contextlib
    import io

    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        importlib.import_module(COMMANDS[command][0]).run(command, ["--help"])
    return text.getvalue()


def _out_of_memory_error(error: Exception) -> bool:
    """An allocation refused: Python's / numpy's ``MemoryError``, torch's ``OutOfMemoryError``
    (CUDA), or torch's CPU allocator's RuntimeError. torch is only looked at when the command
    imported it (``--help`` and the data commands never load it)."""
    if isinstance(error, MemoryError):
        return True
    torch = sys.modules.get("torch")
    oom = getattr(torch, "OutOfMemoryError", None)
    if isinstance(oom, type) and isinstance(error, oom):
        return True
    return isinstance(error, RuntimeError) and "DefaultCPUAllocator: can't allocate memory" in str(error)


def _out_of_memory(command: str, error: Exception) -> int:
    """An allocation the machine refused (numpy's "Unable to allocate 1.5 GiB for an array
    ...", a bare MemoryError under ``ulimit -v``, torch's "CUDA out of memory. Tried to
    allocate ...") as one line with what to make smaller; exit 1. The traceback is dropped
    with the error, which frees what it held."""
    said = " ".join(str(error).split())[:300]  # torch's CUDA message runs on for a paragraph
    if command in {"pretrain", "finetune"}:  # Hydra runs: the data.* keys
        smaller = "a smaller data.max_tokens=N (the batch) or data.max_seqlen=N (the window)"
    else:
        smaller = "a smaller max_tokens=N (the batch) or max_seqlen=N (the window) where the command takes them"
    say(f"encoderkit {command}: error: out of memory{': ' + said if said else ''}; "
        f"try {smaller}, or split long records into shorter ones")
    return 1


def report(command: str, error: EncoderkitError) -> int:
    """Print a user error as one line; its exit code (2 usage, 1 data)."""
    line = " ".join(str(error).split())
    say(f"encoderkit {command}: error: {line}")
    return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
