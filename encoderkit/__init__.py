"""encoderkit: ModernBERT-style bidirectional encoders for non-text data.

The public names are imported on first use (PEP 562 ``__getattr__``): ``PackedBatch`` and
the domain types need torch, and importing the package must not (``encoderkit --help`` and
``--version`` went through torch's ~0.75 s import, 4 s on a loaded machine).
``from encoderkit import PackedBatch, Domain, load`` works as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from encoderkit.lazy_exports import lazy_exports

__version__ = "0.1.0"  # the one place it is written: pyproject.toml reads it ([tool.setuptools.dynamic])

# public name -> the module that defines it
_LAZY: dict[str, str] = {
    "PackedBatch": "encoderkit.batch",
    "Domain": "encoderkit.domain",
    "Example": "encoderkit.domain",
    "HeadOutput": "encoderkit.domain",
    "MaskedExample": "encoderkit.domain",
}
# submodules the package imported eagerly before: `import encoderkit; encoderkit.batch.X` keeps working
_SUBMODULES = frozenset({"batch", "domain"})

if TYPE_CHECKING:  # what type checkers and IDEs see
    from encoderkit.batch import PackedBatch
    from encoderkit.domain import Domain, Example, HeadOutput, MaskedExample


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, _SUBMODULES)


def load(path, device="cpu"):
    """Load a trained run directory or checkpoint directory (see ``encoderkit.infer``)."""
    from encoderkit.infer import load as _load

    return _load(path, device=device)


__all__ = ["PackedBatch", "Domain", "Example", "MaskedExample", "HeadOutput", "load", "__version__"]
