"""``EncoderImputer.transform(return_std=True)`` of a column at any scale: near 1e300 the
held-back error's square overflowed (``OverflowError``, a traceback) and the models' spread
was inf; near 1e-300 both squares underflowed and the figure was 0, a fill claimed exact.
Reference: the same data at scale 1 (fill and figure scale with the column)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from encoderkit.sklearn import EncoderImputer


def _fit(scale: float) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(5)
    x = rng.normal(size=80)
    holes = rng.random(80) < 0.2
    v = scale * (x + rng.normal(0, 0.3, 80))
    frame = pd.DataFrame({"v": np.where(holes, np.nan, v), "x": x, "x2": 2 * x + rng.normal(0, 0.01, 80)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = EncoderImputer(random_state=0, model="tiny", steps=3, n_models=2).fit(frame)
        fill, std = imp.transform(frame, return_std=True)
    return fill, std, holes


@pytest.mark.slow
@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_return_std_scales_with_the_column(scale):
    ref_fill, ref_std, holes = _fit(1.0)
    fill, std, _ = _fit(scale)
    np.testing.assert_allclose(fill["v"].to_numpy()[holes] / scale, ref_fill["v"].to_numpy()[holes], rtol=1e-6)
    got = std["v"].to_numpy()[holes] / scale
    assert np.isfinite(got).all() and (got > 0).all()
    np.testing.assert_allclose(got, ref_std["v"].to_numpy()[holes], rtol=1e-6)
