"""A package's public names imported on first use (PEP 562 module ``__getattr__``).

The packages whose modules need torch (``encoderkit``, ``encoderkit.infer``, ``.train``,
``.interop``) keep their import paths (``from encoderkit.infer import load``) while
``encoderkit <command> --help``, which imports them, does not load torch.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Collection, Mapping


def lazy_exports(package: str, names: Mapping[str, str], submodules: Collection[str] = ()
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``: each of ``names`` (public name ->
    the module that defines it) and each of ``submodules`` (those the package imported
    eagerly before, so ``package.sub.X`` keeps working) is imported when first looked up,
    then kept in the package's namespace so later lookups do not come back here."""

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
        elif name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        vars(sys.modules[package])[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
