"""`encoderkit <command> [hydra overrides]`: a thin dispatcher.

Each command lives with the layer that implements it and takes ``argv`` (the
words after the command), returning an exit code. Commands are imported lazily
so `encoderkit --help` is instant and a missing optional part breaks only its
own command.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("encoderkit.data.ingest", "Raw files -> record store"),
    "pretrain": ("encoderkit.train.cli", "Pretrain an encoder (Hydra overrides)"),
    "embed": ("encoderkit.infer.cli", "Embeddings for a store or raw files"),
    "infill": ("encoderkit.infer.cli", "Fill missing/masked parts of records"),
    "probe": ("encoderkit.infer.cli", "Linear probe of embeddings with cross-validation"),
    "finetune": ("encoderkit.tasks.cli", "Fine-tune a task head on a pretrained encoder"),
    "predict": ("encoderkit.tasks.cli", "Predictions of a fine-tuned run (CSV / Parquet)"),
    "evaluate": ("encoderkit.tasks.cli", "Task metrics of a fine-tuned run against labels"),
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
    module = importlib.import_module(COMMANDS[command][0])
    # Each module exposes `run(command, argv) -> int`.
    return int(module.run(command, rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
