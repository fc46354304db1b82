"""Fills a column's dtype can hold at the edges of the number types (``numerics.held_in_dtype``,
applied where a table fill is written, ``domains.tabular.columnfill.fill_column``): a float32
column filled beyond 3.4e38 (a linear imputer's extrapolation, cast to float32: inf, and
``encoderkit impute`` then refused the file as a bug), a float64 column whose de-standardised
fill overflowed (``EncoderImputer`` returned inf), and integer dtypes (rounded, held to their
range). References: numpy's finfo / iinfo and hand-computed values."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from domains.tabular.columnfill import fill_column
from encoderkit.numerics import held_in_dtype, whole_in_dtype

TINY = ["model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
        "model.intermediate_size=32", "train.steps=3", "progress=false"]
F16, F32, F64 = (float(np.finfo(t).max) for t in (np.float16, np.float32, np.float64))


def test_float_fills_beyond_the_dtype_are_its_largest_finite_value_nan_kept():
    x = np.array([3.5e38, -1e39, np.inf, -np.inf, np.nan, 1.5, -0.0, 5e-324])
    out = held_in_dtype(x, np.float32)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out[:4], [F32, -F32, F32, -F32])
    assert np.isnan(out[4]) and out[5] == 1.5 and out[7] == 5e-324
    assert np.isfinite(out[:4].astype(np.float32)).all()  # casting the held values stays finite
    np.testing.assert_array_equal(held_in_dtype(np.array([7e4, np.inf, 1.0]), np.float16), [F16, F16, 1.0])
    np.testing.assert_array_equal(held_in_dtype(np.array([np.inf, -np.inf, 1e308]), np.float64), [F64, -F64, 1e308])


def test_integer_fills_rounded_and_held_to_the_dtype_range():
    np.testing.assert_array_equal(held_in_dtype(np.array([300.0, -1.0, 2.4, 254.6]), np.uint8), [255, 0, 2, 255])
    np.testing.assert_array_equal(held_in_dtype(np.array([-130.0, 127.4, np.inf]), np.int8), [-128, 127, 127])
    top = held_in_dtype(np.array([2.0 ** 63, 1e30]), np.int64)
    assert (top.astype(np.int64) > 0).all()  # float(2**63 - 1) is 2**63: it wrapped round to -2**63
    assert int(top[0].astype(np.int64)) == 2 ** 63 - 1024  # the largest float64 below 2**63
    big = held_in_dtype(np.array([2.0 ** 64, -5.0]), np.uint64).astype(np.uint64)
    assert big.tolist() == [2 ** 64 - 2048, 0]
    # as integers: the dtype's own extremes, exactly (2**63 - 1 and 2**64 - 1 are no float64)
    assert whole_in_dtype(np.array([2.0 ** 63, -1e30, 5.5]), np.int64).tolist() == [2 ** 63 - 1, -2 ** 63, 6]
    assert whole_in_dtype(np.array([2.0 ** 64, 3.0]), np.uint64).tolist() == [2 ** 64 - 1, 3]
    assert whole_in_dtype(np.array([300.0, -7.0]), np.uint8).tolist() == [255, 0]
    words = np.array(["a"], dtype=object)
    assert held_in_dtype(np.array([1e300]), words.dtype)[0] == 1e300  # not a number dtype: as given


@pytest.mark.parametrize("dtype,fill,want", [
    ("float32", [3.5e38, -np.inf], [F32, -F32]),
    ("float16", [7.0e4, 1.0], [F16, 1.0]),
    ("float64", [np.inf, 2.0], [F64, 2.0]),
    ("UInt8", [300.0, -1.0], [255, 0]),
    ("Int8", [-200.0, 5.5], [-128, 6]),
    ("Int64", [2.0 ** 63, -2.0 ** 64], [2 ** 63 - 1, -2 ** 63]),
])
def test_fill_column_writes_fills_the_dtype_holds(dtype, fill, want):
    s = pd.Series([1.0, None, None, 2.0]).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "overflow encountered in cast" fails the test
        out = fill_column(s, np.array(fill), np.array([False, True, True, False]))
    assert out.dtype == s.dtype
    if dtype == "Int64":  # exactly: the int64 maximum, not the float64 below it (2**63 - 1024)
        assert out.iloc[1:3].tolist() == want
    else:
        assert out.iloc[1:3].astype(float).tolist() == pytest.approx(want, rel=1e-6)
    assert np.isfinite(out.astype(float)).all()


@pytest.mark.slow
def test_impute_fills_float32_and_float16_parquet_columns_near_their_maximum(tmp_path, capsys):
    """Columns near their dtype's maximum whose highest values are the missing ones, beside two
    columns that predict them linearly: the iterative candidate extrapolated past 3.4e38, cast
    to float32 as inf ("overflow encountered in cast"), and the file was refused as a bug
    ("2 missing cell(s) got no finite fill ... please report it")."""
    from encoderkit.cli import main

    rng = np.random.default_rng(2)
    x = rng.normal(size=80)
    holes = x > 0.8
    f16 = np.minimum(64000 + 800 * x, 65504).astype(np.float16)
    f32 = np.minimum(3.0e38 + 2e37 * x, 3.4e38).astype(np.float32)
    x2 = 2 * x + rng.normal(0, 0.01, 80)
    src, out = tmp_path / "top.parquet", tmp_path / "filled.parquet"
    pq.write_table(pa.table({"f16": pa.array(f16, mask=holes), "f32": pa.array(f32, mask=holes), "x": x, "x2": x2}), src)
    code = main(["impute", f"input={src}", f"output={out}", *TINY])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "overflow" not in err
    back = pq.read_table(out)
    for name, given in (("f16", f16), ("f32", f32)):
        assert back.schema.field(name).type == pa.from_numpy_dtype(given.dtype)
        got = back.column(name).to_numpy()
        assert np.isfinite(got).all()
        np.testing.assert_array_equal(got[~holes], given[~holes])


@pytest.mark.slow
def test_encoder_imputer_fills_a_column_near_float64s_maximum_finitely():
    """A column of values up to 9.8e307 with the highest missing: the linear imputer's
    de-standardised fill overflowed to inf, and EncoderImputer returned it."""
    from encoderkit.sklearn import EncoderImputer

    rng = np.random.default_rng(5)
    x = rng.normal(size=80)
    holes = x > 0.8
    frame = pd.DataFrame({"huge": np.where(holes, np.nan, 1e308 * np.tanh(x)), "x": x,
                          "x2": 2 * x + rng.normal(0, 0.01, 80)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = EncoderImputer(random_state=0, model="tiny", steps=3, select="model").fit_transform(frame)
    assert np.isfinite(out["huge"].to_numpy()).all()
    assert (np.abs(out["huge"].to_numpy()) <= F64).all()


def test_table_decode_of_a_value_beyond_float64_is_its_maximum_without_a_numpy_warning():
    """``encoderkit impute`` of a column near 1e308 printed numpy's "overflow encountered in
    multiply" (the iterative candidate's extrapolation de-standardised to inf)."""
    from domains.tabular.encoding import decode_numeric

    col = {"mean": 5e307, "std": 4e307}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = decode_numeric(np.array([10.0, -10.0, 0.5, np.nan]), col)
    np.testing.assert_array_equal(out[:3], [F64, -F64, 5e307 + 0.5 * 4e307])
    assert np.isnan(out[3])
    whole = decode_numeric(np.array([0.4, 1e300]), {"mean": 0.0, "std": 1.0, "integer": True})
    np.testing.assert_array_equal(whole, [0.0, 1e300])


# ------------------------------------------------------------------ sets: fills a feature could hold

HOLES = np.arange(48) % 8 == 3  # 6 of 48 cells of each feature


def _sets_domain(tmp_path, columns: dict[str, np.ndarray]):
    """A sets domain ingested from 8 sets of 6 elements with ``columns`` as features (cells
    ``HOLES`` missing), every set on the train side; the domain and the frame it reads back."""
    from domains.sets.domain import SetsDomain
    from encoderkit.data.ingest import ingest
    from encoderkit.data.store import RecordStore

    rng = np.random.default_rng(0)
    n = 48
    cells = {k: ["" if HOLES[i] else repr(float(v)) for i, v in enumerate(vals)] for k, vals in columns.items()}
    path = tmp_path / "sets.csv"
    pd.DataFrame({"set": [f"s{i // 6}" for i in range(n)], "x": rng.normal(size=n), "y": rng.normal(size=n),
                  **cells}).to_csv(path, index=False)
    ingest("sets", [str(path)], str(tmp_path / "s.zarr"), progress=False, verbose=False, set_column="set",
           validation_fraction=0.0)
    domain = SetsDomain(RecordStore(str(tmp_path / "s.zarr")).schema)
    return domain, domain.read_input(str(path))


def _predicting(domain, value: float):
    def predict(examples):  # the head's output ``value`` (normalised units) at every predicted element
        return [{"features": np.full((int(ex.predict.sum()), domain.num_features), value, np.float32)}
                for ex in examples]
    return predict


@pytest.mark.parametrize("value", [-3.0, 3.0])
def test_sets_feature_fills_bounded_as_table_fills_and_a_half_split_flag_is_no_constant(tmp_path, value):
    """Counts >= 0 stay >= 0, shares and 0/1 flags within [0, 1], a feature with negative values
    unbounded (``encoderkit.plausible_fills``' rule, as tables and series); a 0/1 flag at 50%
    has mean and scale 0.5 as a constant 0.5 would, and is not filled 0.5."""
    rng = np.random.default_rng(3)
    cols = {"count": rng.poisson(2.0, 48).astype(float), "share": rng.uniform(0, 1, 48),
            "flag": np.zeros(48), "delta": rng.normal(size=48)}
    cols["flag"][~HOLES] = np.tile([0.0, 1.0], 21)  # observed half 0, half 1
    domain, frame = _sets_domain(tmp_path, cols)
    assert domain.schema["feature_mean"][2] == 0.5 == domain.schema["feature_std"][2]
    out = domain.infill(frame, _predicting(domain, value))
    for name in cols:
        missing = frame[name].isna().to_numpy()
        seen = frame[name].to_numpy(dtype=np.float64)[~missing]
        raw = np.mean(seen) + value * np.std(seen)  # the model's fill in the feature's units
        want = {"count": max(raw, 0.0), "share": min(max(raw, 0.0), 1.0), "flag": min(max(raw, 0.0), 1.0),
                "delta": raw}[name]
        np.testing.assert_allclose(out[name].to_numpy(dtype=np.float64)[missing], want, rtol=1e-6, atol=1e-12)


# ------------------------------------------------------------------ means of values near float64's maximum

def test_mean_without_overflow_is_numpys_where_finite_and_exact_near_the_maximum():
    from fractions import Fraction

    from encoderkit.numerics import mean_without_overflow

    rng = np.random.default_rng(0)
    ordinary = rng.normal(size=(3, 5))
    assert np.array_equal(mean_without_overflow(ordinary), np.mean(ordinary, axis=0))  # bit for bit
    top = 1.7e308 * (1 + 0.02 * rng.uniform(-1, 1, size=(3, 4)))
    top[:, 3] = [1.0, np.nan, 2.0]  # a NaN stays NaN
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "overflow encountered in reduce"
        got = mean_without_overflow(top)
    for j in range(3):  # the mean in rational arithmetic, to float64's rounding of the sum
        assert got[j] == pytest.approx(float(sum(Fraction(float(v)) for v in top[:, j]) / 3), rel=1e-15)
    assert np.isnan(got[3])


def test_ensemble_validation_of_members_predicting_near_float64s_maximum(monkeypatch):
    """The ensemble's validation figures of regression members predicting ~1.7e308 were NaN
    (their mean overflowed to inf) while predict and evaluate gave finite ones."""
    from fractions import Fraction

    from encoderkit.tasks import ensemble
    from encoderkit.tasks.metrics import regression_metrics
    from encoderkit.tasks.spec import TaskSpec

    rng = np.random.default_rng(1)
    y = 1.7e308 * (1 + 0.02 * rng.uniform(-1, 1, size=(6, 1)))
    members = [y * (1 + 0.01 * rng.uniform(-1, 1, size=y.shape)) for _ in range(3)]
    monkeypatch.setattr(ensemble, "val_arrays", lambda run: (y, members[run]))
    monkeypatch.setattr(ensemble, "best_spec", lambda run: TaskSpec(type="regression", targets=["label"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = ensemble.validation([0, 1, 2])
    mean = np.array([[float(sum(Fraction(float(m[i, 0])) for m in members) / 3)] for i in range(len(y))])
    want = regression_metrics(y, mean)
    assert np.isfinite(list(got.values())).all()
    for k in ("rmse", "mae", "r2"):
        assert got[k] == pytest.approx(want[k], rel=1e-12)


def test_power_of_two_below_against_math():
    """``numerics.power_of_two_below``, the one scaling every overflow-free statistic uses,
    against ``2 ** floor(log2 x)`` computed by ``math`` (exact for these magnitudes)."""
    import math

    from encoderkit.numerics import power_of_two_below

    xs = [5e-324, 1e-300, 0.75, 1.0, 1.5, 3.0, 1024.0, 1e300, 1.7976931348623157e308]
    want = [math.ldexp(1.0, math.frexp(x)[1] - 1) for x in xs]
    assert [2.0 ** math.floor(math.log2(x)) for x in xs[1:-1]] == want[1:-1]  # (log2 of the largest rounds to 1024)
    np.testing.assert_array_equal(power_of_two_below(np.array(xs)), want)
    np.testing.assert_array_equal(power_of_two_below(np.array([0.0, np.nan, np.inf])), [1.0, 1.0, 1.0])
