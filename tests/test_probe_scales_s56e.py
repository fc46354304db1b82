"""``encoderkit probe`` of regression labels and embeddings at any scale: labels ~1e-300 unrelated
to the embeddings scored R^2 1.0 and RMSE 0 (squares underflowed: a "perfect" probe), labels ~1e300
R^2 NaN and RMSE inf, embeddings ~1e300 failed with scikit-learn's "Input X contains NaN" (the
standardiser's variance overflowed), and an infinite label was refused in scikit-learn's words
naming no label. Reference: the same probe at scale 1 (R^2 and RMSE / scale are scale-free)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from encoderkit.infer.probe import probe


@pytest.mark.parametrize("scale", [1e-300, 1e300, 1e-160])
def test_regression_probe_is_the_same_at_any_label_or_feature_scale(scale):
    rng = np.random.default_rng(12)
    X, y = rng.normal(size=(60, 8)), rng.normal(size=60)  # labels unrelated to X: R^2 below 0
    ref = probe(X, y, task="regression")
    assert ref.mean("r2") < 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow / underflow warning either
        labels = probe(X, y * scale, task="regression")
        features = probe(X * scale, y, task="regression")
    for r in (labels, features):
        np.testing.assert_allclose(r.scores["r2"], ref.scores["r2"], rtol=1e-9)
    np.testing.assert_allclose(labels.scores["rmse"] / scale, ref.scores["rmse"], rtol=1e-9)
    np.testing.assert_allclose(features.scores["rmse"], ref.scores["rmse"], rtol=1e-9)


def test_an_infinite_regression_label_is_refused_naming_it():
    rng = np.random.default_rng(0)
    y = rng.normal(size=30)
    y[4] = -np.inf
    with pytest.raises(ValueError, match=r"1 regression label\(s\) are not finite .*record 4 .*-inf"):
        probe(rng.normal(size=(30, 3)), y, task="regression")
