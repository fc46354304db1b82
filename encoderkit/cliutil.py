"""What every `encoderkit <command>` module shares: dispatch with `--help`.

Errors are not handled here: a command raises an ``EncoderkitError`` subclass
(``UsageError`` for a bad parameter, ``DataError`` for a bad file / record,
``InputNotFoundError``, ``OutputExistsError``) naming the file / record / key, and
``encoderkit.cli.main`` prints it as one line with the right exit code. New commands
need nothing more than to raise.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import time
from typing import Any, Callable, Iterator, Mapping, Sequence

from encoderkit.errors import EncoderkitError, UsageError


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


# A message that refuses keys: "unknown parameter 'x'", "unknown config key 'x'", a domain's
# "unknown ingest option(s) of the tabular domain: ['x']; allowed: [...]" (errors.unknown_options),
# or a list of the given keys ("... must be among [...]. Got ['x'] instead.")
_UNKNOWN = re.compile(r"\bunknown\b|\bGot \[[^\]]*\] instead", re.IGNORECASE)
_LIST = re.compile(r"\[([^\[\]]*)\]")
_QUOTED = re.compile(r"'([^'\s]+)'")
# a key in a usage text: `key=`, or the first word of an indented option list ("  holdout   share")
_HELP_KEY = re.compile(r"(?<![\w.\-/])([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)=|^ {2}([a-z][a-z0-9_.]*) {2,}\S", re.M)
# the keys a "missing" message asks for: `output=...`, `labels=<labels file>`
_MISSING_KEY = re.compile(r"(?<![\w.])([a-z][a-z0-9_.]*)=(?:\.\.\.|<)")
# a group with open keys in a usage text: `domain.<option>=`, `model.<EncoderConfig field>=`
_HELP_GROUP = re.compile(r"(?<![\w.\-/])([a-z][a-z0-9_]*)\.(?:<|[a-z])")
# the same, only where a key of the group is given (`group.<...>=`, `group.key=`): a group
# named in prose alone ("window (domain.infill_window)") takes no key in that command
_HELP_GROUP_KEY = re.compile(r"(?<![\w.\-/])([a-z][a-z0-9_]*)\.(?:<[^>]*>|[a-z][a-z0-9_.]*)=")
# a usage text's "name (group.option)": the command's key and the option it sets
# (infill's "window (domain.infill_window)"), so the option's name points at the key
_HELP_ALIAS = re.compile(r"(?<![\w.])([a-z][a-z0-9_]*) \(([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)\)")


def _typed_keys(argv: Sequence[str]) -> list[str]:
    """The keys of the ``key=value`` words, as typed but for Hydra's ``+`` / ``~`` prefixes."""
    keys = []
    for word in map(str, argv):
        if "=" in word or re.fullmatch(r"~[A-Za-z_][\w.]*", word):  # not a bare path (export-hf's run)
            key = word.split("=", 1)[0].lstrip("+~")
            if key and not key.startswith("hydra.") and key not in keys:
                keys.append(key)
    return keys


# The commands that compose a Hydra config (configs/): they take hydra.searchpath=[...] and
# nothing else of Hydra's own settings, which belong to Hydra's app runner (@hydra.main);
# encoderkit composes with Hydra's compose API, which reads none of them
HYDRA_COMMANDS = ("pretrain", "finetune", "impute")
_HYDRA_INSTEAD = {
    "hydra.run.dir": "the run directory is run.dir=<dir>",
    "hydra.run": "the run directory is run.dir=<dir>",
    "hydra.sweep.dir": "a sweep's directory is run.dir=<dir> with -m (job i in <dir>/<i>)",
    "hydra.sweep.subdir": "a sweep's jobs are <run.dir>/<i> (encoderkit pretrain -m run.dir=<dir>)",
    "hydra.sweep": "a sweep's directory is run.dir=<dir> with -m (job i in <dir>/<i>)",
    "hydra.mode": "a sweep is encoderkit pretrain -m key=a,b (one job per value)",
    "hydra.job.chdir": "encoderkit never changes the working directory: relative paths are read "
                       "from where the command runs",
    "hydra/sweeper": "encoderkit pretrain -m runs a sweep's jobs one after another",
    "hydra/launcher": "encoderkit pretrain -m runs a sweep's jobs one after another",
    "hydra/job_logging": "encoderkit writes no Hydra log: metrics go to <run dir>/metrics.jsonl",
    "hydra/hydra_logging": "encoderkit writes no Hydra log: metrics go to <run dir>/metrics.jsonl",
}


def hydra_word_problem(words: Sequence[str], command: str | None) -> tuple[str, str] | None:
    """``(key, one-line refusal)`` for the first Hydra setting (``hydra.*``, ``hydra/<group>``)
    among ``words`` that ``encoderkit <command>`` does not read, else None (``command`` None:
    a Hydra composition of the Python API). Hydra's compose API took ``hydra.run.dir=x``,
    ``hydra.job.chdir=true``, ``hydra/job_logging=disabled`` and dropped them without a word;
    only ``hydra.searchpath`` of a Hydra command means anything."""
    for word in map(str, words):
        key = word.split("=", 1)[0].lstrip("+~")
        if not (key == "hydra" or key.startswith(("hydra.", "hydra/"))):
            continue
        if command is not None and command not in HYDRA_COMMANDS:
            return key, (f"{key}: encoderkit {command} reads no Hydra setting; only pretrain, finetune "
                         f"and impute compose a Hydra config (and take hydra.searchpath=[...] there)")
        if key == "hydra.searchpath":
            continue
        instead = next((v for k, v in _HYDRA_INSTEAD.items() if key == k or key.startswith(k + ".")),
                       "the run directory is run.dir=<dir>, a sweep encoderkit pretrain -m key=a,b")
        if command == "impute" and key.startswith(("hydra.run", "hydra.sweep")):
            instead = "impute keeps its models under run_dir=<dir>"
        elif command == "finetune":  # it sweeps with -m too
            instead = instead.replace("encoderkit pretrain -m", "encoderkit finetune -m")
        return key, (f"{key} is a setting of Hydra's app runner, which encoderkit{' ' + command if command else ''} "
                     f"does not use (of Hydra's settings it reads hydra.searchpath=[...] only): {instead}")
    return None


def _closest(key: str, candidates: Sequence[str]) -> str | None:
    """The candidate nearest ``key`` by difflib's ratio (at least 0.6), None if none is near."""
    found = difflib.get_close_matches(key, [c for c in candidates if c != key], n=1, cutoff=0.6)
    return found[0] if found else None


def explain_key_error(command: str, argv: Sequence[str], error: EncoderkitError,
                      usage: Callable[[], str]) -> EncoderkitError:
    """``error`` as a usage error naming the misspelled key, its nearest valid spelling and
    where the options are listed, when it is about a key the user typed wrong; else ``error``.

    Every command refuses an unknown key in its own words (some listing the allowed keys,
    some not; a domain's refusal came back as "cannot read <file>" with exit 1, a typo
    beside a required key as "missing output=..."). This is the one place that turns each
    into: the key typed, ``did you mean`` the closest key (difflib) among those the message
    allows and those ``usage()`` (the command's ``--help`` text) documents, and a pointer to
    ``encoderkit <command> --help``. An error that names no typed key is left as it is; one
    that names a Hydra setting the command does not read (``hydra.run.dir=x``) says so."""
    hydra = hydra_word_problem(argv, command)
    if hydra is not None and (error.key == hydra[0] or f"'{hydra[0]}'" in str(error)):
        return UsageError(hydra[1], key=hydra[0])  # refused as itself, not as an unknown parameter
    typed = _typed_keys(argv)
    message = str(error)
    unknown = bool(_UNKNOWN.search(message))
    missing = isinstance(error, UsageError) and "missing" in message
    if not typed or not (unknown or missing):
        return error
    try:
        text = usage()
    except Exception:  # a command whose help cannot be built here: suggest from the message only
        text = ""
    documented = {a or b for a, b in _HELP_KEY.findall(text)}
    groups = set(_HELP_GROUP.findall(text)) | {k.split(".", 1)[0] for k in documented if "." in k}
    # the groups whose keys the command takes: infill's help names domain.infill_window, which
    # infill refuses (it takes window=), so "domain.window" was suggested and refused in turn
    keyed = set(_HELP_GROUP_KEY.findall(text)) | {k.split(".", 1)[0] for k in documented if "." in k} \
        | {g for g in groups if g in documented}
    leaves = {k.rsplit(".", 1)[-1] for k in typed if "." in k}
    # a list in the message whose items are all typed keys names the refused ones; any other
    # list names allowed keys
    allowed: set[str] = set()
    for items in _LIST.findall(message):
        names = _QUOTED.findall(items)
        if any(n not in typed and n not in leaves for n in names):
            allowed.update(names)
    known = allowed | documented
    quoted = set(_QUOTED.findall(message))
    typo = next((k for k in typed if k not in known and (k in quoted or (
        "." in k and k.rsplit(".", 1)[-1] in quoted))), None) if unknown else None
    if typo is not None:
        said = message
        group = typo.split(".", 1)[0] if "." in typo else None
        # a message listing a group's own keys names them without the group ("train keys: [steps]")
        pool = known | ({f"{group}.{n}" for n in allowed if "." not in n}
                        if group in (groups & keyed) | allowed else set())
        aliases = {option: key for key, option in _HELP_ALIAS.findall(text) if key in known}
        leaf = typo.rsplit(".", 1)[-1]
        fix = aliases.get(typo) or _closest(typo, sorted(pool))
        if fix is None and group is not None and group not in keyed | allowed:
            # a group the command takes no key of (domain.window in infill): the key itself
            fix = leaf if leaf in known else _closest(leaf, sorted(k for k in known if "." not in k))
        if fix is None and group is not None:  # the group misspelled: trian.steps
            near = _closest(group, sorted((groups & keyed) | allowed))
            fix = f"{near}.{typo.split('.', 1)[1]}" if near else None
    elif missing:
        # "missing output=..." while the user typed outptu=: the typo is the news
        wanted = ({error.key} if error.key else set()) | set(_MISSING_KEY.findall(message))
        typo, fix = next(((k, m) for k in typed if k not in wanted and k not in known
                          for m in [_closest(k, sorted(wanted))] if m is not None), (None, None))
        if typo is None:
            return error
        said = f"unknown parameter {typo!r}; {message}"
    else:
        return error
    if fix is not None and "did you mean" not in said:  # right after the key's first mention (or its list)
        at = re.search(rf"'{re.escape(typo)}'|\[[^\]]*'{re.escape(typo.rsplit('.', 1)[-1])}'[^\]]*\]", said)
        end = at.end() if at else len(said)
        said = f"{said[:end]} (did you mean '{fix}'?){said[end:]}"
    if f"{command} --help" not in said:
        said = f"{said.rstrip('. ')}; the options of {command}: encoderkit {command} --help"
    return UsageError(said, key=typo)


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
    included, which otherwise redraw on every call) and once more when closed, each redraw a
    line of its own (``_LineLog``). Without a stream (stderr closed: ``2>&-``, ``pythonw``)
    there is no bar. A notebook's bar (``tqdm.auto``) is left as it is. Every bar is of an
    ``_own_bars`` class: the host's process is left as it was (no multiprocessing lock, no
    monitor thread)."""
    import sys

    from tqdm.auto import tqdm

    kwargs.setdefault("file", sys.stderr)
    # without the monitor thread, which lowered a bar's ``miniters`` again after a slow update
    # (a bar that had run fast waited that many updates to redraw), every update may redraw
    kwargs.setdefault("miniters", 1)
    if kwargs["file"] is None:  # tqdm would write to None (sys.stderr then) and fail
        kwargs["disable"] = True
        return _own_bars(tqdm)(**{**kwargs, "file": _Dropped()})
    if _is_terminal(kwargs["file"]) or "notebook" in tqdm.__module__:
        return _own_bars(tqdm)(**kwargs)
    kwargs.setdefault("mininterval", LOG_REFRESH_SECONDS)
    kwargs.setdefault("maxinterval", max(LOG_REFRESH_SECONDS, float(kwargs["mininterval"])))
    kwargs["file"] = _LineLog(kwargs["file"])
    return _LogBar(**kwargs)


_OWN_BARS: dict[type, type] = {}


def _own_bars(base: type) -> type:
    """``base`` (a tqdm class) whose bars leave the process as they found it. tqdm's first bar
    makes its default write lock, a ``multiprocessing.RLock``, which fixes the process's start
    method (a host's later ``multiprocessing.set_start_method("spawn")`` failed: "context has
    already been set"), and starts a ``tqdm_monitor`` thread that outlives the call. These
    bars lock their writes with tqdm's thread lock only (the one its default lock takes too,
    so bars in threads still take turns; a bar under torchrun is rank 0's alone, and worker
    processes draw none) and run no monitor. A subclass: the host's own tqdm bars are
    untouched, and share ``_instances`` (positions, ``clear_bars``) with these."""
    own = _OWN_BARS.get(base)
    if own is None:
        import threading

        from tqdm.std import TqdmDefaultWriteLock

        lock = getattr(TqdmDefaultWriteLock, "th_lock", None) or threading.RLock()
        own = _OWN_BARS[base] = type(base.__name__, (base,), {"monitor_interval": 0, "_lock": lock})
    return own


class _Dropped:
    """A stream that takes every write and keeps nothing (a disabled bar's, where none exists)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None


# what tqdm writes around a redraw that a log line does not need: the return to the line's
# start, the cursor moves of a bar at another position
_REDRAW_NOISE = ("\r", "\x1b[A")


class _LineLog:
    r"""The stream under a bar drawn into a log. tqdm redraws a bar in place (``'\r' + bar``,
    padded with spaces to the last one's width) and ends its line when it closes; in a log a
    ``'\r'`` starts no new line, so the redraws made one endless line, and a warning or an
    error printed meanwhile was glued onto it. Here every redraw is a line of its own, and
    what only cleared or ended a line on a terminal (a padded ``'\r'``, the closing ``'\n'``)
    writes nothing: the line already ended."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        line = str(text)
        for noise in _REDRAW_NOISE:
            line = line.replace(noise, "")
        line = line.rstrip(" \n")
        # the empty write too: tqdm writes '' to find out whether the stream is closed
        self._stream.write(f"{line}\n" if line else "")
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno ...: the stream's
        return getattr(self._stream, name)


def clear_bars(stream: Any = None) -> None:
    """Clear the line of every bar drawn on the terminal ``stream`` (default: stderr) before a
    message is written there, as ``tqdm.write`` does: the message starts its own line instead
    of being glued after the bar, and the bar is drawn again below it at its next update. A
    bar in a log (``_LineLog``) ends each line itself; without tqdm loaded there is no bar."""
    import sys

    module = sys.modules.get("tqdm")
    stream = sys.stderr if stream is None else stream
    if module is None or stream is None or not _is_terminal(stream):
        return
    for bar in list(getattr(module.tqdm, "_instances", ())):
        fp = getattr(bar, "fp", None)
        if getattr(bar, "disable", True) or getattr(fp, "_wrapped", fp) is not stream:
            continue
        try:
            bar.clear()
        except (OSError, ValueError):  # a terminal gone meanwhile: the message's write says so
            continue


def say(line: str, stream: Any = None) -> None:
    """``print(line)`` to ``stream`` (default: stderr) on a line of its own, a bar drawn there
    cleared first (``clear_bars``): what commands say to a person while a bar may be drawn."""
    import sys

    stream = sys.stderr if stream is None else stream
    if stream is None:  # no stderr (closed, pythonw): print(file=None) would write to stdout
        return
    clear_bars(stream)
    print(line, file=stream)


@contextlib.contextmanager
def phase(tell: Callable[[str], None], start: str, done: str) -> Iterator[None]:
    """Say ``start`` as a long step of a command begins and ``done (<seconds> s)`` once it has
    ended, through ``tell`` (``say``, a caller's log, or nothing when progress is off): a
    person at the terminal or reading a log sees which step runs, and then what it took,
    where minutes passed without a line. A step that raises says nothing more: its error is
    the next line."""
    t0 = time.perf_counter()
    tell(start)
    yield
    tell(f"{done} ({time.perf_counter() - t0:.1f} s)")


def _log_bar_class() -> type:
    from tqdm import tqdm

    class LogBar(_own_bars(tqdm)):
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
