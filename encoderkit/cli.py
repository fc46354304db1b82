"""`encoderkit <command> [hydra overrides]`: a thin dispatcher.

Each command lives with the layer that implements it and takes ``argv`` (the
words after the command), returning an exit code. Commands are imported lazily
so `encoderkit --help` is instant and a missing optional part breaks only its
own command.

``main`` is the one place that reports errors: a user error (``EncoderkitError``,
see ``encoderkit.errors``) is one line ``encoderkit <command>: error: <message>`` on
stderr and exit code 1 (data) or 2 (usage); anything else is a bug in encoderkit and
gets its traceback plus a line asking to report it. Commands just raise.
"""

from __future__ import annotations

import importlib
import sys
import traceback
import warnings

from encoderkit.errors import EncoderkitError

BUG_LINE = "this is a bug in encoderkit; please report it with the command above"

COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("encoderkit.data.ingest", "Raw files -> record store"),
    "pretrain": ("encoderkit.train.cli", "Pretrain an encoder (Hydra overrides)"),
    "embed": ("encoderkit.infer.cli", "Embeddings for a store or raw files"),
    "infill": ("encoderkit.infer.cli", "Fill missing/masked parts of records"),
    "probe": ("encoderkit.infer.cli", "Linear probe of embeddings with cross-validation"),
    "export-hf": ("encoderkit.interop.cli", "Write a Hugging Face ModernBERT directory"),
    "import-hf": ("encoderkit.interop.cli", "Start a run from a Hugging Face ModernBERT directory"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: encoderkit <command> [key=value ...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {doc}" for name, (_, doc) in COMMANDS.items()]
    lines += ["", "`encoderkit <command> --help` describes a command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"encoderkit: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    # warnings are for people here: one line each, no source line
    previous = warnings.formatwarning
    warnings.formatwarning = lambda message, category, *_a, **_k: \
        f"encoderkit {command}: warning: {' '.join(str(message).split())}\n"
    try:
        module = importlib.import_module(COMMANDS[command][0])
        # Each module exposes `run(command, argv) -> int`.
        return int(module.run(command, rest) or 0)
    except EncoderkitError as e:
        return report(command, e)
    except KeyboardInterrupt:
        print(f"encoderkit {command}: interrupted", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print(f"encoderkit {command}: {BUG_LINE}", file=sys.stderr)
        return 1
    finally:
        warnings.formatwarning = previous


def report(command: str, error: EncoderkitError) -> int:
    """Print a user error as one line; its exit code (2 usage, 1 data)."""
    line = " ".join(str(error).split())
    print(f"encoderkit {command}: error: {line}", file=sys.stderr)
    return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
