"""encoderkit: ModernBERT-style bidirectional encoders for non-text data."""

from encoderkit.batch import PackedBatch
from encoderkit.domain import Domain, Example, HeadOutput, MaskedExample

__version__ = "0.1.0"


def load(path, device="cpu"):
    """Load a trained run directory or checkpoint directory (see ``encoderkit.infer``)."""
    from encoderkit.infer import load as _load

    return _load(path, device=device)


__all__ = ["PackedBatch", "Domain", "Example", "MaskedExample", "HeadOutput", "load", "__version__"]
