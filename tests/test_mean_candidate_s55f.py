"""``select=auto``'s ``mean`` candidate of a table (s55f): each numeric column's missing cells
at the mean of its observed ones. On a zero-inflated column the other columns say nothing of
(fair's ``affairs``, star98's ``PCTCHRT``: every imputer's fill was no better than the column
mean there, benchmarks/RESULTS.md), the conditional mean is the column's mean, and a fill that
chases the other columns only adds variance; the candidate lets the choice per column take it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from encoderkit.impute_candidates import candidate_fills
from encoderkit.impute_cells import channels
from encoderkit.impute_scores import select_fills

P_NONZERO, TAIL_MEAN = 0.3, 5.0  # y = Bernoulli(0.3) * Exponential(mean 5): E[y | x] = 1.5


class _Domain:
    """A domain with no candidates of its own (the table's are the classical imputers)."""

    def infill_candidates(self, data, predict, only=None):
        return {}


class _Model:
    def infill_domain(self, options):
        return _Domain()

    def predict(self, masked):
        raise AssertionError("no candidate here runs the model")


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (rng.random(n) < P_NONZERO) * rng.exponential(TAIL_MEAN, n)  # independent of x and kind
    kind = rng.choice(["a", "b"], n)
    return pd.DataFrame({"x": x, "y": y, "kind": kind})


def test_mean_candidate_is_each_numeric_columns_observed_mean():
    full = _table(4000, 0)
    holed = full.copy()
    hole = np.zeros(len(full), dtype=bool)
    hole[::10] = True
    holed.loc[hole, "y"] = np.nan
    holed.loc[1::7, "kind"] = None
    fills = candidate_fills([_Model()], holed, holed, False, None, ["kind"])
    mean = fills["mean"]
    observed = full["y"].to_numpy(np.float64)[~hole]
    np.testing.assert_array_equal(mean["y"].to_numpy()[hole], np.full(hole.sum(), observed.mean()))
    np.testing.assert_array_equal(mean["y"].to_numpy()[~hole], observed)  # observed cells untouched
    # the closed-form conditional mean, within 4 standard errors of the sample mean
    var = P_NONZERO * 2 * TAIL_MEAN**2 - (P_NONZERO * TAIL_MEAN) ** 2
    assert abs(observed.mean() - P_NONZERO * TAIL_MEAN) < 4 * np.sqrt(var / observed.size)
    assert mean["kind"].isna().sum() == holed["kind"].isna().sum()  # categories: not its to fill


def test_series_and_arrays_get_no_mean_candidate():
    holed = _table(50, 1)[["x", "y"]]
    holed.loc[::5, "y"] = np.nan
    assert "mean" not in candidate_fills([_Model()], holed, holed, True, None, ())
    array = holed[["x", "y"]].to_numpy()
    assert "mean" not in candidate_fills([_Model()], array, array, False, None, ())


def test_select_takes_the_mean_on_a_column_the_others_do_not_predict():
    """The model's fill here chases a relation that is not there (1.5 + 3 x, where y does
    not depend on x: expected squared error var(y) + 9 against the mean's var(y) = 12.75);
    the choice on the held-back cells takes the mean (it did for 20 of 20 tables drawn)."""
    full = _table(2000, 2)
    hide = {"y": np.random.default_rng(3).random(len(full)) < 0.05}
    holed = full.copy()
    holed.loc[hide["y"], "y"] = np.nan
    model = holed.copy()
    model.loc[hide["y"], "y"] = (P_NONZERO * TAIL_MEAN + 3.0 * full["x"])[hide["y"]]
    fills = candidate_fills([_Model()], holed, model, False, ["x", "y"], [])
    truth = list(channels(full, ["x", "y"]))
    choices = select_fills(truth, {k: list(channels(v, ["x", "y"])) for k, v in fills.items()}, hide, False)
    assert choices["y"].used == "mean"
    assert choices["y"].errors["mean"] < choices["y"].errors["model"]


def test_mean_candidate_of_an_integer_column_is_a_whole_number_of_its_dtype():
    """A nullable integer column (``Int64``, as a CSV of counts with holes reads) refused the
    float mean ("Invalid value '14.5' for dtype 'Int64'": impute stopped with a traceback); its
    mean is rounded as every fill of an integer column is."""
    holed = pd.DataFrame({"x": np.arange(8.0), "n": pd.array([2, None, 4, 9, None, 12, 16, 20], dtype="Int64")})
    out = candidate_fills([_Model()], holed, holed, False, None, ())["mean"]
    assert out["n"].dtype == "Int64"
    observed = np.array([2, 4, 9, 12, 16, 20], dtype=np.float64)  # mean 10.5 -> 10 (round half to even)
    assert out["n"].tolist() == [2, int(np.round(observed.mean())), 4, 9, int(np.round(observed.mean())), 12, 16, 20]
