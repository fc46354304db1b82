"""Unit tests of the time-series domain (domains/timeseries)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from domains.timeseries import TimeSeriesDomain, channel_stats
from encoderkit.domain import IngestReport


def record(x: np.ndarray) -> dict:
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    return {"values": x.astype(np.float32).reshape(-1), "channels": x.shape[0], "length": x.shape[1]}


class ListWriter:
    """Collects what ingest appends (the RecordWriter protocol)."""

    def __init__(self) -> None:
        self.rows: list[tuple[dict, dict, str]] = []

    def append(self, fields, meta=None, id=None) -> int:
        self.rows.append((dict(fields), dict(meta or {}), id))
        return len(self.rows) - 1

    def series(self, i: int) -> np.ndarray:
        f, m, _ = self.rows[i]
        return f["values"].reshape(m["channels"], m["length"]).astype(np.float64)


def zero_predict(masked):
    """A stand-in model that predicts 0 in normalised units (= the window's channel mean)."""
    return [{"values": np.zeros((int(m.predict.sum()), m.inputs["values"].shape[1]))} for m in masked]


# ------------------------------------------------------------------ options
def test_options_are_validated_with_the_option_name_allowed_values_and_value():
    with pytest.raises(ValueError, match=r"'patch'.*int >= 1.*Got 0"):
        TimeSeriesDomain({}, patch=0)
    with pytest.raises(ValueError, match=r"'masker'.*Got 'nope'"):
        TimeSeriesDomain({}, masker="nope")
    with pytest.raises(ValueError, match=r"'mask_rate'"):
        TimeSeriesDomain({}, mask_rate=1.5)
    with pytest.raises(ValueError, match=r"unknown option\(s\) of the timeseries domain: \['bogus'\]"):
        TimeSeriesDomain({}, bogus=1)
    d = TimeSeriesDomain({}, masker={"random": 1, "tail": 1}, channel_independent=True)
    assert d.rope_axes == 1 and TimeSeriesDomain({}).rope_axes == 2
    assert set(d.describe()["options"]) >= {"patch", "masker", "mask_rate", "window_overlap"}


# ------------------------------------------------------------------ tokens
def test_featurize_makes_time_major_patches_with_2d_positions_and_observed_mask():
    x = np.arange(20, dtype=np.float64).reshape(2, 10)
    x[0, 3] = np.nan
    ex = TimeSeriesDomain({}, patch=4).featurize(record(x))
    # 3 patches x 2 channels, time-major: (t0,c0), (t0,c1), (t1,c0), ...
    assert ex.positions.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1]]
    assert ex.fields["values"].shape == (6, 4)
    np.testing.assert_array_equal(ex.fields["values"][1], [10, 11, 12, 13])
    np.testing.assert_array_equal(ex.fields["observed"][0], [True, True, True, False])
    # the last patch is padded past the series end as unobserved
    np.testing.assert_array_equal(ex.fields["observed"][4], [True, True, False, False])
    np.testing.assert_array_equal(ex.fields["values"][4], [8, 9, 0, 0])


def test_series_shorter_than_one_patch_is_padded_not_dropped():
    ex = TimeSeriesDomain({}, patch=16).featurize(record([1.0, 2.0, 3.0]))
    assert len(ex) == 1
    assert ex.fields["observed"][0].sum() == 3 and not ex.fields["observed"][0, 3:].any()


def test_channel_independent_mode_gives_one_sequence_per_channel_with_1d_positions():
    d = TimeSeriesDomain({}, patch=2, channel_independent=True)
    ex = d.featurize(record(np.arange(18.0).reshape(3, 6)))
    assert ex.positions.shape == (9, 1)
    ws = d.windows(ex, max_seqlen=64)
    assert len(ws) == 3
    for k, w in enumerate(ws):
        assert (w.context["c_index"] == k).all()
        assert w.positions[:, 0].tolist() == [0, 1, 2]
        np.testing.assert_array_equal(w.fields["values"].reshape(-1), np.arange(6.0) + 6 * k)


def test_windows_cover_every_token_respect_max_seqlen_and_overlap():
    d = TimeSeriesDomain({}, patch=2, window_overlap=2)
    ex = d.featurize(record(np.random.default_rng(0).normal(size=(3, 41))))  # 21 patches x 3
    ws = d.windows(ex, max_seqlen=12)  # 4 patches x 3 channels per window
    seen = np.zeros(len(ex), dtype=int)
    for w in ws:
        assert len(w) <= 12
        assert w.positions[:, 0].min() == 0  # each window starts its time axis at 0
        t = w.context["t_index"]
        assert set(np.unique(w.context["c_index"])) == {0, 1, 2}
        idx = t * 3 + w.context["c_index"]  # time-major token index in the record
        np.testing.assert_array_equal(w.fields["values"], ex.fields["values"][idx])
        seen[idx] += 1
    assert (seen >= 1).all()
    starts = sorted(int(w.context["t_index"].min()) for w in ws)
    ends = sorted(int(w.context["t_index"].max()) + 1 for w in ws)
    assert all(e - s >= 2 for s, e in zip(starts[1:], ends[:-1]))  # neighbours share 2 patches


# ------------------------------------------------------------------ normalisation
def test_statistics_ignore_unobserved_and_training_masked_values():
    rng = np.random.default_rng(1)
    x = rng.normal(5.0, 3.0, size=(2, 64))
    x[0, 5:9] = np.nan
    d = TimeSeriesDomain({}, patch=8, mask_rate=0.4)
    ex = d.featurize(record(x))
    m = d.mask(ex, np.random.default_rng(2))
    visible = m.inputs["observed"]
    hidden = ex.fields["observed"] & ~visible
    assert hidden.any()
    # float64 reference: plain mean / population std of the samples the model sees
    for c in range(2):
        rows = ex.context["c_index"] == c
        seen = ex.fields["values"][rows][visible[rows]]
        assert m.context["mean"][c] == pytest.approx(seen.mean(), rel=1e-12)
        assert m.context["scale"][c] == pytest.approx(seen.std(), rel=1e-12)
    # changing the hidden values changes nothing the model sees
    ex2 = d.featurize(record(x))
    ex2.fields["values"] = np.where(hidden, 1e9, ex2.fields["values"])
    m2 = d.mask(ex2, np.random.default_rng(2))
    np.testing.assert_array_equal(m2.inputs["values"], m.inputs["values"])
    np.testing.assert_array_equal(m2.inputs["observed"], m.inputs["observed"])


def test_constant_channel_does_not_divide_by_zero():
    mean, scale = channel_stats(np.full((3, 4), 7.5), np.ones((3, 4), bool), np.zeros(3, int), 2)
    assert mean.tolist() == [7.5, 0.0] and scale.tolist() == [1.0, 1.0]
    d = TimeSeriesDomain({}, patch=4)
    x = np.vstack([np.full(16, 1e6), np.linspace(0, 1, 16)])
    m = d.unmasked(d.featurize(record(x)))
    assert np.isfinite(m.inputs["values"]).all()
    np.testing.assert_array_equal(m.inputs["values"][m.context["c_index"] == 0], 0.0)


@pytest.mark.parametrize("baseline", ["none", "linear"])
def test_normalisation_round_trip_returns_original_units(baseline):
    rng = np.random.default_rng(3)
    x = rng.normal(300.0, 20.0, size=(2, 40))
    x[1, :] = 42.0  # a constant channel
    x = x.astype(np.float32).astype(np.float64)  # what the store keeps
    d = TimeSeriesDomain({}, patch=8, mask_rate=0.5, partial_mask=0.5, baseline=baseline)
    ex = d.featurize(record(x))
    m = d.mask(ex, np.random.default_rng(0))
    # a perfect model predicts the normalised truth (minus the linear interpolation of the
    # visible samples, computed here with np.interp); decode must give back the raw values
    truth_norm = np.empty((int(m.predict.sum()), 8))
    for row, tok in enumerate(np.flatnonzero(m.predict)):
        c = m.context["c_index"][tok]
        truth_norm[row] = (ex.fields["values"][tok] - m.context["mean"][c]) / m.context["scale"][c]
        if baseline == "linear":
            vis = m.inputs["observed"][m.context["c_index"] == c].reshape(-1)
            t = np.arange(40)
            xs = (x[c] - m.context["mean"][c]) / m.context["scale"][c]
            interp = np.interp(t, t[vis], xs[vis])
            t0 = m.context["t_index"][tok] * 8
            truth_norm[row] -= interp[t0:t0 + 8]
    np.testing.assert_allclose(m.targets["values"][m.targets["target_mask"]],
                               truth_norm[m.targets["target_mask"]], rtol=1e-5, atol=1e-5)
    rec = d.decode({"values": truth_norm}, m)
    grid = rec["values"].reshape(rec["channels"], rec["length"])
    np.testing.assert_allclose(grid, x.astype(np.float32), rtol=1e-12, atol=1e-9)
    assert rec["filled"].sum() == m.targets["target_mask"].sum()  # only the hidden samples


def test_gap_masker_hides_runs_at_any_offset_up_to_max_gap():
    d = TimeSeriesDomain({}, patch=4, masker="gap", mask_rate=0.2, max_gap=2)
    x = np.random.default_rng(0).normal(size=(1, 400))
    ex = d.featurize(record(x))
    fracs, longest, unaligned = [], 0, 0
    for seed in range(30):
        m = d.mask(ex, np.random.default_rng(seed))
        hidden = (ex.fields["observed"] & ~m.inputs["observed"]).reshape(-1)
        np.testing.assert_array_equal(m.predict, hidden.reshape(-1, 4).any(axis=1))
        fracs.append(hidden.mean())
        edges = np.flatnonzero(np.diff(np.r_[0, hidden.astype(int), 0]))
        runs = edges[1::2] - edges[::2]
        longest = max(longest, runs.max())
        unaligned += int((edges[::2] % 4 != 0).sum())
    assert 0.2 <= np.mean(fracs) <= 0.3  # at least the rate; overlapping runs may add a little
    assert unaligned > 0 and longest >= 8  # merged neighbouring runs may exceed max_gap


@pytest.mark.parametrize("masker", ["random", "span", "tail", "gap"])
def test_unobserved_samples_are_never_targets(masker):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 200))
    x[rng.random(x.shape) < 0.3] = np.nan
    x[2, 40:120] = np.nan  # whole patches missing
    d = TimeSeriesDomain({}, patch=8, masker=masker, partial_mask=0.5)
    ex = d.featurize(record(x))
    for seed in range(20):
        m = d.mask(ex, np.random.default_rng(seed))
        assert m.predict.any()
        obs = ex.fields["observed"][m.predict]
        tm = m.targets["target_mask"]
        assert tm.shape == obs.shape and not (tm & ~obs).any()
        assert tm.any(axis=1).all()  # every predicted token has something to learn
        assert not (m.inputs["observed"] & ~ex.fields["observed"]).any()
        # nothing hidden for training leaks into the input
        hidden_in = m.inputs["observed"][m.predict] & tm
        assert not hidden_in.any()
        assert (m.inputs["values"][~m.inputs["observed"]] == 0).all()


def test_tail_masker_predicts_the_last_patches_of_each_channel():
    d = TimeSeriesDomain({}, patch=4, masker="tail", mask_rate=0.25)
    ex = d.featurize(record(np.random.default_rng(0).normal(size=(2, 64))))  # 16 patches
    m = d.mask(ex, np.random.default_rng(0))
    t = ex.context["t_index"][m.predict]
    assert sorted(set(t.tolist())) == [12, 13, 14, 15] and m.predict.sum() == 8


# ------------------------------------------------------------------ head
def test_head_loss_is_the_weighted_mean_of_per_token_mse_on_target_samples():
    torch.manual_seed(0)
    d = TimeSeriesDomain({}, patch=3)

    class Cfg:
        hidden_size = 8

    head = d.head(Cfg())
    hidden = torch.randn(4, 8)
    truth = torch.randn(4, 3)
    mask = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 1, 1], [0, 0, 0]], dtype=torch.bool)
    w = torch.tensor([1.0, 0.5, 2.0, 3.0])
    out = head(hidden, {"values": truth, "target_mask": mask}, w)
    pred = out.predictions["values"].detach().double().numpy()
    t, mk, wn = truth.double().numpy(), mask.numpy(), w.double().numpy()
    per = [((pred[i] - t[i])[mk[i]] ** 2).mean() for i in range(3)]  # token 3 has no target
    ref = sum(wi * p for wi, p in zip(wn[:3], per)) / wn[:3].sum()
    assert out.loss.item() == pytest.approx(ref, rel=1e-5)


# ------------------------------------------------------------------ infill
def test_infill_leaves_observed_values_bit_identical_and_fills_every_nan():
    d = TimeSeriesDomain({}, patch=4)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 37)).astype(np.float32)
    x[0, [3, 17, 18, 19, 20, 21]] = np.nan
    x[1, 30:] = np.nan
    x[1, 5] = np.inf
    out = d.infill(x, zero_predict)
    assert out.dtype == x.dtype and out.shape == x.shape
    miss = ~np.isfinite(x)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[~miss].view(np.uint32), x[~miss].view(np.uint32))
    # a zero residual over the linear baseline is the linear interpolation of the neighbours
    np.testing.assert_allclose(out[0, 3], (float(x[0, 2]) + float(x[0, 4])) / 2, rtol=1e-5)
    np.testing.assert_allclose(out[0, 17:22], np.interp(np.arange(17, 22), [16, 22],
                                                        x[0, [16, 22]].astype(np.float64)), rtol=1e-5)
    # without a baseline, a zero prediction is the channel mean of the observed samples
    flat = TimeSeriesDomain({}, patch=4, baseline="none").infill(x, zero_predict)
    np.testing.assert_allclose(flat[0, 3], np.nanmean(x[0].astype(np.float64)), rtol=1e-6)
    # the other input kinds come back as the same kind
    lst = d.infill([x[0], x[1]], zero_predict)
    assert isinstance(lst, list) and lst[0].shape == (37,)
    np.testing.assert_array_equal(lst[0], out[0][None][0])
    frame = pd.DataFrame({"time": np.arange(37), "a": x[0], "b": x[1]})
    filled = TimeSeriesDomain({}, patch=4, time_column="time").infill(frame, zero_predict)
    np.testing.assert_array_equal(filled["time"], frame["time"])
    assert not filled[["a", "b"]].isna().any().any()
    np.testing.assert_array_equal(filled["a"].to_numpy()[~miss[0]], frame["a"].to_numpy()[~miss[0]])


def test_infill_stitches_windows_and_averages_overlaps():
    # 3 windows of 2 patches (patch 2) with 1 patch overlap over 4 patches: [0,2) [1,3) [2,4)
    d = TimeSeriesDomain({}, patch=2, infill_max_seqlen=2, infill_overlap=1, baseline="none")
    x = np.array([1.0, 2.0, 4.0, np.nan, 8.0, 16.0, 32.0, 64.0])
    out = d.infill(x, zero_predict)
    # sample 3 lies in patch 1, seen by windows [0,2) (mean of 1,2,4) and [1,3) (mean of 4,8,16)
    assert out[3] == pytest.approx(((1 + 2 + 4) / 3 + (4 + 8 + 16) / 3) / 2, rel=1e-12)


def test_infill_shifts_average_the_passes_over_patch_grid_offsets():
    """Each pass puts the patch grid ``s`` samples earlier; the fill of a sample is the
    mean over passes of what its token got. A predictor returning each token's grid
    parity (a residual in the window's std units) gives a hand-computable mean."""
    p, x = 4, np.sin(np.arange(40.0) / 3.0)
    x[10:14] = np.nan
    d = TimeSeriesDomain({}, patch=p, baseline="linear", infill_shifts=4)
    assert d.infill_shifts() == [0, 1, 2, 3]
    assert TimeSeriesDomain({}, patch=8, infill_shifts=4).infill_shifts() == [0, 2, 4, 6]
    assert TimeSeriesDomain({}, patch=2, infill_shifts=4).infill_shifts() == [0, 1]

    def parity(masked):
        return [{"values": np.repeat((m.context["t_index"][m.predict] % 2)[:, None].astype(float), p, 1)}
                for m in masked]

    out = d.infill(x.copy(), parity)
    seen = np.isfinite(x)
    np.testing.assert_array_equal(out[seen], x[seen])
    t = np.arange(10, 14)
    line = np.interp(t, [9, 14], x[[9, 14]])
    residual = np.mean([((t + s) // p) % 2 for s in range(4)], axis=0)
    np.testing.assert_allclose(out[10:14], line + np.std(x[seen]) * residual, rtol=1e-5, atol=1e-6)
    # interpolation is the same on every grid: with a zero residual the passes agree
    np.testing.assert_allclose(d.infill(x.copy(), zero_predict)[10:14], line, rtol=1e-5)
    with pytest.raises(ValueError, match="infill_shifts"):
        TimeSeriesDomain({}, infill_shifts=0)


def test_infill_shifts_make_one_pass_for_a_series_filled_by_the_baseline():
    calls = []

    def count(masked):
        calls.append(len(masked))
        return zero_predict(masked)

    x = np.array([1.0, 2.0, np.nan, 4.0, 5.0, 6.0, np.nan, 8.0])
    out = TimeSeriesDomain({}, patch=2, infill_shifts=2, short_fallback=16).infill(x, count)
    np.testing.assert_allclose(out[[2, 6]], [3.0, 7.0], rtol=1e-6)
    assert calls == [1]  # one window, one pass
    TimeSeriesDomain({}, patch=2, infill_shifts=2).infill(x, count)
    assert calls[-1] == 2


def test_infill_file_round_trip_is_atomic_and_same_format(tmp_path):
    d = TimeSeriesDomain({}, patch=4)
    data = {"a": np.array([1.0, np.nan, 3.0, 4.0, 5.0]), "b": np.arange(12.0).reshape(2, 6)}
    np.savez(tmp_path / "in.npz", **data)
    loaded = d.read_input(str(tmp_path / "in.npz"))
    out = d.infill(loaded, zero_predict)
    d.write_output(out, str(tmp_path / "out.npz"))
    back = d.read_input(str(tmp_path / "out.npz"))
    assert set(back) == {"a", "b"} and np.isfinite(back["a"]).all()
    np.testing.assert_array_equal(back["b"], data["b"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npz", "out.npz"]


# ------------------------------------------------------------------ ingest
def test_ingest_wide_csv_with_series_column_inf_and_all_nan(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("id,time,a,b\n"
                    "s1,2,2.0,20\n"
                    "s1,1,1.0,10\n"
                    "s1,3,inf,\n"
                    "s2,1,,\n"
                    "s2,2,NaN,NA\n"
                    "s3,1,5,6\n")
    w, rep = ListWriter(), IngestReport()
    schema = TimeSeriesDomain.ingest([str(path)], w, rep, time_column="time", series_column="id")
    assert rep.skipped["all values missing"] == 1  # s2
    assert len(w.rows) == 2 and schema["max_channels"] == 2 and schema["max_length"] == 3
    np.testing.assert_array_equal(w.series(0), [[1, 2, np.nan], [10, 20, np.nan]])  # sorted by time
    assert any("infinite" in msg for msg in rep.warnings)
    np.testing.assert_array_equal(w.series(1), [[5], [6]])


def test_ingest_long_csv_pivots_channels_and_times(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("sid,t,ch,v\nA,1,x,1\nA,2,x,2\nA,1,y,5\nA,3,y,7\nB,1,x,9\n")
    w, rep = ListWriter(), IngestReport()
    TimeSeriesDomain.ingest([str(path)], w, rep, time_column="t", series_column="sid",
                            value_column="v", channel_column="ch")
    np.testing.assert_array_equal(w.series(0), [[1, 2, np.nan], [5, np.nan, 7]])
    np.testing.assert_array_equal(w.series(1), [[9], [np.nan]])


def test_ingest_non_numeric_cell_names_file_row_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n3,oops\n")
    with pytest.raises(ValueError, match=r"bad\.csv.*'oops'.*row 2 \(line 3\).*column 'b'"):
        TimeSeriesDomain.ingest([str(path)], ListWriter(), IngestReport())


def test_ingest_numpy_files_of_unequal_lengths_and_refuses_pickle(tmp_path):
    np.savez(tmp_path / "s.npz", a=np.arange(5.0), b=np.ones((2, 9)), c=np.zeros((3, 1, 4)))
    np.save(tmp_path / "x.npy", np.ones((2, 3, 7)))
    w, rep = ListWriter(), IngestReport()
    TimeSeriesDomain.ingest([str(tmp_path / "s.npz"), str(tmp_path / "x.npy")], w, rep)
    shapes = [(m["channels"], m["length"]) for _, m, _ in w.rows]
    # constant-zero series are observed values, so they are kept
    assert shapes == [(1, 5), (2, 9), (1, 4), (1, 4), (1, 4), (3, 7), (3, 7)]
    np.save(tmp_path / "obj.npy", np.array([np.ones(3), np.ones(4)], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"obj\.npy.*pickle.*npz"):
        TimeSeriesDomain.ingest([str(tmp_path / "obj.npy")], ListWriter(), IngestReport())


def test_sample_sources_are_real_bundled_series(tmp_path):
    paths, options = TimeSeriesDomain.sample_sources(str(tmp_path))
    w, rep = ListWriter(), IngestReport()
    TimeSeriesDomain.ingest(paths, w, rep, **options)
    assert [(m["channels"], m["length"]) for _, m, _ in w.rows] == [(1, 1040), (3, 203)]
    assert w.series(0)[0, 0] == pytest.approx(316.1)  # CO2, 1958-03-29
    assert np.isnan(w.series(0)).any()  # the real gaps of the record are kept as missing
    x = TimeSeriesDomain({}).sample_infill_input()
    assert np.isnan(x).sum() >= 11 and len(x) == 208


def test_windows_split_channels_into_groups_when_there_are_more_than_max_seqlen():
    d = TimeSeriesDomain({}, patch=2)
    ex = d.featurize(record(np.arange(50.0).reshape(5, 10)))  # 5 patches x 5 channels
    ws = d.windows(ex, max_seqlen=3)  # groups of 3 + 2 channels, 1 patch per window
    seen = np.zeros(len(ex), dtype=int)
    for w in ws:
        assert len(w) <= 3
        seen[w.context["t_index"] * 5 + w.context["c_index"]] += 1
    assert (seen == 1).all()


def test_channel_independent_infill_of_a_frame_with_series_column():
    d = TimeSeriesDomain({}, patch=3, channel_independent=True, series_column="sid")
    rng = np.random.default_rng(6)
    frame = pd.DataFrame({"sid": ["a"] * 10 + ["b"] * 7, "u": rng.normal(size=17),
                          "v": rng.normal(size=17), "note": ["x"] * 17})
    frame.loc[[2, 3, 12], "u"] = np.nan
    frame.loc[[0, 15], "v"] = np.nan
    out = d.infill(frame, zero_predict)
    assert list(out.columns) == list(frame.columns) and (out["note"] == "x").all()
    assert not out[["u", "v"]].isna().any().any()
    for col in ("u", "v"):
        keep = frame[col].notna().to_numpy()
        np.testing.assert_array_equal(out[col].to_numpy()[keep], frame[col].to_numpy()[keep])
    # zero residual over the baseline: a gap inside series "a" is the linear interpolation
    # between its neighbours, never mixing in series "b"
    u = frame["u"].to_numpy()
    np.testing.assert_allclose(out["u"].to_numpy()[[2, 3]], np.interp([2, 3], [1, 4], u[[1, 4]]),
                               rtol=1e-5)


def test_featurize_rejects_a_malformed_record_by_id():
    d = TimeSeriesDomain({})
    with pytest.raises(ValueError, match=r"'s7'.*5 samples but channels=2 x length=3"):
        d.featurize({"values": np.zeros(5, np.float32), "channels": 2, "length": 3, "id": "s7"})
    with pytest.raises(ValueError, match=r"'s8' has no 'length'"):
        d.featurize({"values": np.zeros(5, np.float32), "channels": 1, "id": "s8"})


# ------------------------------------------------------------------ patch=auto
def test_auto_patch_follows_the_mean_series_length(tmp_path):
    from domains.timeseries.domain import auto_patch
    from encoderkit.data.store import RecordStore
    from encoderkit.registry import build_domain

    # hand cases of the rule: 2 under 64 samples, 4 under 512, else 8; max_length for old stores
    assert auto_patch({"n_series": 3, "sum_length": 3 * 63, "max_length": 5000}) == 2
    assert auto_patch({"n_series": 2, "sum_length": 128}) == 4
    assert auto_patch({"n_series": 1, "sum_length": 512}) == 8
    assert auto_patch({"max_length": 100}) == 4
    assert auto_patch({}) == 16
    # vowels of 7-26 samples and one long series: the mean (20.6), not the longest
    lengths = [7, 12, 26, 20, 18, 22, 9, 11, 60]
    rng = np.random.default_rng(0)
    report = TimeSeriesDomain.ingest_arrays([rng.normal(size=(2, n)) for n in lengths], str(tmp_path / "s"))
    store = RecordStore(str(tmp_path / "s"))
    assert store.schema["n_series"] == 9 and store.schema["sum_length"] == sum(lengths)
    assert report.tokens == sum(2 * -(-n // 2) for n in lengths)  # counted with the resolved patch
    d = TimeSeriesDomain(store.schema, patch="auto")
    assert d.patch == 2 and d.options["patch"] == 2
    assert build_domain(d.describe()).patch == 2  # a saved run keeps the int
    assert TimeSeriesDomain(store.schema, patch=8).patch == 8
    with pytest.raises(ValueError, match="patch"):
        TimeSeriesDomain(store.schema, patch="big")


def test_merged_schemas_sum_the_length_counts():
    a = {"format_version": 1, "max_channels": 1, "max_length": 10, "n_series": 2, "sum_length": 15}
    b = {"format_version": 1, "max_channels": 3, "max_length": 40, "n_series": 1, "sum_length": 40}
    merged = TimeSeriesDomain.merge_schemas([a, b])
    assert merged == {"format_version": 1, "max_channels": 3, "max_length": 40, "n_series": 3,
                      "sum_length": 55}


@pytest.mark.parametrize("patch, expect", [("auto", 2), (4, 4), (None, 2)])
def test_ingest_counts_tokens_with_the_patch_a_model_would_get(tmp_path, patch, expect):
    """None: no patch given, as `encoderkit ingest` runs by default (the run's patch=auto);
    the report counted 10,000 series of 20 samples as 20,000 tokens (patch 16), not 100,000."""
    from encoderkit.data.ingest import ingest

    lengths = [7, 30, 11]  # mean 16: auto -> 2
    np.savez(tmp_path / "s.npz", **{f"s{i}": np.ones((3, n)) for i, n in enumerate(lengths)})
    report = ingest("timeseries", [str(tmp_path / "s.npz")], str(tmp_path / "s.zarr"),
                    progress=False, **({} if patch is None else {"patch": patch}))
    assert report.tokens == sum(3 * -(-n // expect) for n in lengths)


class FixedDraw:
    """An rng whose ``integers`` returns a chosen value (the grid shift under test)."""

    def __init__(self, value: int) -> None:
        self.value = value

    def integers(self, low, high=None):
        return self.value


@pytest.mark.parametrize("independent", [False, True])
def test_grid_shift_equals_featurizing_the_series_without_its_first_samples(independent):
    """Reference: the series with its first ``s`` samples cut off, featurized from scratch.
    Dropping ``s`` leading samples and re-cutting the window must give exactly its tokens,
    observed flags and positions (time indices counted from the window's start)."""
    from domains.timeseries.augment import shift_grid

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 37))
    x[1, 5:9] = np.nan
    x[2, 30:] = np.nan
    d = TimeSeriesDomain({}, patch=4, channel_independent=independent)
    example = d.featurize(record(x))
    for s in range(4):
        got = shift_grid(example, 4, independent, FixedDraw(s))
        want = d.featurize(record(x[:, s:]))
        np.testing.assert_array_equal(got.fields["observed"], want.fields["observed"])
        np.testing.assert_array_equal(got.fields["values"], want.fields["values"])
        np.testing.assert_array_equal(got.positions, want.positions)
        np.testing.assert_array_equal(got.context["t_index"], want.context["t_index"])
        np.testing.assert_array_equal(got.context["c_index"], want.context["c_index"])
        assert len(got) <= len(example)
    # a window further in: its tokens are the reference's over the same patch indices, the
    # last one short of the s samples that belong to the next window; never a token more
    window = d.windows(example, 12 if not independent else 4)[1]
    got = shift_grid(window, 4, independent, FixedDraw(3))
    want = d.featurize(record(x[:, 3:]))
    assert len(got) <= len(window)
    for i, (t, c) in enumerate(zip(got.context["t_index"], got.context["c_index"])):
        (j,) = np.flatnonzero((want.context["t_index"] == t) & (want.context["c_index"] == c))
        seen = got.fields["observed"][i]
        assert not (seen & ~want.fields["observed"][j]).any()
        np.testing.assert_array_equal(got.fields["values"][i][seen], want.fields["values"][j][seen])


def test_grid_shift_is_the_training_augmentation_only_when_asked():
    x = np.sin(np.arange(50.0))
    rng = np.random.default_rng(0)
    off = TimeSeriesDomain({}, patch=4)
    example = off.featurize(record(x))
    assert off.augment(example, rng) is example  # default: no augmentation
    on = TimeSeriesDomain({}, patch=4, grid_shift=True)
    lengths = {len(on.augment(example, np.random.default_rng(k))) for k in range(20)}
    assert lengths == {13, 12}  # 50 samples: 13 patches at shift 0-1, 12 at 2-3
    assert TimeSeriesDomain({}, patch=1, grid_shift=True).augment(example, rng) is example
    with pytest.raises(ValueError, match="grid_shift"):
        TimeSeriesDomain({}, grid_shift="yes")


def test_records_of_user_data_are_named_by_their_series_key():
    """predict writes each record's id: a long table's series are named by their
    series_column value (rows in any order), a dict of single
    series by its keys, anything else series<i>."""
    d = TimeSeriesDomain({}, series_column="sid", time_column="t")
    long = pd.DataFrame({"sid": ["b", "a", "b", "a", "c"], "t": [1, 0, 0, 1, 0], "v": [2.0, 3.0, 1.0, 4.0, 5.0]})
    recs = {r["id"]: r["values"] for r in d.to_records(long)}
    assert list(recs) == ["a", "b", "c"]  # the order in which the sorted table meets them
    np.testing.assert_array_equal(recs["b"], [1.0, 2.0])  # each series in time order
    np.testing.assert_array_equal(recs["a"], [3.0, 4.0])
    assert [r["id"] for r in d.to_records({"x": np.zeros(8), "y": np.ones(8)})] == ["x", "y"]
    assert [r["id"] for r in d.to_records(np.zeros((2, 1, 8)))] == ["series0", "series1"]


def test_series_without_an_observed_value_are_warned_of_from_python_as_from_a_file():
    """(audit s44) ``embed([np.full(20, nan), ...])`` gave the model's answer to no data
    without a word, while the same series read from a file was warned of."""
    dom = TimeSeriesDomain({})
    with pytest.warns(UserWarning, match=r"1 series with no observed value \(series0\)"):
        recs = dom.to_records([np.full(20, np.nan), np.sin(np.arange(40.0))])
    assert len(recs) == 2  # one output row per series given, as for a file
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dom.to_records([np.sin(np.arange(40.0))])
