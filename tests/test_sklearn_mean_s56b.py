"""EncoderImputer's column-mean candidate (session 56, helper b): ``select='auto'`` scores the
mean of a column's observed cells beside the encoder and the classical imputers, as
``encoderkit impute`` does, from one implementation (``impute_candidates.observed_means``);
a column whose ``selection_`` is ``mean`` is filled with its mean at fit, and its
``return_std`` is the column's standard deviation. References: numpy on the same cells.

Every fit trains a tiny model for a few steps: behaviour, not quality (benchmarks/RESULTS.md)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from encoderkit.impute_candidates import column_means, observed_means
from encoderkit.impute_cells import channels
from encoderkit.impute_holdout import draw_holdout
from encoderkit.sklearn import EncoderImputer
from tests.test_sklearn import TINY

SEED = 0


def _table(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(n, 3))
    x[:, 1] += x[:, 0]
    x[:, 2] = 40.0 + 3.0 * rng.normal(size=n)  # nothing predicts it: its mean is its best fill
    frame = pd.DataFrame(x, columns=["c0", "c1", "c2"])
    frame["n"] = pd.array(rng.integers(0, 1000, n), dtype="Int64")  # a count: filled whole
    return frame.mask(rng.random(frame.shape) < 0.2)


@pytest.fixture(scope="module")
def fitted() -> tuple[EncoderImputer, pd.DataFrame]:
    frame = _table()
    imp = EncoderImputer(model="impute", steps=3, random_state=SEED, overrides=TINY, blend="iterative").fit(frame)
    return imp, frame


def test_observed_means_are_the_observed_cells_means_even_near_the_float_limit():
    frame = pd.DataFrame({"big": [1.5e308, 1.7e308, np.nan], "x": [1.0, np.nan, 4.0],
                          "k": ["a", "b", None], "none": [np.nan] * 3})
    means = observed_means(frame, None, ["k"])
    assert set(means) == {"big", "x"}  # text and all-missing columns have no mean
    assert means["x"] == 2.5
    assert means["big"] == pytest.approx(1.5e308 / 2 + 1.7e308 / 2, rel=1e-15)  # np.mean: inf
    filled = column_means(frame, None, ["k"])
    assert filled.loc[2, "big"] == means["big"] and filled.loc[1, "x"] == 2.5


@pytest.mark.slow  # one fit shared by the module, ~4 s CPU: `make test-slow` (CI) runs it
def test_select_auto_scores_the_mean_of_the_cells_not_held_back(fitted):
    """selection_errors_ has a ``mean`` entry per numeric column, the NRMSE on the held-back
    cells of the mean of the cells trained on (held-back ones hidden: no leak), in the
    selection's unit (the observed cells' population sd); after fit the mean is of every
    observed cell."""
    imp, frame = fitted
    hide = draw_holdout(list(channels(frame)), 0.05, SEED)  # EncoderImputer's HOLDOUT, its seed
    for c in frame.columns:
        col, held = frame[c].to_numpy(dtype=np.float64, na_value=np.nan), hide[c]
        assert held.any()
        kept = col[~np.isnan(col) & ~held]
        fill = round(kept.mean()) if c == "n" else kept.mean()  # a count's fill is whole
        want = np.sqrt(np.mean(((fill - col[held]) / np.nanstd(col)) ** 2))
        assert imp.selection_errors_[c]["mean"] == pytest.approx(want, rel=1e-9)
    np.testing.assert_allclose(imp.blend_means_, frame.astype(float).mean().to_numpy(), rtol=1e-12)


@pytest.mark.slow
def test_a_column_whose_choice_is_the_mean_is_filled_with_it_and_its_std_is_the_columns(fitted):
    imp, frame = fitted
    imp = copy.deepcopy(imp)
    imp.selection_.update(c2="mean", n="mean")
    imp._fill_errors(frame, {})  # return_std's figure, as fit sets it
    out, std = imp.transform(frame, return_std=True)
    miss = frame.isna()
    for c in ("c2", "n"):
        values = frame[c].astype(float)
        m = miss[c].to_numpy()
        np.testing.assert_allclose(std[c][m], np.nanstd(values), rtol=1e-12)
        assert (std[c][~m] == 0).all()
    np.testing.assert_allclose(out["c2"][miss["c2"]], frame["c2"].mean(), rtol=1e-12)
    assert str(out["n"].dtype) == "Int64"  # a count's mean fill is whole, in its own dtype
    assert (out["n"][miss["n"]] == round(float(frame["n"].mean()))).all()
    pd.testing.assert_frame_equal(out.where(~miss), frame.where(~miss))  # observed cells as given
