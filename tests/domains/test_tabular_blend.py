"""``infill_blend: iterative``: numeric cells are the mean of the encoder's value and
scikit-learn's IterativeImputer estimate; categorical cells and observed cells untouched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from domains.tabular import TabularDomain


def const_predict(examples):
    """A stand-in model: value 0 (the column mean, normalised) and category 1."""
    out = []
    for m in examples:
        n = int(m.predict.sum())
        cat = np.zeros((n, 64))
        cat[:, 1:] = -np.arange(63)  # first category of every column most probable
        out.append({"cat_logits": cat, "bin_logits": np.zeros((n, 64)), "value": np.zeros(n)})
    return out


def test_blend_is_the_mean_of_the_encoder_and_an_exact_linear_imputer():
    rng = np.random.default_rng(0)
    n = 200
    x = rng.normal(10.0, 2.0, size=n)
    frame = pd.DataFrame({"x": x, "y": 3.0 * x - 4.0, "z": -x + 0.5,
                          "k": np.array(["a", "b"])[rng.integers(0, 2, n)]})
    holed = frame.copy()
    holed.loc[[3, 50, 120], "y"] = np.nan
    holed.loc[[7, 60], "k"] = None
    dom = TabularDomain.from_frame(holed, ingest_options={"validation_fraction": 0.0},
                                   numeric_decode="regression")
    alone = dom.infill(holed, const_predict)
    dom.options["infill_blend"] = "iterative"
    blended = dom.infill(holed, const_predict)
    rows = [3, 50, 120]
    mean_y = holed["y"].mean()  # the stand-in model's value (z = 0) in units
    np.testing.assert_allclose(alone.loc[rows, "y"], mean_y, rtol=1e-6)
    # y is an exact linear function of x and z: the iterative imputer recovers it
    np.testing.assert_allclose(blended.loc[rows, "y"], 0.5 * (mean_y + frame.loc[rows, "y"]),
                               rtol=1e-3)
    pd.testing.assert_series_equal(blended["k"], alone["k"])  # categories are not blended
    ok = holed.notna()
    for c in frame.columns:
        pd.testing.assert_series_equal(blended[c][ok[c]], holed[c][ok[c]])


def test_blend_option_is_validated():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ValueError, match="'infill_blend'.*iterative.*Got 'mice'"):
        TabularDomain.from_frame(frame, infill_blend="mice")
