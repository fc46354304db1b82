"""Numeric fills a column could hold (``encoderkit.plausible_fills``): a column whose every
observed value is >= 0 is filled >= 0, one within [0, 1] within it, a column with a negative
value is left alone, and float32 noise off an observed value becomes that value; through the
rule itself (hand-computed cases), a table domain's fill (``encoderkit infill`` of a run),
``encoderkit impute``, ``EncoderImputer`` and a series domain's fill."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from encoderkit.plausible_fills import plausible_fills, plausible_values, column_range

TINY = ["model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
        "model.intermediate_size=32", "train.steps=3", "progress=false"]


# ------------------------------------------------------------------ the rule, hand-computed

def test_counts_clip_at_zero_fractions_at_zero_and_one_a_negative_column_is_left_alone():
    seen = pd.DataFrame({"count": [5.0, 7.0, 9.0], "share": [0.2, 0.9, 0.5], "delta": [-1.0, 5.0, 7.0],
                         "word": ["a", "b", "a"]})
    holes = pd.DataFrame({"count": [np.nan, np.nan], "share": [np.nan, np.nan], "delta": [np.nan, np.nan],
                          "word": [None, None]})
    data = pd.concat([seen] * 4 + [holes], ignore_index=True)  # 12 observed values a column
    filled = data.copy()
    filled.loc[12:, "count"], filled.loc[12:, "share"] = [-84.0, 3.0], [1.3, -0.1]
    filled.loc[12:, "delta"], filled.loc[12:, "word"] = [-84.0, 1.0], ["a", "b"]
    out = plausible_fills(data, filled)
    assert out["count"].tolist()[12:] == [0.0, 3.0]  # 0, not the observed minimum 5
    assert out["share"].tolist()[12:] == [1.0, 0.0]
    assert out["delta"].tolist()[12:] == [-84.0, 1.0]  # one negative value seen: no bound
    assert out["word"].tolist() == filled["word"].tolist()
    assert out["count"].dtype == np.float64
    # fewer than MIN_EVIDENCE observed values (and no training range): too little to bound by
    few = plausible_fills(data.iloc[[0, 1, 12]].reset_index(drop=True), filled.iloc[[0, 1, 12]].reset_index(drop=True))
    assert few["count"].tolist() == [5.0, 7.0, -84.0]


def test_float32_noise_off_an_observed_value_is_that_value_and_a_real_fill_is_not():
    seen = np.array([0.0, 1.5, 3.25, 8.294049, 2.0, 6.75])
    mean, sd = seen.mean(), seen.std()
    # the fill of each observed value made as the model makes it: normalised, held as float32
    through_f32 = np.float32((seen - mean) / sd).astype(np.float64) * sd + mean
    assert (through_f32 != seen).any()  # the case has noise to remove
    r = column_range(seen)
    np.testing.assert_array_equal(plausible_values(through_f32, r), seen)
    assert plausible_values(np.array([8.294049041734702, -4.873648506986683e-08]), r).tolist() == [8.294049, 0.0]
    genuine = np.array([8.2941, 3.2501, 1.0])  # 1e-4 off an observed value: a prediction, kept
    np.testing.assert_array_equal(plausible_values(genuine, r), genuine)


def test_series_array_channels_bounded_per_channel_pooled_over_series():
    t = np.arange(7, dtype=np.float64)
    data = np.stack([np.stack([1.0 + t, t - 1.0]), np.stack([4.0 + t, 2.0 + t])])  # [series, channel, time]
    data[:, :, 3] = np.nan
    filled = data.copy()
    filled[:, 0, 3], filled[:, 1, 3] = [-2.0, 1.00000001], [-2.0, -3.0]
    out = plausible_fills(data, filled)
    # channel 0: never negative in either series (12 values) -> clipped, snapped to the observed
    # 1.0; channel 1: -1 observed in series 0 -> left alone in both
    assert out[:, 0, 3].tolist() == [0.0, 1.0] and out[:, 1].tolist() == filled[:, 1].tolist()


def test_held_back_channels_scored_as_written():
    """impute's held-back fills (``Channel``s) under the rule, the held-back copy deciding."""
    from encoderkit.impute_cells import Channel

    base = np.arange(2.0, 12.0)  # 10 observed values: enough to bound by
    given = [Channel("n", np.r_[base, np.nan, np.nan]), Channel("d", np.r_[-2.0, base[1:], np.nan, 1.0])]
    made = [Channel("n", np.r_[base, -3.0, 4.0 + 1e-12]), Channel("d", np.r_[-2.0, base[1:], -3.0, 1.0])]
    from encoderkit.plausible_fills import plausible_channels

    out = plausible_channels(given, made)
    assert out[0].values.tolist()[-2:] == [0.0, 4.0] and out[1] is made[1]


# ------------------------------------------------------------------ a table domain's fill

def _chain_table(rows: int = 40) -> pd.DataFrame:
    """y = x + 10 (all >= 10), w = u + 10 but one observed -1, p = v / 20 + 0.5 (in [0.5, 1]),
    x, u, v apart; then rows 40 .. 43, each with one of them missing where its driver is far
    out (x = -60, u = -60, v = 60, v = -60): the linear chain extrapolates out of range (its
    fill of y there is about -50; at -500 the outlier's spread shrank its slope to nothing)."""
    rng = np.random.default_rng(0)
    x, u, v = (rng.uniform(0.0, 10.0, rows) for _ in range(3))
    frame = pd.DataFrame({"x": x, "y": x + 10.0, "u": u, "w": u + 10.0, "v": v, "p": v / 20.0 + 0.5})
    frame.loc[3, "w"] = -1.0
    far = frame.iloc[4:8].copy()
    for i, (driver, target, value) in enumerate((("x", "y", -60.0), ("u", "w", -60.0),
                                                  ("v", "p", 60.0), ("v", "p", -60.0))):
        far.iloc[i, far.columns.get_loc(driver)] = value
        far.iloc[i, far.columns.get_loc(target)] = np.nan
    return pd.concat([frame, far], ignore_index=True)


def _table_domain(frame: pd.DataFrame, **options):
    from domains.tabular.domain import TabularDomain

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TabularDomain.from_frame(frame, {"validation_fraction": 0.0}, **options)


def _at_edge(domain, edge: int):
    """A model predicting each hidden number at its column's first (0) or last (-1) quantile
    edge: the training minimum or maximum, through the float32 the model computes in."""
    lay = domain.layout

    def predict(examples):
        out = []
        for e in examples:
            cols = e.inputs["column"][e.predict]
            k = len(cols)
            bins = np.zeros((k, lay.num_bins))
            bins[:, 0 if edge == 0 else -1] = 10.0
            value = np.array([lay.edges[j, 0 if edge == 0 else int(lay.bin_valid[j].sum())] for j in cols])
            out.append({"cat_logits": np.zeros((k, lay.num_cat_rows)), "bin_logits": bins,
                        "value": value.reshape(k, 1)})
        return out
    return predict


def test_table_infill_chain_fill_below_zero_is_zero_above_one_is_one_negative_column_untouched():
    frame = _chain_table()
    domain = _table_domain(frame.iloc[:40], infill_blend="iterative")
    out = domain.infill(frame, _at_edge(domain, 0))
    # the chain's fill at x = -60 is far below 0 (the mean with the encoder's 10 too)
    assert out.loc[40, "y"] == 0.0
    assert out.loc[41, "w"] < -1.0  # w showed -1: it can hold negatives
    assert out.loc[42, "p"] == 1.0 and out.loc[43, "p"] == 0.0


def test_table_infill_of_new_rows_snaps_float32_noise_to_the_training_minimum_and_maximum():
    train = pd.DataFrame({"a": [0.0, 1.0, 2.5, 8.294049, 4.0, 3.0], "b": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    domain = _table_domain(train, infill_blend="none")
    new = pd.DataFrame({"a": [np.nan], "b": [2.0]})  # the rows being filled hold no value of a
    col = domain.columns[0]
    for edge, want in ((0, 0.0), (-1, 8.294049)):
        z = np.float32(col["edges"][edge])
        assert float(z) * col["std"] + col["mean"] != want  # the model's float32 misses it
        assert domain.infill(new, _at_edge(domain, edge)).loc[0, "a"] == want


def test_a_negative_value_in_a_validation_row_keeps_the_column_unbounded():
    """The schema's quantile edges are of the training split only: a column whose one negative
    value fell in a validation row was clipped at 0 by a trained run (review, session 54). The
    bounds are the schema's ``low`` / ``high``, over every row."""
    from domains.tabular.domain import TabularDomain
    from domains.tabular.plausible import plausible_numbers, training_range
    from encoderkit.data.split import validation_mask

    rows = 120
    val = np.flatnonzero(validation_mask(rows, 0.05, 0))
    y = np.linspace(1.0, 10.0, rows)
    frame = pd.DataFrame({"x": 2.0 * y, "y": y})
    frame.loc[val[0], "x"] = -4.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        domain = TabularDomain.from_frame(frame, {"validation_fraction": 0.05, "split_seed": 0})
    col = next(c for c in domain.columns if c["name"] == "x")
    assert col["edges"][0] * col["std"] + col["mean"] > 0  # the training split alone never went below 0
    assert training_range(col) == (-4.0, 20.0)
    assert plausible_numbers(np.array([-2.0]), np.array([3.0, np.nan]), col).tolist() == [-2.0]


def test_table_infill_of_new_rows_bound_only_where_the_training_rows_keep_to_it_too():
    """The same rows filled by two runs: one trained where y >= 0 clips the chain's fill at 0,
    one whose training rows held a negative y (its schema's minimum) leaves it below 0."""
    frame = _chain_table()
    y_pos = _table_domain(frame.iloc[:40], infill_blend="iterative")
    assert y_pos.infill(frame, _at_edge(y_pos, 0)).loc[40, "y"] == 0.0
    negative = frame.iloc[:40].copy()
    negative.loc[5, "y"] = -3.0
    y_neg = _table_domain(negative, infill_blend="iterative")
    assert y_neg.infill(frame, _at_edge(y_neg, 0)).loc[40, "y"] < -1.0


# ------------------------------------------------------------------ encoderkit impute, EncoderImputer

@pytest.mark.slow  # an impute run, over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_impute_cli_fills_a_count_at_zero_not_below(tmp_path, capsys):
    from encoderkit.cli import main

    src, out = tmp_path / "chain.csv", tmp_path / "filled.csv"
    _chain_table().to_csv(src, index=False)
    assert main(["impute", f"input={src}", f"output={out}", "select=model", "holdout=0", "seed=0", *TINY]) == 0, \
        capsys.readouterr().err
    got = pd.read_csv(out)
    assert got.loc[40, "y"] == 0.0 and got.loc[42, "p"] == 1.0 and got.loc[43, "p"] == 0.0
    assert got.loc[41, "w"] < -1.0


@pytest.mark.filterwarnings("ignore")
def test_encoder_imputer_blend_fill_of_a_count_at_zero_not_below():
    from encoderkit.sklearn import EncoderImputer

    frame = _chain_table()
    imp = EncoderImputer(model="impute", steps=3, random_state=0, select="model",
                         overrides=("model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
                                    "model.intermediate_size=32", "data.max_tokens=256", "data.max_seqlen=64"))
    out = imp.fit(frame).transform(frame)
    assert out.loc[40, "y"] == 0.0 and out.loc[42, "p"] == 1.0 and out.loc[43, "p"] == 0.0
    assert out.loc[41, "w"] < -1.0


# ------------------------------------------------------------------ a series domain's fill

def test_series_infill_model_fill_below_zero_is_zero_unless_the_channel_went_negative():
    from domains.timeseries.domain import TimeSeriesDomain

    t = np.arange(96, dtype=np.float64)
    x = np.stack([2.0 + np.sin(t / 5.0), np.sin(t / 5.0)])  # channel 0 >= 1, channel 1 crosses 0
    x[:, 40:44] = np.nan
    domain = TimeSeriesDomain({}, patch=4, short_fallback=8, infill_shifts=1)

    def plunge(masked):  # a model whose every hidden patch lies 50 scales below the level
        return [{"values": np.full((int(m.predict.sum()), domain.patch), -50.0, np.float32)} for m in masked]
    out = domain.infill(x, plunge)
    np.testing.assert_array_equal(out[0, 40:44], 0.0)
    assert (out[1, 40:44] < -1.0).all()
    np.testing.assert_array_equal(out[:, :40], x[:, :40])  # observed samples as given


@pytest.mark.slow  # an impute run, over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_impute_cli_series_fill_below_zero_is_zero_and_float32_noise_the_observed_value(tmp_path, capsys,
                                                                                         monkeypatch):
    """Whatever the models fill a non-negative series with, impute writes it plausible: a
    model's -5 as 0, its observed value + 1e-9 (float32 noise) as that value."""
    import encoderkit.impute as impute_module
    from encoderkit.cli import main

    t = np.arange(160, dtype=np.float64)
    x = np.round(3.0 + 2.0 * np.sin(t / 6.0), 3)
    x[[50, 51, 52, 120]] = np.nan
    real = impute_module.ensemble_infill

    def off(models, data, **kw):
        filled, spread = real(models, data, **kw)
        if isinstance(data, np.ndarray) and data.ndim == 1 and len(data) == len(x):
            filled = np.where(np.isnan(data), -5.0, filled)
            filled[120] = x[119] + 1e-9  # float32 noise off an observed value
        return filled, spread
    monkeypatch.setattr(impute_module, "ensemble_infill", off)
    src, out = tmp_path / "level.npy", tmp_path / "filled.npy"
    np.save(src, x)
    assert main(["impute", f"input={src}", f"output={out}", "select=model", "holdout=0", "domain.patch=8", *TINY]) == 0, \
        capsys.readouterr().err
    got = np.load(out)
    assert got[[50, 51, 52]].tolist() == [0.0, 0.0, 0.0] and got[120] == x[119]
