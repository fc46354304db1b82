"""Inference on a trained run: ``load`` -> ``Pretrained`` with ``embed``, ``infill``,
``predict``; linear probes of embeddings (``encoderkit.infer.probe``).

``load`` and ``Pretrained`` are imported on first use (PEP 562 ``__getattr__``): they need
torch, and ``encoderkit embed --help`` (which imports ``encoderkit.infer.cli``, so this
package) must not. ``from encoderkit.infer import load, Pretrained`` works as before.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from encoderkit.lazy_exports import lazy_exports

# public name -> the module that defines it
_LAZY: dict[str, str] = {"load": "encoderkit.infer.load", "Pretrained": "encoderkit.infer.pretrained"}
# submodules the package imported eagerly before: `import encoderkit.infer; encoderkit.infer.embed.X`
_SUBMODULES = frozenset({"embed", "pretrained", "run_files", "weights_fit"})

if TYPE_CHECKING:  # what type checkers and IDEs see
    from encoderkit.infer.load import load
    from encoderkit.infer.pretrained import Pretrained


class _Package(types.ModuleType):
    """The submodule ``load`` and the function ``load`` share a name. The import system
    binds a submodule to its package's attribute once it is loaded (``from
    encoderkit.infer.load import resolve_checkpoint`` does), which would make ``from
    encoderkit.infer import load`` give the module; the function is bound instead."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "load" and isinstance(value, types.ModuleType) and value.__name__ == _LAZY["load"]:
            value = value.load
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, _SUBMODULES)


__all__ = ["load", "Pretrained"]
