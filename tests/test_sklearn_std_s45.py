"""EncoderImputer.transform(return_std=True) was the models' spread alone: how much the seeds
disagree, not how far a fill is from the truth (an audit on diabetes: the error within 2
spreads for 37% of the cells). It now adds each numeric column's held-back error
(``fill_error_``) to the models' variance at the cells it fills."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.test_sklearn_inputs import imputer, table


def _holed(seed: int = 0) -> pd.DataFrame:
    frame = table(80, seed)
    rng = np.random.default_rng(seed + 1)
    for c in ("a", "b"):
        frame.loc[rng.random(len(frame)) < 0.15, c] = np.nan
    return frame


def test_fill_error_is_the_held_back_nrmse_in_the_columns_units():
    frame = _holed()
    imp = imputer().fit(frame)
    # numeric columns with held-back cells (the count "i" too), never a text or category column
    assert set(imp.fill_error_) == {"a", "b", "i"}
    for c, err in imp.fill_error_.items():
        nrmse = imp.selection_errors_[c][imp.selection_[c]]
        sd = np.std(frame[c].dropna().to_numpy(dtype=np.float64))  # the selection's unit (ddof 0)
        assert np.isclose(err, nrmse * sd, rtol=1e-12) and err > 0


def test_one_model_gives_the_held_back_error_at_filled_cells_and_zero_elsewhere():
    frame = _holed(3)
    imp = imputer().fit(frame)
    _, std = imp.transform(frame, return_std=True)
    for c in ("a", "b"):
        miss = frame[c].isna().to_numpy()
        # one model: no spread between models, so the std is the column's held-back error,
        # calibrated (sklearn_calibrate: its 1.96 std a 95% conformal bound)
        np.testing.assert_allclose(std[c].to_numpy()[miss], imp.fill_std_[c], rtol=1e-12)
        assert (std[c].to_numpy()[~miss] == 0).all()


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_several_models_add_their_spread_to_the_error():
    frame = _holed(5)
    imp = imputer(n_models=2).fit(frame)
    _, std = imp.transform(frame, return_std=True)
    keep, imp.fill_error_, imp.fill_std_ = imp.fill_std_, {}, {}  # the models' spread alone, as before
    _, spread = imp.transform(frame, return_std=True)
    for c in ("a", "b"):
        miss = frame[c].isna().to_numpy()
        want = np.sqrt(spread[c].to_numpy()[miss] ** 2 + keep[c] ** 2)
        np.testing.assert_allclose(std[c].to_numpy()[miss], want, rtol=1e-12)
    assert (std["a"].to_numpy()[frame["a"].isna().to_numpy()] > 0).all()
