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
            try:
                cls = ep.load()
            except (ImportError, AttributeError) as e:
                if shadowed := shadowing_domains(ep.value):
                    raise UsageError(shadowed) from e
                raise
            if not (isinstance(cls, type) and issubclass(cls, Domain)):
                if shadowed := shadowing_domains(ep.value):  # the user's domains/tabular.py, say
                    raise UsageError(shadowed)
                raise TypeError(f"entry point {GROUP}:{name} -> {ep.value} is not a Domain subclass")
            return cls
    raise UnknownDomainError(f"unknown domain {name!r}; registered domains: {available_domains()} "
                   f"(a domain registers under the entry-point group {GROUP!r})")


def shadowing_domains(module: str = "domains") -> str | None:
    """What to tell a user whose own top-level ``domains`` package (or ``domains.py``) hides
    encoderkit's built-in one (``module`` is under ``domains``), or None. The current folder
    and PYTHONPATH come before the installed packages on ``sys.path``, so a project's own
    ``domains/__init__.py`` is found first, and importing ``domains.tabular`` then failed
    with "No module named 'domains.tabular'", reported as a bug in encoderkit. Asked only
    once loading a built-in domain failed: an editable install's finder still maps
    ``domains.tabular`` to the source tree, which works. The built-in package sits beside
    ``encoderkit`` (a wheel's site-packages, or the source tree of an editable install)."""
    if module.split(":")[0].split(".")[0] != "domains":
        return None
    import importlib.util
    from pathlib import Path

    import encoderkit

    builtin = Path(encoderkit.__file__).resolve().parent.parent / "domains"
    try:
        spec = importlib.util.find_spec("domains")
    except (ImportError, ValueError):  # a broken `domains` in sys.modules: the import says why
        return None
    if spec is None or not (builtin / "__init__.py").is_file():
        return None  # none found at all, or an install laid out otherwise: nothing to compare
    places = [Path(p).resolve() for p in spec.submodule_search_locations or []]
    if builtin in places:
        return None
    found = places[0] if places else spec.origin
    return (f"another package named `domains` ({found}) hides encoderkit's built-in domains "
            f"({builtin}): it comes first on sys.path (the current folder or PYTHONPATH); rename "
            "that package, or run from another folder")


def saved_options(description: Mapping[str, Any]) -> dict[str, Any]:
    """The options of a saved ``Domain.describe()``, with ``saved_run_defaults`` for the
    options that the saving version did not have yet."""
    cls = get_domain(description["name"])
    return {**cls.saved_run_defaults, **dict(description.get("options") or {})}


def build_domain(description: Mapping[str, Any]) -> Domain:
    """Rebuild a domain from ``Domain.describe()`` output (name, schema, options)."""
    cls = get_domain(description["name"])
    return cls(description.get("schema", {}), **saved_options(description))
