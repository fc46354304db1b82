"""A series' leading / trailing gap (a forecast) was judged by interpolation: the held-back
runs were drawn among the observed cells, nearly all interior, and the choice made there
filled the end gap too (weekly co2 with its last year empty: linear chosen, the year
written flat, nrmse 0.027 printed, 0.13 on the year). Now the observed samples next to such
a gap are held back as long as it, the end gaps get their own choice on them, the summary
scores interior and end cells apart, a channel with nothing to fill is not scored, and a
draw that holds back nothing says why. Models and candidates are stand-ins (no training);
the references are hand-made arrays and ``score_holdout`` on the cells alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import encoderkit.impute as impute_mod
from encoderkit.impute_cells import Channel, channels, draw_holdout, score_holdout
from encoderkit.impute_report import ImputeReport


def test_the_samples_before_a_trailing_gap_are_held_back_as_long_as_it():
    x = np.arange(200.0)
    x[[50, 51, 120, 121]] = np.nan  # interior gaps of 2
    x[-30:] = np.nan  # a trailing gap of 30
    mask = draw_holdout([Channel("c", x)], 0.05, seed=0, runs=True, ends=True)["c"]
    assert mask[140:170].all() and not mask[170:].any()  # the 30 observed samples before the gap
    assert not (mask & np.isnan(x)).any()
    interior = np.flatnonzero(mask[:140])
    edges = np.diff(np.pad(mask[:140].astype(np.int8), 1))
    assert set(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)) <= {2, 4}  # runs as the interior gaps
    assert interior.size > 0

    # a gap longer than the series allows: the run is cut so the series keeps half its samples
    y = np.arange(100.0)
    y[-60:] = np.nan
    held = draw_holdout([Channel("c", y)], 0.05, seed=0, runs=True, ends=True)["c"]
    np.testing.assert_array_equal(np.flatnonzero(held), np.arange(20, 40))
    # both ends: shared in proportion to the gaps (10 and 20; 35 of 70 may go)
    z = np.arange(100.0)
    z[:10] = z[-20:] = np.nan
    held = draw_holdout([Channel("c", z)], 0.05, seed=0, runs=True, ends=True)["c"]
    np.testing.assert_array_equal(np.flatnonzero(held), np.r_[10:20, 60:80])


def test_a_series_without_an_end_gap_draws_the_same_cells():
    x = np.sin(np.arange(300.0))
    x[[40, 41, 42, 200, 201]] = np.nan
    chans = [Channel("a", x), Channel("b", x[::-1].copy())]
    before = draw_holdout(chans, 0.1, seed=3, runs=True)
    after = draw_holdout(chans, 0.1, seed=3, runs=True, ends=True)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])


N_SERIES, LENGTH, GAP = 6, 60, 8


@pytest.fixture
def series_case(monkeypatch):
    """Six series of a dict (one pool), each a line with interior gaps at 20-21 and 40-41
    and its last 8 samples empty; held back: runs at 10-11 and 30-31 and the 8 samples
    before the end gap. The model is exact inside and 2.0 off next to the end (and in the end
    gap); "linear" is 1.0 off inside (and in the interior gaps) and exact next to the end."""
    t = np.arange(LENGTH, dtype=np.float64)
    truth, holed, model, linear, hide = {}, {}, {}, {}, {}
    inner = np.zeros(LENGTH, bool)
    inner[[10, 11, 30, 31]] = True
    end = np.zeros(LENGTH, bool)
    end[LENGTH - 2 * GAP:LENGTH - GAP] = True
    for k in range(N_SERIES):
        v = 0.5 * t + k
        v[[20, 21, 40, 41]] = np.nan
        v[-GAP:] = np.nan
        key = f"s{k}"
        truth[key] = v
        holed[key] = np.where(inner | end, np.nan, v)
        line = 0.5 * t + k  # as at the real gaps: the end gap 2.0 off by the model, the interior ones by linear
        model[key] = np.where(end | (t >= LENGTH - GAP), line + 2.0, line)
        linear[key] = np.where(end | (t >= LENGTH - GAP), line, line + 1.0)
        hide[f"{key}:channel 0"] = inner | end
    monkeypatch.setattr(impute_mod, "ensemble_infill", lambda models, data, **kw: (model, None))
    monkeypatch.setattr(impute_mod, "candidate_fills", lambda *a, **kw: {"model": model, "linear": linear})
    return truth, holed, hide, inner, end


def test_end_gaps_get_their_own_choice_and_their_own_figure(series_case):
    truth, holed, hide, inner, end = series_case
    chans = list(channels(truth))
    scores, choices = impute_mod.held_back([object()], holed, chans, hide, None, [], series=True, select=True)
    for ch in chans:
        # inside, the model wins every run; next to the ends, linear wins every series' run
        assert choices[ch.name].used == "model"
        assert choices[ch.name].ends is not None and choices[ch.name].ends.used == "linear"
    by = {s.region: s for s in scores}
    assert set(by) == {"inner", "ends"}
    assert by["ends"].cells == N_SERIES * GAP and by["inner"].cells == N_SERIES * 4
    # the written figure next to the ends: linear's, exact; the model alone: 2.0 / sd per cell
    sd = np.array([np.nanstd(truth[f"s{k}"]) for k in range(N_SERIES)])
    assert by["ends"].written == pytest.approx(0.0, abs=1e-12)
    assert by["ends"].model == pytest.approx(np.sqrt(np.mean((2.0 / sd) ** 2)), rel=1e-12)
    assert by["inner"].written == pytest.approx(0.0, abs=1e-12) == by["inner"].model
    text = ImputeReport("timeseries", "o.npz", filled={ch.name: GAP + 4 for ch in chans},
                        scores=scores, choices=choices, holdout_cells=int(sum(m.sum() for m in hide.values())),
                        pools={ch.name: ch.group for ch in chans}).summary()
    assert "interior gaps: model" in text and "end gaps:      linear" in text
    assert "leading / trailing gaps" in text


def test_the_end_gaps_are_written_with_the_end_choice(series_case):
    from types import SimpleNamespace

    truth, holed, hide, _, _ = series_case
    chans = list(channels(truth))
    _, choices = impute_mod.held_back([object()], holed, chans, hide, None, [], series=True, select=True)
    report = ImputeReport("timeseries", "o.npz", choices=choices)
    inp = SimpleNamespace(data=truth, columns=None, categorical=[], series=True, series_column=None,
                          domain="timeseries", path="in.npz")
    out = impute_mod._fill([object()], inp, report, {ch.name: GAP + 4 for ch in chans})
    fills = impute_mod.candidate_fills()
    for key in truth:
        want = fills["model"][key].copy()
        want[-GAP:] = fills["linear"][key][-GAP:]  # only the end gap: the interior ones stay the model's
        np.testing.assert_array_equal(out[key], want)
    assert report.filled == {ch.name: GAP + 4 for ch in chans}


def test_a_channel_with_nothing_to_fill_does_not_move_the_headline(monkeypatch):
    rng = np.random.default_rng(0)
    truth = pd.DataFrame({"a": np.sin(np.arange(80) / 4), "u": rng.standard_normal(80)})
    truth.loc[[20, 21, 50], "a"] = np.nan  # "u" has no gap
    hide = {"a": np.zeros(80, bool), "u": np.zeros(80, bool)}
    hide["a"][[5, 6, 30, 31]] = True
    hide["u"][[10, 11, 60, 61, 70]] = True
    holed = truth.mask(pd.DataFrame(hide))
    guess = truth.fillna(0.0) + 0.1 * pd.DataFrame({"a": hide["a"], "u": 30.0 * hide["u"]})
    monkeypatch.setattr(impute_mod, "ensemble_infill", lambda models, data, **kw: (guess, None))
    chans = list(channels(truth))
    scores, _ = impute_mod.held_back([object()], holed, chans, hide, None, [], series=True, select=False)
    seen = {ch.name: ~np.isnan(ch.values) for ch in channels(holed)}
    base = {ch.name: np.interp(np.arange(80), np.flatnonzero(seen[ch.name]), ch.values[seen[ch.name]])
            for ch in channels(holed)}
    (want,) = score_holdout(chans[:1], list(channels(guess))[:1], base, {"a": hide["a"]})
    (got,) = scores
    assert got.cells == 4 and got.model == pytest.approx(want.model, rel=1e-12)
    text = ImputeReport("timeseries", "o.csv", filled={"a": 3}, scores=scores, holdout_cells=9,
                        unscored={"u": 5}).summary()
    assert "not scored: 5 cell(s) held back of u" in text


def test_no_held_back_cell_names_the_long_gap():
    from encoderkit.impute_regions import holdout_shortfall

    x = np.arange(526.0)
    x[100:401] = np.nan  # one gap of 301 in 225 observed samples (audit e's co2_half)
    chans = [Channel("co2", x)]
    assert not draw_holdout(chans, 0.05, seed=0, runs=True, ends=True)["co2"].any()
    why = holdout_shortfall(chans, 0.05, runs=True)
    text = ImputeReport("timeseries", "o.csv", filled={"co2": 301}, no_holdout=why).summary()
    assert "301 samples long" in text and "225 observed" in text
    assert "holdout=0 or too few observed cells" not in text
