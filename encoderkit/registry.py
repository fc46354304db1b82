"""Finds domains through the ``encoderkit.domains`` entry points.

Nothing in ``encoderkit`` imports a domain by name; ``train`` and ``infer`` reach
domains only through here. Tests and notebooks may add a domain in-process with
``register_domain``.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Mapping

from encoderkit.errors import UsageError

if TYPE_CHECKING:  # `available_domains` (ingest --help) imports no domain code
    from encoderkit.domain import Domain

GROUP = "encoderkit.domains"
_local: dict[str, type[Domain]] = {}


class UnknownDomainError(UsageError, KeyError):
    """``domain=`` names no registered domain (a ``KeyError`` for older callers)."""


def register_domain(cls: type[Domain]) -> type[Domain]:
    """Register a domain class in this process (usable as a decorator). It must subclass
    ``Domain``, as an entry point's must (``get_domain``): the core calls the base class's
    methods (``mask``, ``windows``, ``describe``, ...) and its defaults of the optional ones."""
    from encoderkit.domain import Domain

    if not (isinstance(cls, type) and issubclass(cls, Domain)):
        raise TypeError(f"register_domain({getattr(cls, '__qualname__', cls)!r}): a domain must be a "
                        f"subclass of encoderkit.domain.Domain")
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} must set a non-empty class attribute `name`")
    _local[cls.name] = cls
    return cls


def available_domains() -> list[str]:
    return sorted(set(_local) | {ep.name for ep in entry_points(group=GROUP)})


def get_domain(name: str) -> type[Domain]:
    if name in _local:
        return _local[name]
    from encoderkit.domain import Domain

    for ep in entry_points(group=GROUP):
        if ep.name == name:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Domain)):
                raise TypeError(f"entry point {GROUP}:{name} -> {ep.value} is not a Domain subclass")
            return cls
    raise UnknownDomainError(f"unknown domain {name!r}; registered domains: {available_domains()} "
                   f"(a domain registers under the entry-point group {GROUP!r})")


def saved_options(description: Mapping[str, Any]) -> dict[str, Any]:
    """The options of a saved ``Domain.describe()``, with ``saved_run_defaults`` for the
    options that the saving version did not have yet."""
    cls = get_domain(description["name"])
    return {**cls.saved_run_defaults, **dict(description.get("options") or {})}


def build_domain(description: Mapping[str, Any]) -> Domain:
    """Rebuild a domain from ``Domain.describe()`` output (name, schema, options)."""
    cls = get_domain(description["name"])
    return cls(description.get("schema", {}), **saved_options(description))
