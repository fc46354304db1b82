"""Hugging Face ModernBERT weights in and out (``encoderkit.interop.hf``).

The public names are imported on first use (PEP 562 ``__getattr__``): ``interop.hf``
needs torch, and ``encoderkit export-hf --help`` (which imports ``encoderkit.interop.cli``,
so this package) must not. ``from encoderkit.interop import export_hf`` works as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from encoderkit.lazy_exports import lazy_exports

# public name -> the module that defines it
_LAZY: dict[str, str] = {name: "encoderkit.interop.hf" for name in ("export_hf", "init_from_hf", "config_from_hf")}
# the submodule the package imported eagerly before: `import encoderkit.interop; encoderkit.interop.hf.X`
_SUBMODULES = frozenset({"hf"})

if TYPE_CHECKING:  # what type checkers and IDEs see
    from encoderkit.interop.hf import config_from_hf, export_hf, init_from_hf


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, _SUBMODULES)


__all__ = ["export_hf", "init_from_hf", "config_from_hf"]
