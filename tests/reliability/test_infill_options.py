"""Infill options are set at infill time (CLI and API), declared and validated by the
domain; the time-series infill window defaults to the run's training window. Ingest
reports tokens (not raw samples) and its progress bar's count is never stale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encoderkit.errors import UsageError
from encoderkit.infer import load

from .conftest import run_cli


def test_unknown_infill_option_lists_the_allowed_ones(runs):
    model = load(runs["tabular"].dir)
    with pytest.raises(UsageError, match=r"unknown infill option\(s\) \['window'\].*allowed: \['infill_blend', 'numeric_decode'\]"):
        model.infill(pd.read_csv(runs["tabular"].raw[0]).iloc[:3], window=8)


def test_invalid_infill_option_value_is_a_usage_error(runs):
    model = load(runs["tabular"].dir)
    with pytest.raises(UsageError, match="numeric_decode"):
        model.check_infill_options({"numeric_decode": "guess"})


def test_numeric_decode_changes_the_filled_values_and_nothing_else(runs):
    """clip and regression decode the same predictions; observed cells are identical."""
    model = load(runs["tabular"].dir)
    frame = pd.read_csv(runs["tabular"].raw[0]).iloc[:40].copy()
    numeric = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])
               or pd.api.types.is_integer_dtype(frame[c])]
    col = numeric[-1]
    frame[col] = frame[col].astype(float)
    frame.loc[frame.index[:10], col] = np.nan
    clip = model.infill(frame, numeric_decode="clip")
    regr = model.infill(frame, numeric_decode="regression")
    observed = frame[col].notna()
    pd.testing.assert_series_equal(clip[col][observed], frame[col][observed])
    pd.testing.assert_series_equal(regr[col][observed], frame[col][observed])
    assert clip[col].notna().all() and regr[col].notna().all()
    assert model.domain.options["numeric_decode"] == "clip"  # the loaded model is unchanged


def test_infill_options_on_the_cli(runs, tmp_path, capsys):
    from encoderkit.cli import main

    t = runs["tabular"]
    frame = pd.read_csv(t.raw[0]).iloc[:20].copy()
    frame.iloc[:5, 1] = np.nan
    src = tmp_path / "holes.csv"
    frame.to_csv(src, index=False)
    assert main(["infill", f"checkpoint={t.dir}", f"input={src}", f"output={tmp_path / 'o.csv'}",
                 "numeric_decode=regression"]) == 0
    assert not pd.read_csv(tmp_path / "o.csv").iloc[:, 1].isna().any()
    run_cli(capsys, ["infill", f"checkpoint={t.dir}", f"input={src}", f"output={tmp_path / 'p.csv'}",
                     "overlap=3"], 2, "overlap", "allowed: ['infill_blend', 'numeric_decode']")


def test_timeseries_window_defaults_to_the_run_window_and_can_be_set(runs):
    model = load(runs["timeseries"].dir)
    assert model.max_seqlen == 64  # the run's data.max_seqlen (conftest writes config.yaml)
    assert model.infill_domain({}).options["infill_max_seqlen"] == 64
    assert model.infill_domain({"window": 16, "overlap": 2}).options["infill_max_seqlen"] == 16
    with pytest.raises(UsageError, match="infill_overlap"):
        model.check_infill_options({"overlap": -1})
    x = np.sin(np.arange(300) / 7.0)
    x[100:130] = np.nan
    for window in (8, 64):  # a different window still fills every gap and keeps observed values
        out = model.infill(x, window=window)
        assert np.isfinite(out).all()
        np.testing.assert_array_equal(out[~np.isnan(x)], x[~np.isnan(x)])


def test_timeseries_ingest_reports_patch_tokens_and_samples(tmp_path, capsys):
    from encoderkit.data.ingest import ingest

    csv = tmp_path / "s.csv"
    pd.DataFrame({"time": np.arange(100), "a": np.arange(100.0), "b": np.ones(100)}).to_csv(csv, index=False)
    report = ingest("timeseries", [str(csv)], str(tmp_path / "o.zarr"), progress=False, time_column="time",
                    patch=16)
    # 2 channels x ceil(100 / 16) = 7 patches each; 200 samples
    assert report.tokens == 14 and report.counts["samples"] == 200
    out = capsys.readouterr().out
    assert "tokens: 14" in out and "samples: 200" in out


def test_ingest_progress_bar_shows_the_final_token_count(tmp_path, capsys):
    from encoderkit.data.ingest import ingest

    fa = tmp_path / "a.fa"
    fa.write_text("".join(f">r{i}\n{'ACGT' * (i + 1)}\n" for i in range(300)))
    ingest("genomic", [str(fa)], str(tmp_path / "o.zarr"), progress=True)
    err = capsys.readouterr().err
    total = sum(4 * (i + 1) for i in range(300))
    assert f"tokens={total}" in err.replace("\r", "\n").strip().splitlines()[-1]
