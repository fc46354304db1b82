"""encoderkit.numerics.finite_mean_std against numpy (where numpy is finite) and against
the same statistics computed by hand on rescaled values (where it overflows)."""

from __future__ import annotations

import numpy as np

from encoderkit.numerics import finite_mean_std


def test_equals_numpy_exactly_on_ordinary_data_and_nan_versions_with_gaps():
    rng = np.random.default_rng(0)
    v = rng.normal(3.0, 2.0, size=(50, 3))
    assert finite_mean_std(v[:, 0]) == (float(np.mean(v[:, 0])), float(np.std(v[:, 0])))
    m, s = finite_mean_std(v, axis=0)
    assert np.array_equal(m, v.mean(axis=0)) and np.array_equal(s, v.std(axis=0))
    v[::7, 1] = np.nan
    m, s = finite_mean_std(v, axis=0)
    np.testing.assert_array_equal(m, np.nanmean(v, axis=0))
    np.testing.assert_array_equal(s, np.nanstd(v, axis=0))


def test_overflowing_columns_get_the_statistics_of_their_scaled_values():
    rng = np.random.default_rng(1)
    u = rng.normal(size=(40, 2))
    v = u * np.array([1e200, 1.0])  # column 0 overflows when squared; column 1 does not
    v[3, 0] = np.nan
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.nanstd(v[:, 0]))
    m, s = finite_mean_std(v, axis=0)
    keep = ~np.isnan(v[:, 0])
    np.testing.assert_allclose(m[0], np.mean(u[keep, 0]) * 1e200, rtol=1e-12)
    np.testing.assert_allclose(s[0], np.std(u[keep, 0]) * 1e200, rtol=1e-12)
    assert m[1] == np.nanmean(v, axis=0)[1] and s[1] == np.nanstd(v, axis=0)[1]  # the other column untouched
    near = np.array([1.7e308, -1.7e308, 1.7e308, 1.7e308])  # the sum itself overflows
    mean, std = finite_mean_std(near)
    assert np.isclose(mean, 0.85e308, rtol=1e-12) and np.isfinite(std)
