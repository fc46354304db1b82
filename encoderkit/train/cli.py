"""`encoderkit pretrain [-m] [overrides]`: Hydra overrides in, a run directory out.

Errors: a bad override is a ``ConfigError`` (a ``UsageError``), a bad store or
checkpoint a ``DataError``; ``encoderkit.cli.main`` prints them as one line.

``-m`` / ``--multirun`` (``pretrain`` and ``finetune``, through ``multirun``) expands the
sweep forms of Hydra's basic sweeper (``SWEEP_FORMS``) into one job per combination, each
with its own run directory ``<run.dir or multirun/<time>>/<job number>``, run one after
another. Every job is composed and validated before any trains: a sweep with a job that
cannot run is refused naming the job, and leaves nothing behind. Then ``multirun.yaml`` in
the sweep directory lists each job's run directory (resolved) and its overrides.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from encoderkit.errors import EncoderkitError
from encoderkit.train.config import ConfigError, help_text
from encoderkit.train.option_sources import sweep_jobs

SWEEP_FORMS = ("a comma list (optim.lr=1e-4,3e-4), choice(a,b,...), range(start,stop[,step]), "
               "sort(...) or shuffle(...) of these, and glob(pattern) over a config group (model=glob(t*))")
MULTIRUN_FILE = "multirun.yaml"


def _parse(words: Sequence[str], config_name: str = "config") -> list[Any]:
    """Hydra's ``Override`` of each word; a word the grammar cannot read is the one-line
    ``ConfigError`` a run without ``-m`` gives. ``glob(...)`` lists the options of a config
    group from Hydra's config loader (the packaged tree and the command's hydra.searchpath)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    loader = _GroupOptions([w for w in words if w.lstrip("+").split("=", 1)[0] == "hydra.searchpath"],
                           config_name)
    try:
        return OverridesParser.create(config_loader=loader).parse_overrides(list(words))  # type: ignore[arg-type]
    except (HydraException, ValueError) as e:  # ValueError: range(1,10,0) and such
        raise ConfigError(" ".join(str(e).split())) from None


class _GroupOptions:
    """What Hydra's ``glob()`` asks of a config loader: the options of a config group."""

    def __init__(self, searchpath: list[str], config_name: str) -> None:
        self.searchpath, self.config_name = searchpath, config_name

    def get_group_options(self, group: str, results_filter: Any = None) -> list[str]:
        from hydra.core.global_hydra import GlobalHydra
        from hydra.core.object_type import ObjectType

        from encoderkit.train.config import _hydra_of_our_own

        with _hydra_of_our_own():
            loader = GlobalHydra.instance().config_loader()
            return loader.get_group_options(group, results_filter or ObjectType.CONFIG,
                                            self.config_name, self.searchpath)


def _values(override: Any) -> list[str]:
    """The words of one override: itself as typed, or one word per value of a sweep."""
    from hydra.errors import HydraException

    if not override.is_sweep_override():
        return [override.input_line]
    key = override.get_key_element()
    if not override.is_discrete_sweep():  # interval(): a range to sample, for an optimizing sweeper
        raise ConfigError(f"{override.input_line}: -m runs each value of a sweep once, and "
                          f"{override.value_type.name.lower().replace('_sweep', '')}() has no list of "
                          f"values (it is for an optimizing sweeper such as Optuna); the sweep forms "
                          f"of -m are {SWEEP_FORMS}", key=key.lstrip("+~"))
    try:
        values = [f"{key}={v}" for v in override.sweep_string_iterator()]
    except (HydraException, ValueError) as e:  # range(1,10,0)
        raise ConfigError(f"{override.input_line}: {' '.join(str(e).split())}", key=key.lstrip("+~")) from None
    if not values:
        why = (f"no option of the config group {override.key_or_group!r} matches"
               if override.value_type.name == "GLOB_CHOICE_SWEEP" else "the range is empty")
        raise ConfigError(f"{override.input_line} gives no job to run: {why}", key=key.lstrip("+~"))
    return values


def expand_sweep(overrides: list[str], config_name: str = "config") -> list[list[str]]:
    """The jobs of a sweep, each as the words of one run: the cartesian product of the sweep
    overrides, in Hydra's basic-sweeper order (a key given twice: the last value, at the
    first's place). Words that are not sweeps are kept as typed (Hydra's own expansion
    re-quotes them, which escaped ``${...}`` and kept quotes around paths)."""
    from encoderkit.overrides import readable

    choices: dict[str, list[str]] = {}
    for override in _parse(readable(overrides), config_name):
        choices[override.get_key_element()] = _values(override)
    return [list(job) for job in itertools.product(*choices.values())]


def _word(key: str, value: str) -> str:
    """``key=value`` such that Hydra's grammar reads ``value`` back as this exact text."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for text in (value, "'" + value.replace("'", "\\'") + "'", '"' + value.replace('"', '\\"') + '"'):
        try:
            parsed = parser.parse_overrides([f"{key}={text}"])[0]
        except Exception:  # the grammar's errors, whatever their type: the next quoting
            continue
        if not parsed.is_sweep_override() and parsed.value() == value:
            return f"{key}={text}"
    raise ConfigError(f"{key}={value!r} cannot be written as a Hydra override", key=key)


def _sweep_base(argv: Sequence[str], config_name: str) -> str | None:
    """The value of ``run.dir`` (the folder of the whole sweep), None when not given. A swept
    run.dir is refused: each job already has its own folder in it."""
    from encoderkit.overrides import readable

    base = None
    for override in _parse(readable([w for w in argv if w.lstrip("+").split("=", 1)[0] == "run.dir"]),
                           config_name):
        if override.is_sweep_override():
            raise ConfigError(f"{override.input_line}: under -m, run.dir is one folder for the whole sweep, "
                              f"each job running in <run.dir>/<job number>; sweep other keys, and give "
                              f"run.dir one value", key="run.dir")
        base = None if override.value() is None else str(override.value())
    return base


def _varying(jobs: list[list[str]]) -> list[list[str]]:
    """Each job's words that differ between jobs (what names a job in a message)."""
    return [[w for i, w in enumerate(job) if len({j[i] for j in jobs}) > 1] for job in jobs]


def _compose_all(jobs: list[list[str]], labels: list[str],
                 compose: Callable[[list[str]], Any]) -> list[Any]:
    """Every job's validated config; the first refusal names its job (unless every job is
    refused alike: then the sweep as a whole is wrong, said once)."""
    cfgs, errors = [], []
    for job in jobs:
        try:
            with sweep_jobs():  # a shared word that fits only some jobs: warned of in the others
                cfgs.append(compose(job))
            errors.append(None)
        except EncoderkitError as e:
            cfgs.append(None)
            errors.append(e)
    failed = [i for i, e in enumerate(errors) if e is not None]
    if not failed:
        return cfgs
    first = errors[failed[0]]
    assert first is not None
    if len(failed) == len(jobs) and len({str(e) for e in errors}) == 1:
        raise first
    raise _of_job(first, failed[0], len(jobs), labels[failed[0]], "nothing was run")


def _of_job(error: EncoderkitError, index: int, n: int, label: str, after: str) -> EncoderkitError:
    """``error`` (its class, exit code and key kept) said of job ``index``."""
    error.message = f"-m job {index} of {n} ({label}): {error.message.rstrip('.')}; {after}"
    error.args = (error.message,)
    return error


def _check_dirs(cfgs: list[Any], labels: list[str], swept: set[str], base: str) -> Path:
    """The sweep folder (the one parent of every job's resolved run.dir); each job's folder
    that already holds checkpoints must be that job's run (its swept values), as its resume
    would check only once the jobs before it have trained."""
    from encoderkit.train import checkpoint as ckpt

    n = len(cfgs)
    dirs = [Path(str(c.run.dir)).expanduser() for c in cfgs]
    parents = list(dict.fromkeys(d.parent for d in dirs))
    if len(parents) > 1:
        where = ", ".join(f"{p} for job {[d.parent for d in dirs].index(p)}" for p in parents[:3])
        raise ConfigError(f"run.dir={base!r} names another folder for each job ({where}): under -m, "
                          f"run.dir is one folder for the whole sweep, each job running in "
                          f"<run.dir>/<job number> with its values in {MULTIRUN_FILE}; give run.dir "
                          f"without the swept keys", key="run.dir")
    for i, (cfg, run_dir) in enumerate(zip(cfgs, dirs)):
        last = ckpt.latest_checkpoint(run_dir / "checkpoints") if run_dir.is_dir() else None
        if last is None or cfg.run.resume not in ("auto", "never"):  # a checkpoint named: its own checks
            continue
        if cfg.run.resume == "never":
            raise ConfigError(f"-m job {i} of {n} ({labels[i]}): run.resume=never but {run_dir} already "
                              f"holds checkpoints; choose another run.dir for the sweep (nothing was run)",
                              key="run.dir")
        diff = _swept_differences(cfg, last, swept)
        if diff:
            raise ConfigError(f"-m job {i} of {n} ({labels[i]}): {run_dir} holds checkpoint {last} of "
                              f"another run ({'; '.join(diff)}), which this job would resume; use another "
                              f"run.dir for the sweep (nothing was run)", key="run.dir")
    return parents[0]


# run.* keys about the folder rather than the job: never compared with a job's checkpoint
_FOLDER_KEYS = ("run.dir", "run.resume")


def _swept_differences(cfg: Any, last: Path, swept: set[str]) -> list[str]:
    """``key: checkpoint X, this job Y`` for each swept key whose value in ``cfg`` differs from
    the one checkpoint ``last`` was trained with. Keys a resume may change (``RESUMABLE_KEYS``:
    train.steps, data.store, ...) count too: a sweep gives each job folder its own values, so a
    job resuming another job's run under other swept values (``train.steps=3,2`` after
    ``train.steps=2,3``) would extend, shorten or retrain it under a record that misnames it.
    ``data.store`` is compared as the folder it names (absolute), not as typed."""
    from omegaconf import OmegaConf

    from encoderkit.train import checkpoint as ckpt

    try:
        state = ckpt.read_state(last)
    except EncoderkitError:  # damaged: the resume skips it for an older one, with a warning
        return []
    saved = ckpt.flatten(state.get("config") or {})
    now = ckpt.flatten(OmegaConf.to_container(cfg, resolve=True))
    store = (state.get("inputs") or {}).get("store")
    if isinstance(store, str) and "data.store" in saved:
        saved["data.store"] = store  # absolute, as the run found it (``TrainerResume._read_inputs``)
    if isinstance(now.get("data.store"), str) and "://" not in now["data.store"]:
        now["data.store"] = os.path.abspath(os.path.expanduser(now["data.store"]))
    return [f"{k}: checkpoint {saved[k]!r}, this job {now[k]!r}" for k in sorted(set(saved) & set(now))
            if (k in swept or k.split(".", 1)[0] in swept) and k not in _FOLDER_KEYS
            and now[k] != "auto" and saved[k] != now[k]]


class _Record:
    """``multirun.yaml`` written atomically, and taken back (the previous record restored, or
    the file and the folders made for it removed, if empty) when a job of the sweep is refused."""

    def __init__(self, sweep_dir: Path, text: str) -> None:
        from encoderkit.outputs import write_text_atomic

        self.path = sweep_dir / MULTIRUN_FILE
        missing = [p for p in (sweep_dir, *sweep_dir.parents) if not p.exists()]
        self.created = missing[-1] if missing else None
        self.previous = self.path.read_text() if self.path.is_file() else None
        if self.previous != text:  # a sweep run again (its finished jobs left as they are): unchanged
            sweep_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.path, text)

    def take_back(self) -> None:
        from encoderkit.outputs import write_text_atomic

        if self.previous is not None:
            if self.path.read_text() != self.previous:
                write_text_atomic(self.path, self.previous)
            return
        self.path.unlink(missing_ok=True)
        if self.created is None:
            return
        folder = self.path.parent
        while True:  # the folders made for it, if nothing else is in them
            try:
                folder.rmdir()
            except OSError:
                return
            if folder == self.created:
                return
            folder = folder.parent


def multirun(argv: list[str], compose: Callable[[list[str]], Any], run_job: Callable[[list[str]], int],
             config_name: str = "config") -> int:
    """Run every job of the sweep ``argv`` (see the module doc) with ``run_job`` (its exit
    code; a ``ConfigError`` stops the sweep, any other error fails only its job); 1 if a job
    failed, else 0. ``compose`` is the command's composition (validating) of one job's words."""
    from omegaconf import OmegaConf

    from encoderkit.overrides import readable

    main = os.environ.get("RANK", "0") == "0"
    base = _sweep_base(argv, config_name)
    sweeps = expand_sweep([w for w in argv if w.lstrip("+").split("=", 1)[0] != "run.dir"], config_name)
    if base is None:
        base = str(Path("multirun") / time.strftime("%Y-%m-%d_%H-%M-%S"))
    jobs = [job + [_word("run.dir", f"{base}/{i}")] for i, job in enumerate(sweeps)]
    labels = [" ".join(w) or "the only job" for w in _varying(sweeps)]
    swept = {o.key_or_group for o in _parse(readable(argv), config_name) if o.is_sweep_override()}
    cfgs = _compose_all(jobs, labels, compose)
    n = len(jobs)
    try:  # a run.dir that cannot be a folder (a file's name, too long): one line, as without -m
        sweep_dir = _check_dirs(cfgs, labels, swept, base)
        body = {"sweep": list(argv), "dir": str(sweep_dir),
                "jobs": [{"dir": str(c.run.dir), "overrides": job} for c, job in zip(cfgs, jobs)]}
        record = _Record(sweep_dir, OmegaConf.to_yaml(body)) if main else None
    except OSError as e:
        from encoderkit.train.run_dir import run_dir_error

        raise run_dir_error(Path(base), e) from None
    failed = 0
    for i, job in enumerate(jobs):
        if main:
            print(f"[multirun] job {i} of {n}: {' '.join(job)}", file=sys.stderr, flush=True)
        try:
            with sweep_jobs():  # composed again by the job: the shared words said as in _compose_all
                failed += int(run_job(job) != 0)
        except ConfigError as e:  # a check the composition could not make (the store, the model's size)
            # multirun.yaml as it was before the sweep (absent if it was): a stopped sweep's record
            # would list values its job folders do not hold
            if record is not None:
                record.take_back()
            raise _of_job(e, i, n, labels[i], f"the sweep stopped after job {i - 1}, and {MULTIRUN_FILE} "
                          f"is as it was" if i else "nothing was run") from None
        except Exception as e:  # one failed job does not stop the sweep
            what = str(e) if isinstance(e, EncoderkitError) else f"{type(e).__name__}: {e}"
            print(f"[multirun] job {i} failed: {what}", file=sys.stderr, flush=True)
            failed += 1
    if main:
        print(f"[multirun] {n - failed} of {n} job{'s' if n != 1 else ''} done in {sweep_dir} "
              f"({MULTIRUN_FILE} lists them)", file=sys.stderr, flush=True)
    return 1 if failed else 0


def _pretrain_job(job: list[str]) -> int:
    from encoderkit.train import pretrain

    run_dir = pretrain(job)
    if os.environ.get("RANK", "0") == "0":
        print(f"run directory: {run_dir}")
    return 0


def run(command: str, argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(help_text())
        return 0
    from encoderkit.train.trainer import NonFiniteLossError  # torch: not for --help

    many = any(a in ("-m", "--multirun") for a in argv)
    argv = [a for a in argv if a not in ("-m", "--multirun")]
    bad = [a for a in argv if a.startswith("-")]
    if bad:
        raise ConfigError(f"unknown option {bad[0]!r} (options: --help, -m)")
    # user errors (ConfigError, DataError, ...) are reported by encoderkit.cli.main
    try:
        if many:
            from encoderkit.train.config import compose

            return multirun(argv, compose, _pretrain_job)
        return _pretrain_job(argv)
    except NonFiniteLossError as e:
        from encoderkit.cliutil import say

        say(f"encoderkit pretrain: stopped: {e}")  # on a line of its own, a bar cleared first
        return 1
