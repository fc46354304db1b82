"""Hugging Face ModernBERT weights in and out (``encoderkit.interop.hf``).

The public names are imported on first use (PEP 562 ``__getattr__``): ``interop.hf``
needs torch, and ``encoderkit export-hf --help`` (which imports ``encoderkit.interop.cli``,
so this package) must not. ``from encoderkit.interop import export_hf`` works as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> the module that defines it
_LAZY: dict[str, str] = {name: "encoderkit.interop.hf" for name in ("export_hf", "init_from_hf", "config_from_hf")}
# the submodule the package imported eagerly before: `import encoderkit.interop; encoderkit.interop.hf.X`
_SUBMODULES = frozenset({"hf"})

if TYPE_CHECKING:  # what type checkers and IDEs see
    from encoderkit.interop.hf import config_from_hf, export_hf, init_from_hf


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # imported once: later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["export_hf", "init_from_hf", "config_from_hf"]
