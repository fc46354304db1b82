"""What every `encoderkit <command>` module shares: dispatch with `--help`.

Errors are not handled here: a command raises an ``EncoderkitError`` subclass
(``UsageError`` for a bad parameter, ``DataError`` for a bad file / record,
``InputNotFoundError``, ``OutputExistsError``) naming the file / record / key, and
``encoderkit.cli.main`` prints it as one line with the right exit code. New commands
need nothing more than to raise.
"""

from __future__ import annotations

from typing import Callable, Mapping

from encoderkit.errors import UsageError


def dispatch(commands: Mapping[str, Callable[[list[str]], int]], usage: str | Mapping[str, str],
             command: str, argv: list[str]) -> int:
    """Run ``commands[command](argv)``; ``--help`` prints the command's own usage
    (``usage`` is one text, or a command -> text mapping)."""
    if command not in commands:
        raise UsageError(f"unknown command {command!r}; expected one of {sorted(commands)}")
    if any(a in ("-h", "--help") for a in argv):
        print(usage[command] if isinstance(usage, Mapping) else usage)
        return 0
    return commands[command](argv)


def check_device(device: object, owner: str = "") -> None:
    """Refuse, before any work, a ``device`` torch cannot parse or this machine does not have
    (``cuda`` without CUDA failed deep inside torch, after ingest and setup). ``owner``
    names whose parameter it is in the message (``EncoderImputer``)."""
    import torch

    of = f" of {owner}" if owner else ""
    try:
        kind = torch.device(str(device)).type
    except (RuntimeError, TypeError, ValueError):
        raise UsageError(f"The 'device' parameter{of} must be a torch device (cpu, cuda, cuda:0, mps). "
                         f"Got {device!r} instead.", key="device") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"The 'device' parameter{of} is {device!r}, but no CUDA device is available "
                         f"to torch here; use device=cpu.", key="device")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"The 'device' parameter{of} is {device!r}, but no MPS device is available "
                         f"to torch here; use device=cpu.", key="device")
