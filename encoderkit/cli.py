"""`encoderkit <command> [hydra overrides]`: a thin dispatcher.

Each command lives with the layer that implements it and takes ``argv`` (the
words after the command), returning an exit code. Commands are imported lazily
so `encoderkit --help` is instant and a missing optional part breaks only its
own command.

``main`` is the one place that reports errors: a user error (``EncoderkitError``,
see ``encoderkit.errors``) is one line ``encoderkit <command>: error: <message>`` on
stderr and exit code 1 (data) or 2 (usage); anything else is a bug in encoderkit and
gets its traceback plus a line asking to report it. Commands just raise. An error
about a key the user misspelled, in whatever words the command or its domain refused it,
becomes a usage error naming the key, the closest valid one and ``<command> --help``
(``encoderkit.cliutil.explain_key_error``).

SIGTERM (``kill``, a scheduler's time limit, a container stop) ends a command as Ctrl-C
does: it raises ``Terminated`` (a ``KeyboardInterrupt``) where the command is, so every
writer's clean-up runs (temporaries removed, nothing half-written left behind) before the
exit code 143; the default action would end the process with no clean-up at all.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import traceback
import warnings

from encoderkit.cliutil import explain_key_error
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
    """SIGTERM, raised where the command is so that its clean-up runs."""


def _terminate(signum, frame) -> None:
    raise Terminated()


def _child_default() -> None:
    # a forked worker (data loader, ingest pool) is stopped by its parent with SIGTERM: it
    # keeps the default action rather than raising in the middle of its loop
    if signal.getsignal(signal.SIGTERM) is _terminate:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_child_default)


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: encoderkit <command> [key=value ...]", "       encoderkit --version", "", "commands:"]
    lines += [f"  {name:<{width}}  {doc}" for name, (_, doc) in COMMANDS.items()]
    lines += ["", "`encoderkit <command> --help` describes a command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    entry = argv is None  # the console script / `python -m encoderkit`, not a Python caller
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:  # `$CMD` empty in a script: a usage error, not a success
        print(usage(), file=sys.stderr)
        return 2
    if argv[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    if argv[0] in {"-V", "--version", "version"}:
        from encoderkit import __version__

        print(f"encoderkit {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"encoderkit: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    # warnings are for people here: one line each, no source line
    previous = warnings.formatwarning
    warnings.formatwarning = lambda message, category, *_a, **_k: \
        f"encoderkit {command}: warning: {' '.join(str(message).split())}\n"
    # only the main thread may set a handler; one the caller installed is left alone
    on_term = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    if on_term == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)
    from encoderkit.outputs import forget_checks
    from encoderkit.overrides import expand_home

    forget_checks()  # outputs an earlier command of this process checked are not this one's
    rest = expand_home(rest)  # output=~/x from /bin/sh or cron: the home folder, not ./~
    try:
        module = importlib.import_module(COMMANDS[command][0])
        # Each module exposes `run(command, argv) -> int`.
        code = int(module.run(command, rest) or 0)
        if entry and command == "pretrain" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            # A finished torchrun rank skips interpreter teardown: Gloo's worker threads can
            # still hold tensors then and abort the process (SIGABRT) after the run has
            # completed and saved, a known torch shutdown race.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        return code
    except EncoderkitError as e:
        return report(command, explain_key_error(command, rest, e, lambda: _usage_of(command)))
    except BrokenPipeError:
        # the reader went away (`encoderkit ingest --help | head -1`): stop quietly, as
        # command-line tools killed by SIGPIPE do, and keep the exit from writing again
        if entry:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt as e:
        term = isinstance(e, Terminated)
        print(f"encoderkit {command}: {'terminated' if term else 'interrupted'}", file=sys.stderr)
        return 143 if term else 130
    except Exception:
        traceback.print_exc()
        print(f"encoderkit {command}: {BUG_LINE}", file=sys.stderr)
        return 1
    finally:
        warnings.formatwarning = previous
        if on_term == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _usage_of(command: str) -> str:
    """What ``encoderkit <command> --help`` prints (the options a typo is matched against)."""
    import contextlib
    import io

    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        importlib.import_module(COMMANDS[command][0]).run(command, ["--help"])
    return text.getvalue()


def report(command: str, error: EncoderkitError) -> int:
    """Print a user error as one line; its exit code (2 usage, 1 data)."""
    line = " ".join(str(error).split())
    print(f"encoderkit {command}: error: {line}", file=sys.stderr)
    return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
