"""`encoderkit impute`'s held-back scoring of date, datetime and timedelta columns: a number
to the tabular model, so scored as numbers (nrmse in units of the column's observed sd),
chosen between candidates by that error, and written back as the column's own values.
References are computed independently in float64 days / hours."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import pytest

from encoderkit.cli import main
from encoderkit.impute import assemble
from encoderkit.impute_cells import baseline_fill, cell_errors, channels, score_holdout, select_fills
from tests.test_impute import TINY

DAY_NS = 86_400 * 10**9


def quarters(n: int) -> pd.DatetimeIndex:
    return pd.date_range("1970-01-01", periods=n, freq="QS")


def as_kind(days: np.ndarray, kind: str) -> pd.Series:
    """``days`` (float, NaN = missing) since 1970-01-01 UTC as a column of ``kind``:
    datetime64[us], ``datetime.date`` objects (how pyarrow reads a CSV date column),
    tz-aware, timedelta."""
    ok = ~np.isnan(days)
    ns = np.where(ok, days, 0).astype(np.int64) * DAY_NS
    if kind == "timedelta":
        return pd.Series(pd.to_timedelta(ns, unit="ns")).where(ok)
    t = pd.Series(pd.to_datetime(ns, unit="ns")).where(ok)
    if kind == "date":
        return pd.Series([d.date() if o else None for d, o in zip(t, ok)], dtype=object)
    # tz: the same instants shown in Paris time (localised there, summer time moved them an hour)
    return t.dt.tz_localize("UTC").dt.tz_convert("Europe/Paris") if kind == "tz" else t.dt.as_unit("us")


def ref_nrmse(truth_days: np.ndarray, pred_days: np.ndarray, mask: np.ndarray) -> float:
    """Root mean squared error over the held-back cells, in units of the population sd of
    every observed cell, computed in days."""
    obs = truth_days[~np.isnan(truth_days)]
    sd = float(np.sqrt(np.mean((obs - obs.mean()) ** 2)))
    return float(np.sqrt(np.mean(((pred_days[mask] - truth_days[mask]) / sd) ** 2)))


@pytest.mark.parametrize("kind", ["datetime64", "date", "tz", "timedelta"])
def test_date_column_scored_as_nrmse_matching_float64_reference(kind):
    """A date column's held-back cells are scored by nrmse (not exact match), in units of
    its observed sd, the same number as a float64 computation in days; its mean baseline
    too. Before: categorical, scored as accuracy 0 vs 0."""
    days = np.array([0, 90, 181, 273, 365, 455, np.nan, 638, 730, 820], dtype=np.float64)
    mask = np.zeros(len(days), dtype=bool)
    mask[[1, 4, 8]] = True
    pred_days = days.copy()
    pred_days[[1, 4, 8]] = [100, 300, 731]  # off by 10, 65 and 1 days
    frame = pd.DataFrame({"period": as_kind(days, kind), "x": np.arange(len(days), dtype=float)})
    truth = [c for c in channels(frame) if c.name == "period"]
    ch = truth[0]
    assert not ch.categorical and ch.temporal
    model = [c for c in channels(frame.assign(period=as_kind(pred_days, kind))) if c.name == "period"]
    err = cell_errors(ch, model[0].values, mask)
    expected = ref_nrmse(days, pred_days, mask)
    np.testing.assert_allclose(np.sqrt(np.mean(err)), expected, rtol=1e-9)

    visible = ~np.isnan(days) & ~mask
    base = {"period": baseline_fill(ch, visible, series=False)}
    mean_days = np.nanmean(np.where(visible, days, np.nan))
    scores = score_holdout(truth, model, base, {"period": mask})
    assert [s.metric for s in scores] == ["nrmse"] and scores[0].cells == 3
    np.testing.assert_allclose(scores[0].model, expected, rtol=1e-9)
    np.testing.assert_allclose(scores[0].baseline, ref_nrmse(days, np.full(len(days), mean_days), mask),
                               rtol=1e-9)


@pytest.mark.parametrize("kind", ["datetime64", "date", "tz", "timedelta"])
def test_select_fills_switches_date_column_and_writes_candidate_dates(kind):
    """``select=auto`` can choose for a date column: a candidate a day off everywhere beats
    a model a year or so off, by nrmse; ``assemble`` then writes that candidate's own
    values into the missing cells, the column's dtype (datetime64 unit, time zone, date
    objects, timedelta) unchanged, observed cells and other columns untouched. Before:
    every candidate's error rate 1.0, the model kept."""
    rng = np.random.default_rng(0)
    n = 120
    days = (quarters(n) - pd.Timestamp("1970-01-01")).days.to_numpy(np.float64)
    mask = np.zeros(n, dtype=bool)
    mask[::3] = True
    model_days = days + np.where(mask, rng.normal(0, 400, n).round(), 0)
    good_days = days + np.where(mask, rng.choice([-1.0, 1.0], n), 0)
    frame = pd.DataFrame({"period": as_kind(days, kind), "x": np.arange(n, dtype=float)})
    fills = {name: list(channels(frame.assign(period=as_kind(d, kind))))
             for name, d in (("model", model_days), ("iterative", good_days))}
    choices = select_fills(list(channels(frame)), fills, {"period": mask}, runs=False)
    choice = choices["period"]
    assert choice.used == "iterative" and choice.metric == "nrmse" and choice.cells == int(mask.sum())
    np.testing.assert_allclose(choice.errors["model"], ref_nrmse(days, model_days, mask), rtol=1e-9)
    np.testing.assert_allclose(choice.errors["iterative"], ref_nrmse(days, good_days, mask), rtol=1e-9)

    # the held-back cells missing in the data; each candidate fills them its own way
    holed = np.where(mask, np.nan, days)
    data = frame.assign(period=as_kind(holed, kind), x=frame["x"].mask(mask))
    model = frame.assign(period=as_kind(model_days, kind), x=frame["x"].where(~mask, 0.0))
    cand = frame.assign(period=as_kind(good_days, kind), x=frame["x"].where(~mask, 9.0))
    out = assemble({"model": model, "iterative": cand}, {k: c.used for k, c in choices.items()},
                   data, None, ())
    assert out["period"].dtype == data["period"].dtype
    pd.testing.assert_series_equal(out["period"], cand["period"])
    pd.testing.assert_series_equal(out["period"][~mask], data["period"][~mask])
    pd.testing.assert_series_equal(out["x"], model["x"])
    if kind == "date":
        assert all(type(v) is dt.date for v in out["period"])


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_cli_scores_date_column_as_nrmse_and_keeps_its_cells(tmp_path, capsys, fmt):
    """``encoderkit impute`` on a table with a quarter-date column correlated with a number
    column, 15% of cells blank: exit 0, the held-back cells scored by nrmse alone (no
    accuracy line), no word of infinite values, the date column's observed cells written
    as they were (CSV text, Parquet dtype) and its blanks filled with dates."""
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame({"x": np.arange(n) * 1.5 + rng.normal(0, 1, n), "period": quarters(n),
                          "y": rng.normal(0, 1, n)})
    frame = frame.mask(rng.random(frame.shape) < 0.15)
    src, out = tmp_path / f"x.{fmt}", tmp_path / f"y.{fmt}"
    if fmt == "csv":
        frame.assign(period=frame["period"].dt.strftime("%Y-%m-%d")).to_csv(src, index=False)
    else:
        frame.to_parquet(src, index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["impute", f"input={src}", f"output={out}", "seed=1", *TINY])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert not [w for w in caught if "infinite" in str(w.message)]
    lines = cap.out.splitlines()
    held = lines.index(next(line for line in lines if "held-back observed cell(s)" in line))
    scores = [line.split()[0] for line in lines[held + 1:] if line.split()[:1] in (["nrmse"], ["accuracy"])]
    assert scores == ["nrmse"], cap.out
    period_choice = next(line for line in lines[held:] if line.split()[:1] == ["period"])
    assert "error rate" not in period_choice and "1.0000  iterative 1.0000" not in period_choice
    observed = frame["period"].notna().to_numpy()
    if fmt == "csv":
        given = pd.read_csv(src, dtype=str, keep_default_na=False)["period"]
        back = pd.read_csv(out, dtype=str, keep_default_na=False)["period"]
        assert back[observed].tolist() == given[observed].tolist()
        assert back[~observed].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all(), back[~observed].tolist()
    else:
        given, back = pd.read_parquet(src)["period"], pd.read_parquet(out)["period"]
        assert back.dtype == given.dtype
        pd.testing.assert_series_equal(back[observed], given[observed])
        assert back.notna().all()
