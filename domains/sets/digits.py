"""scikit-learn's bundled digits (1797 8x8 images) as 2-D point sets.

Each image becomes one set: every pixel with intensity > 0 is an element, its
(column, row) are the coordinates and its intensity (1..16) the one feature. Used
by ``sample_sources``, the tests and ``examples/sets_digits.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def load_digit_sets(limit: int | None = None) -> tuple[list[dict], np.ndarray]:
    """(sets as dicts with 'name', 'coords' [n, 2], 'features' [n, 1]; labels [N])."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits.images, digits.target
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    sets = []
    for i, image in enumerate(images):
        rows, cols = np.nonzero(image > 0)
        sets.append({"name": f"digit{i:04d}",
                     "coords": np.stack([cols, rows], axis=1).astype(np.float64),
                     "features": image[rows, cols][:, None].astype(np.float64)})
    return sets, np.asarray(labels)


def digit_frame(sets: list[dict]) -> pd.DataFrame:
    """Long format: one row per element (set, x, y, intensity)."""
    parts = [pd.DataFrame({"set": s["name"], "x": s["coords"][:, 0], "y": s["coords"][:, 1],
                           "intensity": s["features"][:, 0]}) for s in sets]
    return pd.concat(parts, ignore_index=True)


CSV_OPTIONS = {"set_column": "set", "id_column": None, "coord_columns": ["x", "y"],
               "feature_columns": ["intensity"]}
