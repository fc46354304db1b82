"""Series imputation at scale (many short series): the whole-series infill examples made
and decoded together (``domains/timeseries/whole.py``), the classical fills of many rows
at once (``rowfills.py``), the cross-validation folds of every series drawn together
(``periods._helps``) and a dict's cells sorted by key once (``impute_cells.set_cells``).
Each gives the bytes of the one-series code it replaces; the references here are that
code: featurize -> infill_example -> decode one series and grid pass at a time, and the
one-series functions of ``seasonal.py``."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from domains.timeseries import TimeSeriesDomain
from domains.timeseries import whole as whole_module
from domains.timeseries.periods import _helps, _median_gaps
from domains.timeseries.rowfills import naive_fills, seasonal_fill_rows, seasonal_fills, seasonal_naive_rows
from domains.timeseries.seasonal import (linear_fill, nan_run_lengths, period_helps, seasonal_fill,
                                        seasonal_naive)
from encoderkit.impute_cells import set_cells
from encoderkit.plausible_fills import plausible_series

SCHEMA = {"n_series": 60, "sum_length": 3000, "max_channels": 3, "max_length": 90}


def collection(n: int, seed: int, long_every: int = 0) -> dict[str, np.ndarray]:
    """A dict of series [C, L] (1-3 channels, 3-89 samples; every ``long_every``-th one
    600-1500 samples, cut into windows): cycles or random walks, gaps, a constant channel,
    an infinite sample, a -999 (the ``missing_value`` of some cases)."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        length = int(rng.integers(600, 1500)) if long_every and i % long_every == 0 else int(rng.integers(3, 90))
        c = int(rng.integers(1, 4))
        t = np.arange(length)
        period = int(rng.choice([5, 8, 12, 0]))
        x = np.stack([np.sin(2 * np.pi * t / period + k) * (k + 1) if period else np.cumsum(rng.normal(size=length))
                      for k in range(c)]) + rng.normal(scale=0.2, size=(c, length)) + rng.normal() * 3
        if i % 11 == 3:
            x[0] = 4.25  # a constant channel: filled with its value
        for k in range(c):
            for _ in range(int(rng.integers(0, 4))):
                a = int(rng.integers(0, max(1, length - 2)))
                x[k, a:a + int(rng.integers(1, 9))] = np.nan
            if np.isnan(x[k]).all():
                x[k, 0] = 1.0
        if i % 13 == 5 and length > 3:
            x[-1, 1] = np.inf
        if i % 9 == 2 and length > 4:
            x[0, 2] = -999.0
        out[f"s{i}"] = x
    return out


def predict(masked):
    """A stand-in model: a fixed function of every input field of each example, so a
    difference in any of them shows in the fill."""
    out = []
    for e in masked:
        at = e.predict
        v = e.inputs["values"][at].astype(np.float64)
        base = e.inputs["baseline"][at] if "baseline" in e.inputs else 0.0
        stats = e.inputs["stats"][at].sum(axis=1, keepdims=True) if "stats" in e.inputs else 0.0
        channel = e.inputs["channel"][at][:, None] if "channel" in e.inputs else 0.0
        out.append({"values": (0.3 * np.tanh(v + base) + 0.01 * stats + 0.02 * channel
                               + 0.001 * e.positions[at].sum(axis=1, keepdims=True)
                               + 0.05 * e.inputs["observed"][at]).astype(np.float32)})
    return out


def one_series_infill(d: TimeSeriesDomain, data: dict) -> tuple[list, dict]:
    """The reference: ``infill``'s loop one series and grid pass at a time (featurize ->
    windows -> infill_example, one ``predict`` call, decode, the passes averaged). Returns
    the examples handed to ``predict`` and the filled data."""
    arrays, how = d._series_arrays(data)
    total = d._data_patches(arrays)
    known = d._known_periods(arrays, total)
    masked, owner = [], []
    for i, arr in enumerate(arrays):
        for shift in d.infill_shifts():
            padded = np.concatenate([np.full((arr.shape[0], shift), np.nan), arr], axis=1)
            ex = d.featurize({"values": padded.reshape(-1), "channels": arr.shape[0], "length": padded.shape[1]})
            ex.context["data_patches"] = total
            if known:
                ex.context["periods"] = known
            back = d._falls_back({**ex.context, "length": arr.shape[1]})
            if back and shift:
                continue
            limit = len(ex) if back else int(d.options["infill_max_seqlen"] or 512)
            for w in d.windows(ex, limit, overlap=int(d.options["infill_overlap"])):
                m = d.infill_example(w)
                if m.predict.any():
                    masked.append(m)
                    owner.append((i, shift))
    sums = [np.zeros(a.shape) for a in arrays]
    counts = [np.zeros(a.shape) for a in arrays]
    for m, (i, shift), pr in zip(masked, owner, predict(masked)):
        rec = d.decode(pr, m)
        grid = rec["values"].reshape(rec["channels"], rec["length"])
        fill = rec["filled"].reshape(grid.shape)
        time = rec["time_start"] + np.arange(rec["length"]) - shift
        keep = time >= 0
        at = (rec["channel_ids"][:, None], time[keep][None, :])
        sums[i][at] += np.where(fill, grid, 0.0)[:, keep]
        counts[i][at] += fill[:, keep]
    filled = [np.divide(s, n, out=np.zeros_like(s), where=n > 0) for s, n in zip(sums, counts)]
    d._constant_fills(arrays, filled)
    # fills a channel could hold, as infill's last step (encoderkit/plausible_fills.py)
    filled = plausible_series(arrays, filled, [np.isfinite(a) & ~d._is_missing_value(a) for a in arrays])
    return masked, d._rebuild(data, how, filled)


def digest(examples) -> str:
    """The bytes of what ``predict`` reads of each example (inputs, positions, tokens), in order."""
    h = hashlib.sha256()
    for e in examples:
        for key, value in e.inputs.items():
            h.update(key.encode() + str(value.dtype).encode() + np.ascontiguousarray(value).tobytes())
        h.update(e.positions.tobytes() + e.predict.tobytes())
    return h.hexdigest()


CASES = {
    "seasonal, 4 passes (impute's settings)": dict(baseline="seasonal", infill_shifts=4),
    "linear, no window stats": dict(baseline="linear", infill_shifts=3, window_stats=False),
    "no baseline, no channel embedding": dict(baseline="none", infill_shifts=2, channel_embedding=False),
    "short series fall back": dict(baseline="seasonal", infill_shifts=4, short_fallback=6),
    "long series cut into windows": dict(baseline="seasonal", infill_shifts=4, infill_max_seqlen=40),
    "every series falls back": dict(baseline="linear", infill_shifts=4, data_fallback=100000),
    "rows built in small batches": dict(baseline="seasonal", infill_shifts=4),
    "a run's flat channels scaled by 1": dict(baseline="seasonal", infill_shifts=4, flat_scale="one"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_whole_series_infill_is_the_one_series_infill_bit_for_bit(case, monkeypatch):
    if "flat_scale" in CASES[case] and "flat_scale" not in TimeSeriesDomain({}).options:
        pytest.skip("no flat_scale option in this tree")
    data = collection(45, 0, long_every=7)
    d = TimeSeriesDomain(SCHEMA, patch=4, missing_value=-999.0, **CASES[case])
    want_examples, want = one_series_infill(d, data)
    if case == "rows built in small batches":  # a layout's rows cut into many batches
        monkeypatch.setattr(whole_module, "LAYOUT_SAMPLES", 300)
    made = []
    build = whole_module._Layout.build
    monkeypatch.setattr(whole_module._Layout, "build", lambda lay, *a: made.append(len(lay.rows)) or build(lay, *a))
    seen = []
    got = d.infill(data, lambda masked: seen.extend(masked) or predict(masked))
    assert sum(made) >= 45  # the whole-series path made most examples
    assert len(made) > (70 if case == "rows built in small batches" else 0)  # 56 batches unbounded
    assert digest(seen) == digest(want_examples)  # the model saw the same examples, in order
    assert list(got) == list(want)
    for key in data:
        assert got[key].tobytes() == want[key].tobytes(), key  # sign of zero and NaN bits too


def test_an_equal_length_array_and_its_candidates():
    """An [N, C, L] array (``EncoderImputer``-like input): the fill as one series at a time
    gives it, and the ``seasonal`` / ``naive`` candidates as each channel's own functions."""
    rng = np.random.default_rng(2)
    t = np.arange(70)
    x = np.stack([np.stack([np.sin(2 * np.pi * t / 7 + k) + 0.1 * rng.normal(size=70), rng.normal(size=70)])
                  for k in range(25)])
    x[rng.random(x.shape) < 0.15] = np.nan
    d = TimeSeriesDomain(SCHEMA, patch=4, baseline="seasonal", infill_shifts=4)
    _, want = one_series_infill(d, x)
    assert d.infill(x, predict).tobytes() == want.tobytes()
    from domains.timeseries.periods import seasonal_periods

    cands = d.infill_candidates(x, predict)
    detected, confirmed = seasonal_periods(list(x.reshape(-1, 70)))
    for j, ch in enumerate(x.reshape(-1, 70)):
        i, c = divmod(j, 2)
        own = seasonal_fill(ch, confirmed[j])[0] if confirmed[j] else linear_fill(ch)
        assert cands["seasonal"][i, c].tobytes() == own.tobytes()
        assert cands["naive"][i, c].tobytes() == seasonal_naive(ch, detected[j]).tobytes()
    assert any(confirmed)


def test_more_channels_than_the_model_learned_is_refused_as_before():
    d = TimeSeriesDomain({**SCHEMA, "max_channels": 2}, patch=4, baseline="seasonal")
    with pytest.raises(ValueError, match="a series with 3 channels, but the model learned 2"):
        d.infill({"a": np.ones((2, 20)), "b": np.where(np.arange(20) % 5, 1.0, np.nan) * np.ones((3, 1))}, predict)


def awkward_rows(k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """[k, n]: walks of any scale, gaps, an empty row, infinite samples."""
    x = rng.normal(size=(k, n)).cumsum(axis=1) * 10 ** rng.uniform(-3, 3, size=(k, 1)) + rng.normal(size=(k, 1)) * 50
    x[rng.random((k, n)) < rng.uniform(0, 0.6)] = np.nan
    x[0] = np.nan
    x[-1, ::3] = np.inf
    return x


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # seasonal_fill's mean of an empty row
def test_row_fills_are_the_one_series_fills_bit_for_bit():
    rng = np.random.default_rng(1)
    for trial in range(120):
        k, n = int(rng.integers(2, 30)), int(rng.integers(2, 200))
        x = awkward_rows(k, n, rng)
        periods = rng.integers(0, max(2, n // 2), size=k)
        periods[rng.random(k) < 0.3] = 0  # no period: linear interpolation
        got = seasonal_fill_rows(x, periods)
        naive = seasonal_naive_rows(x, int(periods[1]))
        for j in range(k):
            own = seasonal_fill(x[j], int(periods[j]))[0] if periods[j] else linear_fill(x[j])
            assert got[j].tobytes() == own.tobytes()
            assert naive[j].tobytes() == seasonal_naive(x[j], int(periods[1])).tobytes()
    lines = [awkward_rows(1, int(n), rng)[0] if n else np.empty(0) for n in rng.integers(0, 60, size=80)]
    periods = [None if i % 3 else int(rng.integers(2, 9)) for i in range(80)]
    for line, p, s, v in zip(lines, periods, seasonal_fills(lines, periods), naive_fills(lines, periods)):
        assert s.tobytes() == (seasonal_fill(line, p)[0] if p else linear_fill(line)).tobytes()
        assert v.tobytes() == seasonal_naive(line, p).tobytes()


def test_cross_validation_of_many_series_is_period_helps_of_each():
    rng = np.random.default_rng(5)
    xs, periods = [], []
    for i in range(600):
        n = int(rng.integers(8, 160)) if i % 2 else 64
        p = int(rng.integers(2, max(3, n // 3)))
        t = np.arange(n)
        x = np.sin(2 * np.pi * t / p) * rng.uniform(0, 3) + rng.normal(size=n) * rng.uniform(0.01, 2)
        x[rng.random(n) < rng.uniform(0, 0.4)] = np.nan
        for _ in range(int(rng.integers(0, 4))):
            a = int(rng.integers(0, n))
            x[a:a + int(rng.integers(1, 15))] = np.nan
        xs.append(x)
        periods.append(p)
    got = _helps(xs, periods)
    assert got == [period_helps(x, p) for x, p in zip(xs, periods)]
    assert 50 < sum(got) < 550  # both answers met
    gaps = _median_gaps(~np.isfinite(np.stack([x for x in xs if len(x) == 64])))
    want = [max(1, int(np.median(r))) if len(r) else 1 for r in map(nan_run_lengths, [x for x in xs if len(x) == 64])]
    assert gaps.tolist() == want


def test_set_cells_of_a_dict_reaches_each_key_and_only_it():
    """Cells named ``<key>:channel <c>`` go to their key, one whose name holds a colon too
    (it was split at the first colon: its cells were never set)."""
    data = {"a": np.zeros((2, 4)), "b:1": np.zeros((1, 4)), "b": np.zeros((1, 4))}
    mask = np.array([True, False, True, False])
    cells = {"a:channel 1": (mask, np.full(4, 5.0)), "b:1:channel 0": (mask, np.full(4, 7.0))}
    out = set_cells(data, cells, None)
    np.testing.assert_array_equal(out["a"], [[0, 0, 0, 0], [5, 0, 5, 0]])
    np.testing.assert_array_equal(out["b:1"], [[7, 0, 7, 0]])
    np.testing.assert_array_equal(out["b"], np.zeros((1, 4)))


def test_filling_the_file_makes_only_the_chosen_candidates():
    """``impute`` fills the file from the candidates chosen (``assemble``); the others, the
    ``encoder`` model pass among them, were made again and thrown away."""
    from encoderkit.impute_candidates import assemble, candidate_fills

    calls = []

    class Model:  # what candidate_fills reads of a loaded model
        def infill_domain(self, options):
            return TimeSeriesDomain(SCHEMA, patch=4, baseline="seasonal", short_fallback=12)

        def predict(self, masked):
            calls.append(len(masked))
            return predict(masked)

    data = collection(30, 3)
    every = candidate_fills([Model()], data, data, True, None, ())
    assert {"linear", "seasonal", "naive", "encoder"} <= set(every) and calls
    calls.clear()
    used = {f"s{i}:channel {c}": "seasonal" if c else "model" for i in range(30) for c in range(3)}
    chosen = candidate_fills([Model()], data, data, True, None, (), wanted=set(used.values()))
    assert set(chosen) == {"model", "seasonal"} and not calls  # no model pass
    want, got = assemble(every, used, data, None, ()), assemble(chosen, used, data, None, ())
    for key in data:
        assert got[key].tobytes() == want[key].tobytes()
