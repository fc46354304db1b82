"""Options that cannot take effect in a run are said, never silently ignored.

The rule, the same for every domain. A value the user set (typed on the command line, or
given to ``ingest``) that cannot take effect in this run is a usage error (exit 2) naming
the option and why it does not apply: ``domain.mask_rate=0.9`` with ``domain.masker=column``
trained exactly as 0.3 did, ``domain.jitter`` moved no coordinate of sets that have none,
``time_column=t`` was recorded in the schema of a store read from ``.npy`` arrays. Each
was a run or a store that looked configured and was not; refusing before anything runs
costs one retyped word. A value that comes from the user's own config file (a
``hydra.searchpath`` domain or experiment yaml) is one warning line instead: such a file
is shared between stores (one with coordinates, one without), and refusing it there would
break that documented workflow. Defaults never trigger either: a value equal to the
domain's default (its ``configs/domain/<name>.yaml``, the model preset's) changes nothing,
and values a run takes over from its checkpoint were checked when that run was made.

What "can take effect" means is declared, not coded per option: each domain lists, in a
small table (``domains/<name>/option_scope.py``, the class attribute ``option_scope``),
the options that need something (a masker chosen, token positions, another option's
value, an input file kind) as ``Scope`` rows of the conditions below. The encoder's own
position options (``model.local_window``, ``model.rope_theta_*``) are declared here, for
every domain: a domain without positions (rope_axes 0) runs every layer global and
rotates nothing. They are warned of even when typed: a model description is written once
for runs on different data (the shipped ``model=impute`` window is read by series, not by
tables; scripts and the test suite keep one list of ``model.*`` words for every domain),
the same workflow as a config file shared between stores.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from encoderkit.errors import UsageError
from encoderkit.session_state import warnings_kept


class Run:
    """What a composed config says about the run, computed only when a condition asks.

    ``config``: the composed config as plain containers (``domain``, ``model``, ``data``);
    ``domain_cls``: the registered class, for the token positions (built on the store's
    schema, as the trainer builds it; None where no store can be read yet)."""

    def __init__(self, config: Mapping[str, Any], domain_cls: Any = None) -> None:
        self.config = config
        self.domain: Mapping[str, Any] = config.get("domain") or {}
        self.model: Mapping[str, Any] = config.get("model") or {}
        self.domain_cls = domain_cls
        self._axes: Any = ...  # not computed yet

    def select(self, key: str) -> Any:
        node: Any = self.config
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        return node

    def maskers(self) -> set[str]:
        """The maskers that mask some records: a name, or a mixture's names of weight > 0."""
        m = self.domain.get("masker")
        if isinstance(m, Mapping):
            return {str(k) for k, w in m.items() if not isinstance(w, (int, float)) or w > 0}
        return {str(m)} if m is not None else set()

    def rope_axes(self) -> int | None:
        """The rotary axes of the run (``model.rope_axes``, else the domain's on this store),
        None where they cannot be known before the run (no readable store: said there)."""
        if self._axes is ...:
            self._axes = self._find_axes()
        return self._axes

    def _find_axes(self) -> int | None:
        given = self.model.get("rope_axes")
        if isinstance(given, int) and not isinstance(given, bool):
            return given
        if self.domain_cls is None:
            return None
        store = self.select("data.store")
        options = {k: v for k, v in self.domain.items() if k != "name"}
        try:
            from encoderkit.data.store import RecordStore

            schema = RecordStore(str(store)).schema
            with warnings_kept():  # the trainer says them when it builds the domain
                warnings.simplefilter("ignore")
                return int(self.domain_cls(schema, **options).rope_axes)
        except Exception:  # a missing store, a bad option: the trainer names them, not this check
            return None


class Needs(Protocol):
    def problem(self, run: Run, value: Any) -> str | None:
        """Why an option of ``value`` cannot take effect in ``run``, or None."""


@dataclass(frozen=True)
class Masker:
    """Read only by these maskers (``domain.masker``, one or a mixture)."""

    names: tuple[str, ...]

    def problem(self, run: Run, value: Any) -> str | None:
        if run.maskers() & set(self.names) or not run.maskers():
            return None
        which = " or ".join(self.names)
        masker = run.domain.get("masker")
        mixed = {**(dict(masker) if isinstance(masker, Mapping) else {str(masker): 0.5}), self.names[0]: 0.5}
        return (f"only the {which} masker reads it, and domain.masker={_shown(masker)} does not choose it "
                f"(a mixture such as domain.masker={_shown(mixed)} does)")


@dataclass(frozen=True)
class OptionIs:
    """Read only when another domain option has one of these values."""

    key: str
    values: tuple[Any, ...]

    def problem(self, run: Run, value: Any) -> str | None:
        got = run.domain.get(self.key)
        if got is None or got in self.values:
            return None
        return (f"it is read only with domain.{self.key}={'|'.join(map(_shown, self.values))}, "
                f"and this run has domain.{self.key}={_shown(got)}")


@dataclass(frozen=True)
class Positions:
    """Read only when tokens have rotary positions (rope_axes > 0)."""

    def problem(self, run: Run, value: Any) -> str | None:
        if run.rope_axes() != 0:
            return None
        return "this run's tokens have no positions (rope_axes 0" + _no_positions(run) + ")"


@dataclass(frozen=True)
class LocalLayers:
    """Read only when some layer is local: tokens with positions, or ``model.global_every`` > 1
    set by hand (rope_axes 0 runs every layer global)."""

    def problem(self, run: Run, value: Any) -> str | None:
        every = run.model.get("global_every")
        if run.rope_axes() != 0 or (isinstance(every, int) and every > 1):
            return None
        return ("every layer is global when tokens have no positions (rope_axes 0"
                + _no_positions(run) + "), so no layer has a window")


@dataclass(frozen=True)
class AtMost:
    """A size that another key caps (``domain.window`` by ``data.max_seqlen``)."""

    limit: str

    def problem(self, run: Run, value: Any) -> str | None:
        cap = run.select(self.limit)
        if not _number(value) or not _number(cap) or value <= cap:
            return None
        return f"{self.limit}={cap} caps it (the run would use {cap}); raise {self.limit} to {value} for it"


@dataclass(frozen=True)
class IngestOnly:
    """Read when files are ingested: a run reads the store as its ingest wrote it."""

    def problem(self, run: Run, value: Any) -> str | None:
        return ("it is an ingest option, and the store holds what its ingest read with its own values; "
                "to read the files another way, give it to encoderkit ingest (a new store)")


@dataclass(frozen=True)
class Scope:
    """Where one option (``domain.<key>`` or ``model.<key>``) can take effect: every need holds.
    ``shared``: a setting written once for runs on different data (the encoder's shape), only
    warned of, even when typed."""

    key: str
    needs: tuple[Needs, ...]
    shared: bool = False


@dataclass(frozen=True)
class OptionScope:
    """A domain's declaration (its class attribute ``option_scope``).

    ``run``: its options that need something in a run. ``ingest``: ingest option -> the input
    kinds that read it, and ``ingest_defaults`` the value that means "not set". ``input_kind``:
    ``(path, options) -> kind`` of one input file, as the domain's ingest picks its reader.
    ``no_positions``: how its runs come to have no positions, said with the position options."""

    run: tuple[Scope, ...] = ()
    ingest: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    ingest_defaults: Mapping[str, Any] = field(default_factory=dict)
    input_kind: Callable[[str, Mapping[str, Any]], str] | None = None
    no_positions: str = ""


# The encoder's own options that positions decide, for every domain. Shared: one model
# description serves runs on different data (the shipped model=impute sets a window that series
# read and tables do not; scripts keep one list of model.* words for every domain), as a config
# file serves different stores, so these are warned of, not refused.
MODEL_SCOPES = (Scope("model.local_window", (LocalLayers(),), shared=True),
                Scope("model.rope_theta_global", (Positions(),), shared=True),
                Scope("model.rope_theta_local", (Positions(),), shared=True),
                Scope("model.rope_split", (Positions(),), shared=True))


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{_shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_shown(v) for v in value) + "]"
    return str(value)


def _no_positions(run: Run) -> str:
    scope = getattr(run.domain_cls, "option_scope", None)
    note = getattr(scope, "no_positions", "")
    return f": {note}" if note else ""


def scopes_of(domain_cls: Any) -> tuple[Scope, ...]:
    """The domain's declared run scopes and the encoder's position options."""
    scope = getattr(domain_cls, "option_scope", None)
    return tuple(getattr(scope, "run", ()) or ()) + MODEL_SCOPES


def run_problems(config: Mapping[str, Any], domain_cls: Any, keys: Iterable[str]) -> dict[str, tuple[str, Scope]]:
    """``key -> ("key=value has no effect ...: why", its scope)`` for each of ``keys``
    (``domain.x`` / ``model.x`` whose value is not the default) that cannot take effect in the
    run ``config`` describes."""
    run = Run(config, domain_cls)
    wanted = set(keys)
    out: dict[str, tuple[str, Scope]] = {}
    for scope in scopes_of(domain_cls):
        if scope.key not in wanted:
            continue
        value = run.select(scope.key)
        for need in scope.needs:
            why = need.problem(run, value)
            if why:
                out[scope.key] = (f"{scope.key}={_shown(value)} has no effect in this run: {why}", scope)
                break
    return out


def check_run(config: Mapping[str, Any], domain_cls: Any, typed: Iterable[str],
              from_files: Mapping[str, str] | None = None) -> None:
    """The rule for a composed run config: a ``UsageError`` for the first typed key that
    cannot take effect, one warning for each such key a user's config file set.

    ``typed``: keys the command's words set to a value other than the default; ``from_files``:
    key -> the user's file that set it (not typed)."""
    typed, from_files = list(typed), dict(from_files or {})
    problems = run_problems(config, domain_cls, [*typed, *from_files])
    for key in typed:
        if key in problems and not problems[key][1].shared:
            raise UsageError(problems[key][0], key=key)
    for key in [*typed, *from_files]:
        if key in problems:
            where = f" (set in {from_files[key]})" if key in from_files else ""
            warnings.warn(problems[key][0] + where, UserWarning, stacklevel=4)


def check_ingest(domain_cls: Any, sources: Sequence[str], options: Mapping[str, Any]) -> None:
    """``ingest``: a ``UsageError`` for an option, set to another value than its default,
    that no input file's kind reads (``delimiter`` for Parquet, ``time_column`` for ``.npy``):
    it was recorded in the store's schema as if the data had been read by it."""
    scope = getattr(domain_cls, "option_scope", None)
    if scope is None or scope.input_kind is None or not sources:
        return
    kinds: dict[str, str] | None = None
    for key, readers in scope.ingest.items():
        if key not in options or options[key] == scope.ingest_defaults.get(key):
            continue
        if kinds is None:
            kinds = {path: scope.input_kind(path, options) for path in sources}
        if not set(kinds.values()) & set(readers):
            shown = ", ".join(sorted(set(kinds.values())))
            raise UsageError(f"{key}={_shown(options[key])} has no effect on these inputs: only "
                             f"{' / '.join(readers)} files are read with it, and the input is {shown} "
                             f"({next(iter(kinds))}); leave it out", key=key)
