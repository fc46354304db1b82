"""Series exports as real files have them (audit s43, series): a channel observed as one
value, missing marks, thousands marks, a trailing separator, a DataFrame indexed by its
dates, and a file written back with its blank header cells, byte-order mark and CRLF.
A stand-in model (fixed outputs) where the point is what infill does with any output;
one tiny ``encoderkit impute`` run end to end."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from domains.timeseries import TimeSeriesDomain
from domains.timeseries.io import read_csv
from encoderkit.errors import DataError

TINY = ["model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
        "model.intermediate_size=32", "train.steps=3", "progress=false"]


def record(x: np.ndarray) -> dict:
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    return {"values": x.astype(np.float32).reshape(-1), "channels": x.shape[0], "length": x.shape[1]}


def constant_predict(value: float):
    """A stand-in model whose every output is ``value`` in normalised units: what a model
    that learnt to output raw values does (the single observed 5.5 was filled with 11.0)."""
    def predict(masked):
        return [{"values": np.full((int(m.predict.sum()), m.inputs["values"].shape[1]), value)}
                for m in masked]
    return predict


def zero_predict(masked):
    return constant_predict(0.0)(masked)


def wavy(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 10 + np.sin(np.arange(n) / 3.0) + 0.1 * rng.normal(size=n)


# ------------------------------------------------------------------ one observed value
def test_a_channel_observed_once_or_twice_alike_is_filled_with_that_value():
    """Fewer than two distinct observed values: the fills are that value (the baseline),
    whatever the model outputs; a normal channel beside them keeps the model's fills."""
    n = 48
    normal = wavy(n)
    normal[[5, 6, 20, 33]] = np.nan
    once = np.full(n, np.nan)
    once[17] = 5.5
    twice = np.full(n, np.nan)
    twice[[3, 40]] = 0.0042
    d = TimeSeriesDomain({}, patch=4)
    out = d.infill(np.vstack([normal, once, twice]), constant_predict(3.0))
    assert (out[1] == 5.5).all()  # was 8.5: 5.5 + 3.0 in "normalised" units of scale 1
    assert (out[2] == 0.0042).all()  # was 0.0042 + 3.0
    # the normal channel is filled as it is alone: the model's output, not the baseline
    alone = d.infill(normal[None, :], constant_predict(3.0))[0]
    np.testing.assert_array_equal(out[0], alone)
    assert not np.allclose(alone[np.isnan(normal)], np.interp(
        np.flatnonzero(np.isnan(normal)), np.flatnonzero(~np.isnan(normal)), normal[~np.isnan(normal)]))


def test_a_constant_channel_is_normalised_by_its_magnitude_not_in_data_units():
    """A scale of 1 put model outputs in the data's units (0.5 on a rate of 0.0042 or a
    level of 1e6): a constant channel's scale is its magnitude."""
    x = np.vstack([np.full(16, 0.0042), np.full(16, 1e6), np.linspace(0, 1, 16)])
    d = TimeSeriesDomain({}, patch=4)
    m = d.unmasked(d.featurize(record(x)))
    scale = m.context["scale"]
    assert scale[0] == pytest.approx(0.0042, rel=1e-6) and scale[1] == pytest.approx(1e6)
    assert scale[2] == pytest.approx(np.float32(np.linspace(0, 1, 16)).std(), rel=1e-6)


def test_a_window_channel_with_no_visible_sample_takes_no_hidden_statistic_and_no_loss():
    """Training: a channel whose samples in the window are all hidden got (mean 0, scale 1),
    so the model learnt to output its raw values; its targets are left out of the loss (they
    would be read from those same statistics). Session 50: it then took the series'
    statistics, which were counted with the hidden samples (a leak: the hidden 5.5 was its
    mean and scale); now nothing of the hidden value reaches the inputs."""
    def masked(hidden: float):
        x = np.vstack([wavy(16), np.full(16, np.nan)])
        x[1, 9] = hidden  # one observed sample, in token 2 of channel 1
        d = TimeSeriesDomain({}, patch=4)
        ex = d.featurize(record(x))
        hide = np.zeros_like(ex.fields["observed"])
        tok = int(np.flatnonzero((ex.context["c_index"] == 1) & ex.fields["observed"].any(axis=1))[0])
        hide[tok] = ex.fields["observed"][tok]  # the sample hidden: nothing visible in channel 1
        predict = np.zeros(len(ex), dtype=bool)
        predict[tok] = True
        predict[0] = True  # a token of channel 0 too (nothing hidden there)
        return d._masked(ex, hide, predict)

    m, other = masked(5.5), masked(100.0)
    assert not m.targets["target_mask"].any()  # was the raw 5.5 as a target in units of 1
    assert np.isfinite(m.inputs["stats"]).all()
    for name in m.inputs:
        np.testing.assert_array_equal(np.asarray(m.inputs[name]), np.asarray(other.inputs[name]), err_msg=name)


def test_a_window_with_one_visible_value_or_none_is_filled_with_its_baseline():
    """In a long series cut into windows, a window where a channel shows one value is
    filled with it, and one where it shows none with the series' mean, never with the
    model's output read in units of 1."""
    x = wavy(48)
    x[16:32] = np.nan
    x[20] = 7.0  # the one observed sample of window 2 (samples 16..31)
    x[32:48] = np.nan  # window 3: nothing observed
    d = TimeSeriesDomain({}, patch=4, infill_max_seqlen=4, infill_overlap=0)
    out = d.infill(x[None, :], constant_predict(3.0))[0]
    np.testing.assert_array_equal(out[16:32], 7.0)  # was 7.0 + 3.0
    np.testing.assert_allclose(out[32:48], x[~np.isnan(x)].mean(), rtol=1e-12)  # was 0 + 3.0


# ------------------------------------------------------------------ cells of a series file
@pytest.mark.parametrize("mark", ["-", "?", ".", "--", ".a"])
def test_missing_marks_in_a_channel_are_holes_with_a_warning(tmp_path, mark):
    """``-``, ``?`` (UCI), ``.`` (Stata / SAS) refused the series ("non-numeric cell"),
    though the table reader reads them as missing in any column."""
    path = tmp_path / "x.csv"
    path.write_text(f"date,co2\n2020-01-01,1.5\n2020-01-02,{mark}\n2020-01-03,2.5\n2020-01-04,{mark}\n")
    with pytest.warns(UserWarning, match=re.escape(f"column 'co2': 2 cell(s) {mark!r} read as missing values")):
        (s,) = read_csv(str(path), time_column="date")
    np.testing.assert_array_equal(s.values, [[1.5, np.nan, 2.5, np.nan]])
    d = TimeSeriesDomain({}, time_column="date")
    frame = d.read_input(str(path))  # infill / impute read it back alike: a number column
    assert pd.api.types.is_float_dtype(frame["co2"].dtype) and frame["co2"].isna().sum() == 2
    out = d.infill(frame, zero_predict)
    assert out["co2"].tolist() == [1.5, 2.0, 2.5, 2.5]


def test_missing_value_takes_a_word_or_a_list_as_the_table_option_does(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("date,a,b\n2020-01-01,1,n.v.\n2020-01-02,-999,2\n2020-01-03,3,4\n")
    with pytest.warns(UserWarning, match="'-999' read as missing"):  # its text too
        (s,) = read_csv(str(path), time_column="date", missing_value=["n.v.", -999])
    np.testing.assert_array_equal(s.values, [[1, np.nan, 3], [np.nan, 2, 4]])
    d = TimeSeriesDomain({}, time_column="date", missing_value=["n.v.", -999])
    frame = d.read_input(str(path))
    assert frame["b"].isna().tolist() == [True, False, False]
    filled = d.infill(frame, zero_predict)
    assert filled["a"].tolist() == [1, 2, 3] and filled["b"].tolist() == [2, 2, 4]
    assert TimeSeriesDomain({}, missing_value="?").options["missing_value"] == "?"
    with pytest.raises(ValueError, match="missing_value"):
        TimeSeriesDomain({}, missing_value=True)


def test_thousands_marks_are_named_not_taken_for_dates(tmp_path):
    """pandas parses "2,710.349" as a date, so the advice was "give time_column=realgdp",
    which would have ordered the rows by GDP."""
    path = tmp_path / "gdp.csv"
    path.write_text('date,realgdp\n1959-01-01,"2,710.349"\n1959-04-01,"2,778.801"\n'
                    '1959-07-01,"2,775.488"\n')
    with pytest.raises(DataError) as e:
        read_csv(str(path), time_column="date")
    msg = str(e.value)
    assert "numbers written with thousands marks (2,710.349): remove the thousands marks" in msg
    assert "time_column" not in msg


def test_a_trailing_separator_is_no_channel_and_is_written_back(tmp_path):
    path, out = tmp_path / "co2.csv", tmp_path / "out.csv"
    text = "date,co2,\n1958-03-29,316.1,\n1958-04-05,,\n1958-04-12,317.5,\n"
    path.write_text(text)
    (s,) = read_csv(str(path), time_column="date")
    assert s.channel_names == ["co2"]  # not 'Unnamed: 2', refused as a channel with no value
    d = TimeSeriesDomain({}, time_column="date")
    filled = d.infill(d.read_input(str(path)), zero_predict)
    d.write_output(filled, str(out))
    assert out.read_text() == "date,co2,\n1958-03-29,316.1,\n1958-04-05,316.8,\n1958-04-12,317.5,\n"


# ------------------------------------------------------------------ the file written back
@pytest.mark.parametrize("text", [
    b",co2\n2020-01-01,1.5\n2020-01-02,2.5\n",  # df.to_csv(): a blank index header
    b"\xef\xbb\xbfdate,co2\r\n2020-01-01,1.5\r\n2020-01-02,2.5\r\n",  # Excel's CSV UTF-8
    b"date,co2,\r\n2020-01-01,1.5,\r\n2020-01-02,2.5,\r\n",
])
def test_a_series_file_is_written_back_as_it_came(tmp_path, text):
    path, out = tmp_path / "x.csv", tmp_path / "out.csv"
    path.write_bytes(text)
    d = TimeSeriesDomain({})
    d.write_output(d.read_input(str(path)), str(out))
    assert out.read_bytes() == text  # was 'Unnamed: 0,co2', no mark, '\n'


def test_a_headerless_file_whose_first_line_is_a_date_and_numbers_is_warned_about(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("1958-03-29,316.1\n1958-04-05,317.3\n1958-04-12,\n")
    with pytest.warns(UserWarning, match=r"line 1 \('1958-03-29,316.1'\) looks like data"):
        TimeSeriesDomain({}).read_input(str(path))
    fine = tmp_path / "y.csv"
    fine.write_text("date,co2\n1958-03-29,316.1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TimeSeriesDomain({}).read_input(str(fine))


# ------------------------------------------------------------------ a DataFrame indexed by time
@pytest.mark.parametrize("kind", ["datetime", "period"])
def test_a_time_index_orders_the_rows_and_the_frame_comes_back_in_its_order(kind):
    """An unsorted frame indexed by its dates was filled as a scrambled series."""
    n = 30
    x = wavy(n)
    x[[4, 11, 12, 25]] = np.nan
    dates = pd.date_range("2020-01-01", periods=n, freq="D")
    index = dates if kind == "datetime" else dates.to_period("D")
    frame = pd.DataFrame({"v": x}, index=index)
    d = TimeSeriesDomain({}, patch=4)
    ref = d.infill(frame, zero_predict)
    shuffled = frame.sample(frac=1.0, random_state=0)
    got = d.infill(shuffled, zero_predict)
    assert got.index.equals(shuffled.index)  # the caller's order and index
    pd.testing.assert_frame_equal(got.loc[ref.index], ref, check_freq=False)
    with pytest.raises(DataError, match=r"time '2020-01-0.*' appears twice"):
        d.infill(pd.concat([frame, frame.iloc[[3]]]), zero_predict)


def test_a_date_index_repeated_across_series_is_read_per_series():
    dates = pd.date_range("2020-01-01", periods=12, freq="D")
    a, b = wavy(12, 1), wavy(12, 2) + 5
    a[5], b[7] = np.nan, np.nan
    frame = pd.concat([pd.DataFrame({"id": "a", "v": a}, index=dates),
                       pd.DataFrame({"id": "b", "v": b}, index=dates)]).sample(frac=1.0, random_state=1)
    d = TimeSeriesDomain({}, patch=4, series_column="id")
    out = d.infill(frame, zero_predict)
    assert out.index.equals(frame.index) and out["v"].notna().all()
    by = out.set_index("id", append=True)["v"]
    assert by.loc[(dates[5], "a")] == pytest.approx((a[4] + a[6]) / 2)
    assert by.loc[(dates[7], "b")] == pytest.approx((b[6] + b[8]) / 2)


# ------------------------------------------------------------------ end to end
def test_impute_a_spreadsheet_export_with_marks_and_a_channel_seen_once(tmp_path, capsys):
    """BOM, CRLF, a trailing separator, '-' / '?' / '.' holes, a channel with one observed
    value and one with two equal ones beside a normal one: filled and written back as it
    came, the one-value channels with their value."""
    from encoderkit.cli import main

    n = 60
    x = np.round(wavy(n), 2)
    rows = ["date,x,v,w,"]
    for i, d in enumerate(pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d")):
        xs = ["-", "?", "."][i % 3] if i % 7 == 3 else f"{x[i]:g}"
        rows.append(f"{d},{xs},{'5.5' if i == 17 else ''},{'0.0042' if i in (3, 40) else ''},")
    src, out = tmp_path / "export.csv", tmp_path / "filled.csv"
    src.write_bytes(("\r\n".join(rows) + "\r\n").encode("utf-8-sig"))
    code = main(["impute", f"input={src}", f"output={out}", "domain.patch=4", *TINY])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfdate,x,v,w,\r\n") and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    back = [line.split(",") for line in raw.decode("utf-8-sig").split("\r\n")[1:-1]]
    given = [line.split(",") for line in rows[1:]]
    assert len(back) == n and all(len(r) == 5 and r[4] == "" for r in back)
    for b, g in zip(back, given):
        assert b[0] == g[0] and float(b[2]) == 5.5 and float(b[3]) == 0.0042
        if g[1] not in ("-", "?", "."):
            assert b[1] == g[1]
        else:
            assert np.isfinite(float(b[1]))
