"""``series_baselines`` (every channel interpolated in one call, as ``impute``'s held-back
baseline now is) gives each channel's ``baseline_fill`` exactly: series laid end to end do not
interpolate across a boundary, in a 3-D array and in a long table's channels alike."""

from __future__ import annotations

import numpy as np
import pandas as pd

from encoderkit.impute_cells import baseline_fill, channels, is_missing, series_baselines


def _holed(rng, shape):
    x = rng.normal(size=shape).cumsum(axis=-1)
    x[rng.random(shape) < 0.3] = np.nan
    x[..., 0] = np.where(rng.random(shape[:-1]) < 0.5, np.nan, x[..., 0])  # holes at a series' start
    x[..., -1] = np.where(rng.random(shape[:-1]) < 0.5, np.nan, x[..., -1])  # and at its end
    return x


def _check(data, columns=None, **kw):
    chans = list(channels(data, columns, [], **kw))
    visible = [~is_missing(ch.values) for ch in chans]
    together = series_baselines(chans, visible)
    assert len(together) == len(chans) > 1
    for ch, vis, got in zip(chans, visible, together):
        np.testing.assert_array_equal(got, baseline_fill(ch, vis, True))


def test_many_series_of_an_array_match_one_call_each():
    _check(_holed(np.random.default_rng(0), (7, 3, 11)))


def test_a_long_tables_channels_match_one_call_each():
    rng = np.random.default_rng(1)
    ids = np.repeat(["a", "b", "c"], [5, 1, 9])
    frame = pd.DataFrame({"id": ids, "x": _holed(rng, (15,)), "y": _holed(rng, (15,))})
    _check(frame, ["x", "y"], series_column="id")


def test_a_dict_of_series_matches_one_call_each():
    rng = np.random.default_rng(2)
    _check({f"s{k}": _holed(rng, (2, n)) for k, n in enumerate((4, 9, 1, 6))})
