"""Kalman smoothing of a structural time-series model: the gap filler a series practitioner
reaches for (R imputeTS ``na_kalman`` with StructTS; statsmodels ``UnobservedComponents``),
as a classical baseline of ``benchmarks/imputation_lodo.py``.

Per channel, on the visible samples only (the Kalman filter skips the NaN gaps):

1. standardise by the visible mean and sd (maximum likelihood on raw M1 sales of 1e7 does not
   converge; the fill is mapped back);
2. fit by maximum likelihood each of a fixed set of specifications (``SPECS``): local level,
   local linear trend, and -- where ``detect_period`` (the benchmark's period rule) finds a
   period p -- local linear trend + a trigonometric seasonal of period p with
   ``min(MAX_HARMONICS, p // 2)`` harmonics (R's basic structural model with few states, so a
   period of 183 costs 8 states, not 184);
3. keep the converged specification with the lowest AIC (statsmodels' ``aic``: -2 log L + 2
   parameters);
4. fill the gaps with its smoothed signal Z a_t|n (level + seasonal); observed samples keep
   their values.

The initial state is statsmodels' default, an approximately diffuse prior (mean 0, variance
1e6 on the standardised scale), as R's StructTS does (variance 1e6 var(x)): what a user of
either gets. (The exact diffuse start, ``use_exact_diffuse=True``, was tried first: its fits of
a trend + seasonal on 7,000-sample recordings stopped at iteration 0 or after 20 s without
converging.) Under the approximate prior each diffuse state's first observation enters the
likelihood with variance ~1e6, so a specification with more states pays about ln(1e6) = 13.8 more
in -2 log L per state: a fixed extra penalty that long series overcome and short ones do not.

A channel with too few visible samples for any specification, with a constant visible part,
or where no specification converges (or the fit raises, or gives non-finite values) is filled
by linear interpolation, and the outcome is counted (``KalmanStats``). The same rule runs on
every dataset: nothing here is set per dataset.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from domains.timeseries.seasonal import detect_period, linear_fill

MAX_HARMONICS = 3
MAXITER = 100  # L-BFGS iterations per fit (statsmodels' default is 50)
# a specification is fitted only where the visible samples are at least this many times its
# parameters + states: fewer, and the likelihood is flat enough to fit noise
MIN_SAMPLES_PER_UNKNOWN = 2

FALLBACKS = ("linear: too few samples", "linear: not converged", "linear: fit failed")


@dataclass(frozen=True)
class Spec:
    """One structural specification: its name, ``UnobservedComponents`` keywords, and the
    count of its parameters + states (the sample-size rule)."""

    name: str
    kwargs: dict
    unknowns: int


def specs(period: int | None) -> list[Spec]:
    """The fixed specifications tried on a channel with detected ``period`` (None: none)."""
    out = [Spec("level", {"level": "local level"}, 2 + 1),
           Spec("trend", {"level": "local linear trend"}, 3 + 2)]
    if period and period >= 2:
        h = min(MAX_HARMONICS, period // 2)
        out.append(Spec("trend+seasonal",
                        {"level": "local linear trend",
                         "freq_seasonal": [{"period": period, "harmonics": h}]},
                        4 + 2 + 2 * h))
    return out


def smoothed_signal(x: np.ndarray, spec: Spec, params: np.ndarray | None = None):
    """Fit ``spec`` to the 1-D series ``x`` (NaN = missing) by maximum likelihood, or smooth
    with the given ``params`` (in ``UnobservedComponents.param_names`` order). Returns the
    smoothed signal Z a_t|n [L] (level + seasonal; the trend's slope is not observed) and
    the statsmodels results."""
    from statsmodels.tsa.statespace.structural import UnobservedComponents

    model = UnobservedComponents(np.asarray(x, dtype=np.float64), **spec.kwargs)
    if params is None:
        res = model.fit(disp=False, maxiter=MAXITER)
    else:
        res = model.smooth(np.asarray(params, dtype=np.float64))
    design = np.asarray(model.ssm["design"])  # [1, k_states] (time-invariant)
    if design.ndim == 3:
        design = design[..., 0]
    return (design @ res.smoothed_state)[0], res


def fill_channel(x: np.ndarray, period: int | None) -> tuple[np.ndarray, str]:
    """A 1-D series with NaN gaps -> (filled series, outcome): the chosen specification's
    name, or one of ``FALLBACKS`` (filled by linear interpolation)."""
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x)
    if ok.all():
        return x.copy(), "complete"
    tried = [s for s in specs(period) if ok.sum() >= MIN_SAMPLES_PER_UNKNOWN * s.unknowns]
    mu = float(x[ok].mean()) if ok.any() else 0.0
    sd = float(x[ok].std()) if ok.any() else 0.0
    if not tried or not sd > 0:
        return linear_fill(x), FALLBACKS[0]
    z = (x - mu) / sd
    best: tuple[float, np.ndarray, str] | None = None
    failed = 0
    for spec in tried:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # statsmodels' convergence / start-value notices
                signal, res = smoothed_signal(z, spec)
        except (ValueError, np.linalg.LinAlgError):
            failed += 1
            continue
        crit = float(res.aic)
        if not (res.mle_retvals or {}).get("converged", False):
            continue
        if not (np.isfinite(signal).all() and np.isfinite(crit)):
            failed += 1
            continue
        if best is None or crit < best[0]:
            best = (crit, signal, spec.name)
    if best is None:
        return linear_fill(x), FALLBACKS[2] if failed == len(tried) else FALLBACKS[1]
    out = x.copy()
    out[~ok] = best[1][~ok] * sd + mu  # observed samples stay bit-identical
    return out, best[2]


@dataclass
class KalmanStats:
    """Per channel outcomes of ``kalman_fill`` over a dataset (specification chosen, or the
    fallback and why)."""

    outcomes: Counter = field(default_factory=Counter)

    @property
    def fallbacks(self) -> int:
        return sum(self.outcomes[k] for k in FALLBACKS)

    @property
    def channels(self) -> int:
        return sum(self.outcomes.values())

    def line(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))


def kalman_fill(y: np.ndarray, stats: KalmanStats | None = None) -> np.ndarray:
    """[C, L] series with NaN gaps -> filled [C, L], channel by channel, the period detected
    on each channel's visible samples (as the benchmark's seasonal baselines detect it).
    ``stats``, when given, counts each channel's outcome."""
    y = np.asarray(y, dtype=np.float64)
    out = np.empty_like(y)
    for ch in range(y.shape[0]):
        out[ch], outcome = fill_channel(y[ch], detect_period(y[ch]))
        if stats is not None:
            stats.outcomes[outcome] += 1
    return out
