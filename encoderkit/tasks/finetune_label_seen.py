"""``finetune task.label_column=<column>`` from a checkpoint that was trained with that column
among its inputs: one warning, saying what it means.

Masked-LM pretraining on a table fills each hidden cell from the row's others, so on a store that
holds the label column it learns each row's label, validation and test rows included: pretrained
on a table with coin-flip labels, infill of the hidden label cell recalled 0.997 (train), 1.000
(val) and 1.000 (test) of them (session 48 audit). Fine-tuning removes the column from the inputs
(``drop_columns``), and no leak through it was measured (test accuracy 0.42 on those noise
labels), but that checkpoint's infill / impute of the column is recall, not prediction, and an
encoder meant to have never seen the labels must be pretrained without the column
(``domain.drop_columns=[<column>]``).

Domain-free: the checkpoint's domain says which columns it read (``input_columns()``, the
``Domain`` contract: None for a domain without named columns).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from encoderkit.overrides import option_word


def label_column_seen(cfg: Any) -> str | None:
    """The warning for a fine-tuning config whose ``task.label_column`` is among the input
    columns of its ``checkpoint``'s domain (the columns it was trained with), else None."""
    column = OmegaConf.select(cfg, "task.label_column", default=None)
    source = str(OmegaConf.select(cfg, "checkpoint", default="none") or "none")
    if not column or source.lower() in ("none", "null"):
        return None
    columns = _trained_columns(Path(source))
    if columns is None or str(column) not in columns:
        return None
    return (f"task.label_column={column!r} is a column checkpoint {source} was trained with among its "
            f"inputs: masked-LM pretraining fills each cell from the row's others, so it can memorise "
            f"every stored row's {column!r} (validation and test rows too), and its infill / impute of "
            f"{column!r} is recall, not prediction; fine-tuning drops the column from the inputs, but for "
            f"an encoder that never saw the labels pretrain with "
            f"{option_word('domain.drop_columns', [str(column)])}")


def warn_label_column_seen(cfg: Any) -> None:
    """``label_column_seen``'s warning, said by the main process (every torchrun rank composes
    the same config)."""
    said = label_column_seen(cfg)
    if said and os.environ.get("RANK", "0") == "0":
        warnings.warn(said, UserWarning, stacklevel=3)


def _trained_columns(checkpoint: Path) -> list[str] | None:
    """The input columns of the checkpoint's domain (``state.json``'s description, rebuilt),
    None where the domain has no named columns or the description cannot be read (the trainer
    reports a checkpoint it cannot use)."""
    from encoderkit.errors import EncoderkitError
    from encoderkit.registry import build_domain

    try:
        description = json.loads((checkpoint / "state.json").read_text())["domain"]
        domain = build_domain(description)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, EncoderkitError):
        return None
    named = domain.input_columns()
    return None if named is None else list(named)
