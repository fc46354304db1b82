"""The series side of ``benchmarks/imputation_lodo.py``: the patch length and the gaps of the
protocol, the classical fills it compares with (linear, seasonal, Kalman), the score of the
hidden samples, and the per-channel choice of ``select=auto`` over a dataset's series."""

from __future__ import annotations

import time

import numpy as np

from domains.timeseries.seasonal import detect_period, linear_fill, seasonal_fill, seasonal_naive
from encoderkit.impute import assemble
from encoderkit.impute_cells import channels, select_fills


def auto_patch(length: int) -> int:
    """Patch length from the typical series length: about 16+ patches per series."""
    return 2 if length < 64 else 4 if length < 512 else 8


def make_gaps(x: np.ndarray, patch: int, rng: np.random.Generator) -> np.ndarray:
    """int [C, L]: 0 = not hidden, k = hidden in a gap of k patch lengths (k in 1..3)."""
    c, n = x.shape
    lab = np.zeros((c, n), dtype=np.int64)
    for ch in range(c):
        obs = np.isfinite(x[ch])
        want = max(1, int(0.15 * obs.sum() / (2 * patch)))
        placed = tries = 0
        while placed < want and tries < 200 * want:
            tries += 1
            k = int(rng.integers(1, 4))
            length = k * patch
            if n - length < 2:
                continue
            s = int(rng.integers(1, n - length))
            lo, hi = s - 1, s + length + 1
            if (~obs[lo:hi]).any() or lab[ch, lo:hi].any():
                continue
            lab[ch, s:s + length] = k
            placed += 1
    return lab


def classical_series(y: np.ndarray) -> dict[str, np.ndarray]:
    """Per channel: linear, seasonal naive, climatology + anomaly (detected period)."""
    out = {k: np.empty_like(y) for k in ("linear", "seasonal_naive", "climatology+anomaly")}
    for ch in range(y.shape[0]):
        p = detect_period(y[ch])
        out["linear"][ch] = linear_fill(y[ch])
        out["seasonal_naive"][ch] = seasonal_naive(y[ch], p)
        out["climatology+anomaly"][ch] = seasonal_fill(y[ch], p)[0]
    return out


def kalman_series(holed: list[np.ndarray], name: str) -> tuple[list[np.ndarray], float]:
    """The Kalman baseline of every series of a dataset, and its wall time (s); prints the
    channels' outcomes (specification chosen, or linear interpolation and why)."""
    from benchmarks.kalman_fill import KalmanStats, kalman_fill

    t0 = time.perf_counter()
    stats = KalmanStats()
    fills = [kalman_fill(h, stats) for h in holed]
    secs = time.perf_counter() - t0
    print(f"[series] {name} kalman: {secs:.1f} s, {stats.channels} channels, {stats.fallbacks} "
          f"to linear ({stats.line()})", flush=True)
    return fills, secs


def checked_seasonal(y: np.ndarray) -> np.ndarray:
    """Per channel, ``seasonal_fill`` with the period only where it passes the
    cross-validation (what the time-series domain's `seasonal` candidate uses)."""
    return np.stack([seasonal_fill(ch)[0] for ch in y])


def crops(x: np.ndarray, length: int, stride: int) -> list[np.ndarray]:
    n = x.shape[1]
    if n <= length:
        return [x]
    return [x[:, i:i + length] for i in range(0, n - length + 1, stride)] + [x[:, n - length:]]


def holed_series(data: dict, seed: int):
    """The protocol's gaps for one dataset and seed: patch, truths, gap labels, holed
    series, per channel sd [C, 1] (deterministic in the seed)."""
    rng = np.random.default_rng(seed)
    lengths = [a.shape[-1] for a in data["eval"]]
    patch = auto_patch(int(np.median(lengths)))
    truths = [a if a.ndim == 2 else a[None, :] for a in data["eval"]]
    labels = [make_gaps(x, patch, rng) for x in truths]
    holed = [np.where(lab > 0, np.nan, x) for x, lab in zip(truths, labels)]
    # per channel sd over the dataset: multichannel errors in comparable units
    sd = np.nanstd(np.concatenate(truths, axis=1), axis=1)[:, None]  # [C, 1]
    sd[~(sd > 0)] = 1.0
    return patch, truths, labels, holed, sd


def score_series(truths, labels, holed, fills, sd) -> dict:
    """``mse``: squared error in units of each channel's sd over the whole dataset (one
    scale for every series). ``mse_scaled``: in units of each series' own channel sd, so a
    collection of series on different scales (M1, Covid3Month: sds over four orders of
    magnitude, one series holds 90-99% of ``mse``) counts every series alike, as
    ``encoderkit impute``'s held-back scores do (``cell_errors``) and as scaled errors
    (MASE) do in forecasting. The two agree on a single series and on z-normalised sets."""
    errs = {k: [] for k in (1, 2, 3)}
    scaled = []
    for x, lab, h, f in zip(truths, labels, holed, fills):
        ok = np.isfinite(h)
        assert np.array_equal(f[ok], h[ok])  # observed samples untouched
        for k in errs:
            errs[k].append((((f - x) / sd)[lab == k]) ** 2)
        own = np.nanstd(x, axis=1, keepdims=True)
        own[~(own > 0)] = 1.0
        scaled.append((((f - x) / own)[lab > 0]) ** 2)
    allerr = np.concatenate([np.concatenate(v) for v in errs.values()])
    out = {"mse": float(allerr.mean()), "hidden": int(allerr.size),
           "mse_scaled": float(np.concatenate(scaled).mean())}
    for k, v in errs.items():
        e = np.concatenate(v)
        out[f"mse_gap{k}"] = float(e.mean()) if e.size else float("nan")
    return out


def pad(arrays: list[np.ndarray], fill=np.nan) -> np.ndarray:
    """[C, L_i] arrays -> [N, C, max L] (padding ``fill``)."""
    n = max(a.shape[1] for a in arrays)
    return np.stack([np.pad(a, ((0, 0), (0, n - a.shape[1])), constant_values=fill) for a in arrays])


def select_series(holed: list[np.ndarray], hide: list[dict], cands: dict[str, list[np.ndarray]],
                  finals: dict[str, list[np.ndarray]]) -> tuple[list[np.ndarray], dict]:
    """Per channel (over all the dataset's series), the candidate ``encoderkit impute``'s
    select=auto would use, chosen on the held-back samples ``hide`` (per series, channel
    name -> mask) from the candidates' fills ``cands`` of the series with them hidden; the
    fills ``finals`` of ``holed`` assembled accordingly."""
    n_ch = holed[0].shape[0]
    masks = pad([np.stack([h.get(f"channel {c}", np.zeros(x.shape[1], bool)) for c in range(n_ch)])
                 for h, x in zip(hide, holed)], False)
    truth = list(channels(pad(holed)))
    choices = select_fills(truth, {k: list(channels(pad(v))) for k, v in cands.items()},
                           {f"channel {c}": masks[:, c] for c in range(n_ch)}, runs=True)
    used = {k: c.used for k, c in choices.items()}
    out = [assemble({k: v[i] for k, v in finals.items()}, used, x, None, []) for i, x in enumerate(holed)]
    return out, choices
