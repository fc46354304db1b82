"""A sets domain's feature fills as values the feature could hold (``infill``'s fill is final).

The table and series domains bound their numeric fills by ``encoderkit.plausible_fills``'s
rule; a set's features were written as the model made them: a feature every set holds at one
value (a constant 2.0: the model reads it as 0 and its scale is its magnitude, ``ingest.
feature_moments``) came back 1.74 .. 2.32 after a short training, and float32 noise off an
observed value was not that value. Here, per feature and decided from the sets being filled
(their observed values are the evidence, as in ``impute``; the store keeps no feature range):

- a feature the training sets held at one value ``c`` (its mean ``c`` and scale ``|c|``, or 1
  for 0) and observed only as ``c`` in the sets being filled is filled with ``c``;
- otherwise the rule of ``plausible_fills``: at least 0 where every observed value is, within
  [0, 1] where every one is (at least ``MIN_EVIDENCE`` of them), float32 noise snapped.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from encoderkit.plausible_fills import column_range, plausible_values


def constant_value(seen: np.ndarray, mean: float, scale: float) -> float | None:
    """``c`` where the training statistics say the feature was constant ``c`` (its scale the
    constant's magnitude, 1 for 0: ``ingest.feature_moments``) and every one of ``seen`` (at
    least one) is ``c``; else None. Both sides must agree: a 0/1 feature at 50% has mean and
    scale 0.5 too, but no set of it is observed all at 0.5."""
    if seen.size == 0 or not np.all(seen == mean):
        return None
    return float(mean) if scale == (abs(mean) if mean != 0 else 1.0) else None


def plausible_features(raws: Sequence[Any], filled: Sequence[dict[str, np.ndarray]],
                       mean: np.ndarray, scale: np.ndarray) -> None:
    """In place: the fills of ``filled[i]["features"]`` (the cells NaN in ``raws[i].features``,
    ``[n, F]``) under the module doc's rule, per feature, decided from every set's observed
    values together."""
    parts = [(raw.features, rec) for raw, rec in zip(raws, filled) if len(raw) and "features" in rec]
    if not parts or not mean.size:
        return
    given = np.concatenate([np.asarray(f, dtype=np.float64).reshape(-1, mean.size) for f, _ in parts])
    for j in range(mean.size):
        seen = given[:, j][~np.isnan(given[:, j])]
        const = constant_value(seen, float(mean[j]), float(scale[j]))
        bounds = None if const is not None else column_range(seen)
        for features, rec in parts:
            miss = np.isnan(np.asarray(features, dtype=np.float64)[:, j])
            if not miss.any():
                continue
            out = rec["features"]
            vals = np.full(int(miss.sum()), const) if const is not None else \
                plausible_values(out[miss, j].astype(np.float64), bounds)
            out[miss, j] = vals.astype(out.dtype)
