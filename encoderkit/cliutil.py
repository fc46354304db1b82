"""What every `encoderkit <command>` module shares: dispatch with `--help`.

Errors are not handled here: a command raises an ``EncoderkitError`` subclass
(``UsageError`` for a bad parameter, ``DataError`` for a bad file / record,
``InputNotFoundError``, ``OutputExistsError``) naming the file / record / key, and
``encoderkit.cli.main`` prints it as one line with the right exit code. New commands
need nothing more than to raise.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

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


# a progress bar written to a log (stderr not a terminal: a scheduler's file, a pipe) is
# redrawn at most this often: every redraw is a new line there (~190 bytes a training step)
LOG_REFRESH_SECONDS = 30.0


def _is_terminal(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def progress_bar(**kwargs: Any) -> Any:
    """``tqdm(**kwargs)`` (on stderr unless ``file=`` says otherwise), every command's one place
    to make a bar. On a terminal it is tqdm's own; when the stream is not a terminal (a log)
    it redraws at most every ``LOG_REFRESH_SECONDS`` (``set_postfix`` / ``set_description``
    included, which otherwise redraw on every call) and once more when closed. A notebook's
    bar (``tqdm.auto``) is left as it is."""
    import sys

    from tqdm.auto import tqdm

    kwargs.setdefault("file", sys.stderr)
    if _is_terminal(kwargs["file"]) or "notebook" in tqdm.__module__:
        return tqdm(**kwargs)
    kwargs.setdefault("mininterval", LOG_REFRESH_SECONDS)
    kwargs.setdefault("maxinterval", max(LOG_REFRESH_SECONDS, float(kwargs["mininterval"])))
    return _LogBar(**kwargs)


def _log_bar_class() -> type:
    from tqdm import tqdm

    class LogBar(tqdm):
        """A bar whose postfix and description wait for the next timed redraw."""

        def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
            super().set_postfix(ordered_dict, refresh=False, **kwargs)

        def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
            super().set_postfix_str(s, refresh=False)

        def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
            super().set_description(desc, refresh=False)

    return LogBar


def _LogBar(**kwargs: Any) -> Any:  # noqa: N802 - made on first use: tqdm is imported lazily
    global _LOG_BAR
    if _LOG_BAR is None:
        _LOG_BAR = _log_bar_class()
    return _LOG_BAR(**kwargs)


_LOG_BAR: type | None = None
