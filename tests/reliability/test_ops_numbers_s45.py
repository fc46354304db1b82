"""Session-45 operator audit, numbers at the extremes: a table column of magnitudes near
1e-300 got std 0 and was filled with one constant; the linear chain of a wide table held a
k x k matrix per fitted regression (3000 columns passed 11 GB); schedule settings longer
than the run were tracebacks, and a negative batch warmup ran without a word."""

from __future__ import annotations

import statistics

import numpy as np
import pandas as pd
import pytest

from encoderkit.errors import UsageError
from encoderkit.numerics import finite_mean_std


# ------------------------------------------------------------ 1. tiny magnitudes

@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e-160, 5e-320, 1e300])
def test_statistics_of_tiny_and_huge_columns_match_exact_arithmetic(scale):
    """Reference: statistics.fmean / pstdev (exact rational sums of squares), on the same
    floats; numpy's std of 1e-300-scale values is 0 and of 1e-160-scale values 2e-5 off."""
    y = np.random.default_rng(0).normal(size=200)
    v = y * scale
    mean, std = finite_mean_std(v)
    assert std > 0
    assert mean == pytest.approx(statistics.fmean(v.tolist()), rel=1e-9 if scale > 1e-307 else 1e-2)
    # subnormals (5e-320) carry ~3 digits: compare at their precision
    rel = 1e-12 if scale > 1e-307 else 1e-2
    assert std == pytest.approx(statistics.pstdev(v.tolist()), rel=rel)
    both = np.stack([v, y], axis=1)
    m, s = finite_mean_std(both, axis=0)  # per column; the plain one untouched
    assert s[0] == pytest.approx(std, rel=rel)
    assert m[1] == both.mean(axis=0)[1] and s[1] == both.std(axis=0)[1]


def test_gaps_and_constant_tiny_columns():
    v = np.array([3e-300, np.nan, 1e-300, 2e-300, np.nan])
    mean, std = finite_mean_std(v)
    obs = [3e-300, 1e-300, 2e-300]
    assert mean == pytest.approx(statistics.fmean(obs), rel=1e-12)
    assert std == pytest.approx(statistics.pstdev(obs), rel=1e-12)
    assert finite_mean_std(np.full(4, 1e-300)) == (1e-300, 0.0)  # constant: std 0, as numpy's


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_a_column_of_p_values_near_1e300_is_filled_as_the_same_column_at_scale_1(tmp_path):
    """End to end: the tiny column's fills, scaled back, equal the fills of the same column
    at scale 1 (same seed, same z-scores); before, every fill was one constant."""
    from tests.test_impute import run_impute

    rng = np.random.default_rng(0)
    n = 120
    x = rng.normal(size=n)
    full = pd.DataFrame({"x": x, "y": 2 * x + 0.1 * rng.normal(size=n), "w": x + 0.1 * rng.normal(size=n)})
    holes = rng.choice(n, 15, replace=False)
    fills = {}
    for scale in (1.0, 1e-300):
        frame = full.copy()
        frame["y"] *= scale
        frame.loc[holes, "y"] = np.nan
        frame.to_csv(tmp_path / f"t{scale}.csv", index=False)
        run_impute(tmp_path / f"t{scale}.csv", tmp_path / f"o{scale}.csv", "seed=1", "select=model",
                   f"run_dir={tmp_path / f'r{scale}'}")
        fills[scale] = pd.read_csv(tmp_path / f"o{scale}.csv")["y"].to_numpy()[holes] / scale
    assert len(np.unique(fills[1e-300])) == len(holes)
    np.testing.assert_allclose(fills[1e-300], fills[1.0], rtol=1e-5)


# ------------------------------------------------------------ 2. wide tables

def _holed(rows, cols, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4)) @ rng.normal(size=(4, cols)) + 0.3 * rng.normal(size=(rows, cols))
    x[rng.random(x.shape) < 0.1] = np.nan
    return x


def test_narrow_tables_get_scikit_learns_bayesian_ridge_chain_exactly():
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    from domains.tabular.blend import ITERATIVE_MAX_PREDICTORS, classical_imputer

    x = _holed(60, 12)
    inf = np.full(12, np.inf)
    ours = classical_imputer("iterative", 60, 3, (-inf, inf))
    assert ours.n_nearest_features is None and ITERATIVE_MAX_PREDICTORS >= 11
    ref = IterativeImputer(max_iter=10, random_state=3, min_value=-inf, max_value=inf)
    np.testing.assert_array_equal(ours.fit_transform(x), ref.fit_transform(x))
    assert not any(hasattr(t.estimator, "sigma_") for t in ours.imputation_sequence_)


def test_wide_tables_regress_on_a_bounded_number_of_columns_and_keep_no_covariances():
    import pickle

    from domains.tabular.blend import ITERATIVE_MAX_PREDICTORS, classical_imputer

    cols = ITERATIVE_MAX_PREDICTORS + 20
    x = _holed(40, cols)
    inf = np.full(cols, np.inf)
    imp = classical_imputer("iterative", 40, 0, (-inf, inf))
    imp.set_params(max_iter=2)
    out = imp.fit_transform(x)
    assert np.isfinite(out).all()
    assert all(len(t.neighbor_feat_idx) == ITERATIVE_MAX_PREDICTORS for t in imp.imputation_sequence_)
    assert not any(hasattr(t.estimator, "sigma_") for t in imp.imputation_sequence_)
    back = pickle.loads(pickle.dumps(imp))  # an EncoderImputer is pickled with it
    np.testing.assert_array_equal(back.transform(x), imp.transform(x))


# ------------------------------------------------------------ 3. schedule settings

def _compose(tmp_path, *words):
    from encoderkit.train.config import compose

    return compose(["domain.name=traintest", f"data.store={tmp_path}", *words])


@pytest.mark.parametrize("words,key", [
    (["train.steps=10", "schedule.warmup=100"], "schedule.warmup"),
    (["train.steps=10", "schedule.decay=11"], "schedule.decay"),
    (["schedule.total=50", "schedule.warmup=60"], "schedule.warmup"),
    (["schedule.batch_warmup_tokens=-1"], "schedule.batch_warmup_tokens"),
    (["schedule.batch_warmup_tokens=1000", "schedule.batch_warmup_start=-5"], "schedule.batch_warmup_start"),
    (["schedule.batch_warmup_tokens=1000", "train.tokens_per_step=4096",
      "schedule.batch_warmup_start=999999999"], "schedule.batch_warmup_start"),
    (["schedule.warmup=-1"], "schedule.warmup"),
])
def test_schedule_settings_the_run_cannot_follow_are_one_line_at_config_time(tmp_path, words, key):
    from encoderkit.train.config import ConfigError

    with pytest.raises(ConfigError) as e:
        _compose(tmp_path, *words)
    assert key in str(e.value) and "\n" not in str(e.value)


def test_settings_that_fit_still_compose(tmp_path):
    cfg = _compose(tmp_path, "train.steps=200", "schedule.warmup=100", "schedule.batch_warmup_tokens=1000",
                   "schedule.batch_warmup_start=512")
    assert cfg.schedule.warmup == 100


def test_a_warmup_longer_than_a_resolved_auto_run_is_a_usage_error():
    """train.steps=auto resolves after the config is checked: the schedule refuses it, as a
    UsageError (one line, exit 2) naming the keys and the run's length."""
    from encoderkit.train.schedule import WSD, BatchWarmup

    with pytest.raises(UsageError, match=r"schedule\.warmup=100 .* run of 10 steps"):
        WSD(total=10, warmup=100, decay=2)
    with pytest.raises(UsageError, match="schedule.batch_warmup_start"):
        BatchWarmup(target=4096, start=999999999, tokens=1000)
    with pytest.raises(UsageError, match="schedule.batch_warmup_tokens"):
        BatchWarmup(target=4096, start=0, tokens=-1)
