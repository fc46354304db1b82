"""The folders a command's ``hydra.searchpath=[...]`` adds to the config tree.

Hydra reads a group option (``model=mymodel``) from those folders itself, but encoderkit
decides what ``domain=<name>`` means before Hydra composes (a registered plug-in needs no
yaml: ``domain=<name>`` becomes ``domain.name=<name>``), so it has to know the folders too:
``<folder>/domain/<name>.yaml`` is then a domain option like ``configs/domain/<name>.yaml``.

Entries are read as Hydra reads them: ``file://<path>`` or a bare ``<path>`` is a folder
(a relative one under the working directory), ``pkg://<package>[/<sub>]`` a package's
resources; any other scheme holds no yaml folder encoderkit can look into.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Sequence

KEY = "hydra.searchpath"


def search_entries(overrides: Sequence[str]) -> list[str]:
    """The entries of the last ``hydra.searchpath=`` among ``overrides`` (Hydra words), in
    order; empty without one, or where Hydra's grammar cannot read it (Hydra says why)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    words = [o for o in overrides if o.lstrip("+").split("=", 1)[0] == KEY]
    if not words:
        return []
    try:
        value = OverridesParser.create().parse_overrides([words[-1]])[0].value()
    except Exception:  # the grammar's errors, whatever their type: Hydra reports them
        return []
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items if isinstance(v, (str, int, float)) and str(v)]


def _folder(entry: str) -> Any | None:
    """A readable folder (``Path`` or importlib ``Traversable``) for one entry, or None."""
    scheme, sep, rest = entry.partition("://")
    if not sep:
        return Path(entry)
    if scheme == "file":
        return Path(rest)
    if scheme == "pkg":  # as Hydra's importlib source: pkg://a/b is the package a.b
        try:
            return resources.files(rest.replace("/", ".").rstrip("."))
        except (ImportError, TypeError, ValueError):  # Hydra reports an unusable package itself
            return None
    return None


def search_folders(overrides: Sequence[str]) -> list[Any]:
    """The folders of the command's ``hydra.searchpath``, in its order."""
    return [f for f in (_folder(e) for e in search_entries(overrides)) if f is not None]


def group_option_in(folders: Sequence[Any], group: str, name: str) -> bool:
    """Whether ``<folder>/<group>/<name>.yaml`` is a file in one of ``folders``."""
    for folder in folders:
        try:
            if folder.joinpath(group, f"{name}.yaml").is_file():
                return True
        except OSError:  # an unreadable folder holds nothing usable
            continue
    return False


def group_options_in(folders: Sequence[Any], group: str) -> list[str]:
    """The ``<group>/*.yaml`` option names of ``folders`` (for an error's list of choices)."""
    found: set[str] = set()
    for folder in folders:
        try:
            sub = folder.joinpath(group)
            if sub.is_dir():
                found.update(p.name[:-5] for p in sub.iterdir() if p.name.endswith(".yaml") and p.is_file())
        except OSError:
            continue
    return sorted(found)
