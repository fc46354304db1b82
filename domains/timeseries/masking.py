"""Training masks of the time-series domain: which patches to hide, and how the
visible samples are normalised (statistics of visible samples only) with the
baseline input (linear / seasonal fill of what is hidden) beside them.

A mixin of ``TimeSeriesDomain`` (it reads ``self.options``); split out so the domain
module keeps to one job per file.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable, Sequence, Union

import numpy as np

from encoderkit.data.masking import choose_random, choose_spans
from encoderkit.domain import Example, MaskedExample, Masker

from .seasonal import seasonal_baseline

# A channel whose spread is below this fraction of its magnitude is constant (``_flat``):
# ``channel_stats`` gives it scale 1, the domain its magnitude (``series_stats``).
CONSTANT_RTOL = 1e-7

def _moments(raw: np.ndarray, visible: np.ndarray, channel: np.ndarray,
             n_channels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per channel count, mean and population std of the visible samples (0 where none)."""
    ch = np.repeat(channel, raw.shape[1])
    vis = visible.reshape(-1)
    return grouped_moments(raw.reshape(-1)[vis], ch[vis], n_channels)


def grouped_moments(x: np.ndarray, group: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and population std of the values ``x`` in each of ``bins`` groups
    (``group`` the bin of each value; 0 where a bin has none): a window's channels, or
    every (series, channel) of a batch (``whole.py``), summed in the same order."""
    count = np.bincount(group, minlength=bins).astype(np.float64)
    total = np.bincount(group, weights=x, minlength=bins)
    mean = np.divide(total, count, out=np.zeros(bins), where=count > 0)
    sq = np.bincount(group, weights=(x - mean[group]) ** 2, minlength=bins)
    std = np.sqrt(np.divide(sq, count, out=np.zeros(bins), where=count > 0))
    return count, mean, std


def channel_stats(raw: np.ndarray, visible: np.ndarray, channel: np.ndarray,
                  n_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per channel mean and scale (population std) over the visible samples.

    ``raw`` [T, p] float64, ``visible`` [T, p] bool, ``channel`` [T] int. A channel with
    no visible sample gets (0, 1); a constant channel gets scale 1 (no division by 0).
    The domain normalises with ``window_stats``, which replaces both where they say nothing.
    """
    _, mean, std = _moments(raw, visible, channel, n_channels)
    scale = np.where(std > CONSTANT_RTOL * np.abs(mean), std, 1.0)
    scale = np.where(std > 0, scale, 1.0)
    return mean, scale


def _flat(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Channels whose samples are one value (at float precision), or none."""
    return ~(std > CONSTANT_RTOL * np.abs(mean))


def series_stats(raw: np.ndarray, observed: np.ndarray, channel: np.ndarray,
                 n_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per channel mean and scale of every observed sample of a record (``featurize``):
    what ``window_stats`` falls back on. A constant channel's scale is its magnitude
    ``|mean|`` (1 for 0): a scale of 1 read model outputs in the data's units, so 0.5
    was 0.5 on a rate of 0.0042 and nothing on a level of 1e6."""
    _, mean, std = _moments(raw, observed, channel, n_channels)
    return mean, _record_scale(mean, std)


def _record_scale(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``series_stats``'s scale: the spread, or for a constant channel its magnitude (1 for 0)."""
    magnitude = np.where(np.abs(mean) > 0, np.abs(mean), 1.0)
    return np.where(_flat(mean, std), magnitude, std)


class RecordTokens:
    """A record's tokens as ``featurize`` cut them (the arrays of its ``Example``, shared by
    its windows without a copy): what a training window's fallback statistics are counted
    from (``visible_record_stats``), so that they leave out the samples it hides."""

    def __init__(self, values: np.ndarray, observed: np.ndarray, t_index: np.ndarray,
                 c_index: np.ndarray) -> None:
        self.values = values  # [T, p] float64, 0 where unobserved
        self.observed = observed  # [T, p] bool
        self.t_index = t_index  # [T] patch index in the record
        self.c_index = c_index  # [T] channel
        self._blocks: tuple[int, tuple[np.ndarray, ...], tuple[np.ndarray, ...]] | None = None

    def blocks(self) -> tuple[int, tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
        """``(size, tokens, chunks)``: count, sum and squared deviations from their own mean
        of the observed samples of each token (``tokens``, [C, n] by channel and patch) and of
        each run of ``size`` ~ sqrt(n) patches of a channel (``chunks``, [C, ceil(n / size)]).
        Counted on the first window that needs them (the windows share this object), so a
        window reads O(sqrt(n)) numbers per channel, not the record's samples."""
        if self._blocks is None:
            c, n = int(self.c_index.max()) + 1, int(self.t_index.max()) + 1
            count = self.observed.sum(axis=1).astype(np.float64)
            total = np.where(self.observed, self.values, 0.0).sum(axis=1)
            mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
            m2 = np.where(self.observed, (self.values - mean[:, None]) ** 2, 0.0).sum(axis=1)
            size = max(1, math.isqrt(n))
            runs = -(-n // size)
            tokens, chunks = [], []
            for a in (count, total, m2):
                grid = np.zeros((c, runs * size))
                grid[self.c_index, self.t_index] = a
                tokens.append(grid[:, :n])
                chunks.append(grid.reshape(c, runs, size))
            n_c, s_c = chunks[0].sum(axis=2), chunks[1].sum(axis=2)
            m_c = np.divide(s_c, n_c, out=np.zeros_like(s_c), where=n_c > 0)
            dev = chunks[2] + _between(chunks[0], chunks[1], m_c[..., None])
            self._blocks = (size, tuple(tokens), (n_c, s_c, dev.sum(axis=2)))
        return self._blocks


def _between(count: np.ndarray, total: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Each block's count times its mean's squared distance from ``mean``: the between-blocks
    part of the squared deviations (``count`` 0: 0)."""
    own = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return count * (own - mean) ** 2


def visible_record_stats(tokens: RecordTokens | None, raw: np.ndarray, visible: np.ndarray,
                         t_index: np.ndarray, channel: np.ndarray, n_channels: int,
                         need: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``series_stats`` of the record's samples a masked window leaves visible, for the
    channels ``need`` (others: (0, 1), for the caller to ignore): the record's observed
    samples outside the window's patches, then the window's visible ones (``raw`` /
    ``visible`` [T, p], ``t_index`` / ``channel`` [T]). Outside means before the window's
    first patch or past the patch after its last: a grid-shifted window (``augment.py``)
    holds samples of that next patch, and a jittered view (``views.py``) is not the
    record's values, so the window's samples are only ever counted as the window has them.
    No hidden sample enters, not even to be subtracted again (that would leave rounding
    of its value behind). ``tokens`` None (a context without them): the window's alone.

    Counted as blocks (``RecordTokens.blocks``: runs of patches and patches outside, then
    each visible sample of the window): the mean of the blocks' sums, then each block's
    squared deviations plus its count times its mean's squared distance from the mean
    (the parts of the variance, all >= 0: no cancellation)."""
    p = raw.shape[1]
    count, total, m2, group = [], [], [], []
    ks = np.flatnonzero(need)
    if tokens is not None and len(t_index):
        size, tok, run = tokens.blocks()
        n = tok[0].shape[1]
        lo, hi = int(t_index.min()), min(int(t_index.max()) + 2, n)  # outside: t < lo, t >= hi
        a, b = lo // size, -(-hi // size)  # runs wholly before / from b on wholly after
        for arrays, sl in ((tok, slice(a * size, lo)), (tok, slice(hi, b * size)),
                           (run, slice(0, a)), (run, slice(b, None))):
            cut = [arr[ks, sl] for arr in arrays]  # [K, m] each
            for out, arr in zip((count, total, m2), cut):
                out.append(arr.reshape(-1))
            group.append(np.repeat(ks, cut[0].shape[1]))
    rows = np.flatnonzero(need[channel])
    vis = visible[rows]
    x = raw[rows][vis]  # the window's visible samples, one block each
    count.append(np.ones_like(x))
    total.append(x)
    m2.append(np.zeros_like(x))
    group.append(np.repeat(channel[rows], p)[vis.reshape(-1)])
    n_b, s_b, m2_b, g = (np.concatenate(v) for v in (count, total, m2, group))
    k = np.bincount(g, weights=n_b, minlength=n_channels)
    mean = np.divide(np.bincount(g, weights=s_b, minlength=n_channels), k, out=np.zeros(n_channels),
                     where=k > 0)
    dev = np.bincount(g, weights=m2_b + _between(n_b, s_b, mean[g]), minlength=n_channels)
    std = np.sqrt(np.divide(dev, k, out=np.zeros(n_channels), where=k > 0))
    return mean, _record_scale(mean, std)


# what a window falls back on where its visible samples give no scale: the record's (mean,
# scale) per channel, or a function of the channels that need them (``flat``) giving them
RecordStats = Union[tuple[np.ndarray, np.ndarray], Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]]


# ``flat_scale`` of the domain: where a window's visible samples give no scale, the record's
# (``record``, today's) or scale 1 around the window's own mean, 0 where it has no visible
# sample (``one``: how runs written before 2026-12-06 08:55 UTC, df0e720, were trained).
# ``unrecorded``: a run saved before the option was (16146f2) says nothing of which it was
# trained with (runs of the 98 commits between the two used ``record``); it is read as ``one``,
# most runs' rule, and the first window where the two differ says so (``say_unrecorded``)
FLAT_SCALES = ("record", "one", "unrecorded")
_SAID_UNRECORDED: list[bool] = []


def flat_rule(flat_scale: str, flat: np.ndarray) -> str:
    """``record`` or ``one``: the rule of ``flat_scale`` for windows whose ``flat`` channels
    are these; an ``unrecorded`` run with a flat channel is told once per process."""
    if flat_scale != "unrecorded":
        return flat_scale
    if not _SAID_UNRECORDED and np.any(flat):
        _SAID_UNRECORDED.append(True)
        warnings.warn("this series run was saved before domain.flat_scale was recorded, and a window of one "
                      "value (or none) is scaled by the rule it was trained with: read as flat_scale=one "
                      "(runs written before 2026-12-06 08:55 UTC); a run trained later used "
                      "domain.flat_scale=record: pass that when loading or fine-tuning it", stacklevel=3)
    return "one"


def window_stats(raw: np.ndarray, visible: np.ndarray, channel: np.ndarray, n_channels: int,
                 record: RecordStats | None = None, flat_scale: str = "record"
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per channel mean, scale and ``flat`` (fewer than two distinct visible values) of a
    window, as the domain normalises it: the visible samples' mean and std; where they
    give no scale (one value) the record's (``series_stats``: its spread, or its magnitude),
    and where there is no visible sample the record's mean and scale too. The window's own
    (0, 1) there taught the model to output raw values (a series with one observed 5.5
    was filled with 11.0: 5.5 learnt as a normalised output, then added to the mean 5.5).
    Without ``record`` (a context made before it existed): the magnitude rule alone.
    ``record`` a function: called with ``flat`` only where the rule needs it (``_masked``:
    the record's statistics without the samples hidden for training, counted then).
    ``flat_scale="one"``: ``channel_stats`` (what a run made before ``flat_scale`` learnt)."""
    count, mean, std = _moments(raw, visible, channel, n_channels)
    flat = _flat(mean, std)
    if flat_rule(flat_scale, flat) == "one":
        return mean, np.where(flat, 1.0, std), flat
    if record is None:
        rec_mean, rec_scale = mean, np.where(np.abs(mean) > 0, np.abs(mean), 1.0)
    else:
        stats = record(flat) if callable(record) else record
        rec_mean, rec_scale = (np.asarray(a, dtype=np.float64) for a in stats)
    mean = np.where(count > 0, mean, rec_mean)
    scale = np.where(flat, rec_scale, std)
    return mean, scale, flat


def linear_baseline(norm: np.ndarray, visible: np.ndarray, t_index: np.ndarray,
                    channel: np.ndarray) -> np.ndarray:
    """Per channel, linear interpolation in time of the visible samples (constant past
    the first/last visible one; 0 for a channel with none). ``norm`` [T, p]."""
    p = norm.shape[1]
    times = t_index[:, None] * p + np.arange(p)  # [T, p] sample time
    out = np.zeros_like(norm)
    for k in np.unique(channel):
        rows = channel == k
        vis = visible[rows]
        if not vis.any():
            continue
        tt, vv = times[rows][vis], norm[rows][vis]
        order = np.argsort(tt, kind="stable")
        out[rows] = np.interp(times[rows], tt[order], vv[order])
    return out


def visible_lines(series: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per series ``[C, L]`` (NaN where unobserved) and channel with an observed sample, the
    line ``seasonal_baseline`` looks for a period in when one window holds the whole series,
    as ``_masked`` normalises it (every observed sample visible): the channel's samples from
    its first observed one to its last, less the mean, over the scale (``window_stats``),
    NaN where unobserved. The same numbers, all series at once: ``_moments`` sums each
    channel's samples in time order with ``np.bincount``, which sums each bin in the order
    it meets them, here too."""
    if not len(series):
        return []
    flat = np.concatenate([np.asarray(a, dtype=np.float64).reshape(-1) for a in series])
    sizes = np.concatenate([np.full(a.shape[0], a.shape[1]) for a in series]).astype(np.int64)
    group = np.repeat(np.arange(len(sizes)), sizes)
    vis = ~np.isnan(flat)
    x, g = flat[vis], group[vis]
    k = len(sizes)
    count = np.bincount(g, minlength=k).astype(np.float64)
    total = np.bincount(g, weights=x, minlength=k)
    mean = np.divide(total, count, out=np.zeros(k), where=count > 0)
    sq = np.bincount(g, weights=(x - mean[g]) ** 2, minlength=k)
    std = np.sqrt(np.divide(sq, count, out=np.zeros(k), where=count > 0))
    magnitude = np.where(np.abs(mean) > 0, np.abs(mean), 1.0)
    scale = np.where(_flat(mean, std), magnitude, std)
    norm = np.full(flat.shape, np.nan)
    norm[vis] = (x - mean[g]) / scale[g]
    out = []
    for j, line in enumerate(np.split(norm, np.cumsum(sizes)[:-1])):
        seen = np.flatnonzero(np.isfinite(line))
        if count[j] > 0 and seen.size:
            out.append(line[seen[0]:seen[-1] + 1])
    return out


def _unhidden_record(ctx: dict, raw: np.ndarray, hide: np.ndarray, visible: np.ndarray) -> RecordStats:
    """The record statistics ``_masked`` falls back on, without the samples it hides: a
    channel with a hidden sample here gets ``visible_record_stats`` where its window needs
    them (they enter the inputs as ``stats`` and scale the visible values), every other
    channel the record's as ``featurize`` counted them (nothing of it is hidden here:
    infill, embedding and validation hide nothing and keep those numbers to the bit)."""
    series = (ctx["series_mean"], ctx["series_scale"])
    c, n = ctx["c_index"], int(ctx["channels"])
    if not hide.any():
        return series
    hidden = np.bincount(c, weights=hide.sum(axis=1), minlength=n) > 0  # [C]

    def record(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        need = flat & hidden
        if not need.any():
            return series
        mean, scale = visible_record_stats(ctx.get("series_tokens"), raw, visible, ctx["t_index"], c, n,
                                           need)
        return np.where(need, mean, series[0]), np.where(need, scale, series[1])
    return record


class SeriesMasking:
    """Maskers of ``TimeSeriesDomain``: random, span, tail and gap patches."""

    def _masked(self, example: Example, hide: np.ndarray, predict: np.ndarray) -> MaskedExample:
        """Normalise with statistics of the visible samples, zero what is not visible.

        ``hide`` [T, p]: observed samples hidden for training (the targets); ``predict``
        [T]: tokens the head runs on.
        """
        raw = example.fields["values"]
        observed = example.fields["observed"]
        visible = observed & ~hide
        ctx = example.context
        c = ctx["c_index"]
        if "jitter" in ctx:  # a contrastive view's noise, sized by what stays visible (views.py)
            raw = ctx["jitter"].add(raw, observed, hide, c)
        record = _unhidden_record(ctx, raw, hide, visible) if "series_mean" in ctx else None
        mean, scale, flat = window_stats(raw, visible, c, int(ctx["channels"]), record,
                                         self.options["flat_scale"])
        norm = (raw - mean[c, None]) / scale[c, None]  # [T, p]
        inputs = {"values": np.where(visible, norm, 0.0).astype(np.float32), "observed": visible}
        if self.options["baseline"] != "none":
            fill = seasonal_baseline if self.options["baseline"] == "seasonal" else linear_baseline
            # periods the whole call found at once (``SeriesInfill.infill``), by the line's bytes
            known = {"known": ctx["periods"]} if fill is seasonal_baseline and "periods" in ctx else {}
            base = fill(norm, visible, ctx["t_index"], c, **known)  # [T, p]
            inputs["baseline"] = base.astype(np.float32)
        else:
            base = np.zeros_like(norm)
        if self.embedded_channels:
            if int(ctx["channels"]) > self.embedded_channels:
                raise ValueError(
                    f"a series with {ctx['channels']} channels, but the model learned "
                    f"{self.embedded_channels} channel embeddings (the store it was trained "
                    "on had at most that many); give series with at most as many channels")
            inputs["channel"] = np.asarray(c, dtype=np.int64)
        if self.options["window_stats"]:
            # where the window sits and how much it moves, which normalisation took away, in
            # unit-free terms: the level in its own scales (asinh: signed, log-like in the
            # tails) and the log scale (whose units' offset the embedder subtracts)
            inputs["stats"] = np.stack([np.arcsinh(mean[c] / scale[c]), np.log(scale[c])],
                                       axis=1).astype(np.float32)
        # The head predicts the residual over the baseline (zero baseline: the value itself).
        # A channel with no visible sample in the window is left out of the loss: nothing of
        # it here to predict from (its statistics are the record's other samples), and infill
        # fills such a channel with the baseline, never the model (``decode``).
        seen = np.bincount(c, weights=visible.sum(axis=1), minlength=len(mean)) > 0
        target = hide & seen[c][:, None]
        targets = {"values": np.where(target, norm - base, 0.0)[predict].astype(np.float32),
                   "target_mask": target[predict]}
        context = {**ctx, "mean": mean, "scale": scale, "raw": raw, "raw_observed": observed,
                   "baseline": base, "flat": flat}
        return MaskedExample(inputs=inputs, positions=example.positions, targets=targets,
                             predict=predict, record=example.record, window=example.window,
                             start=example.start, context=context)

    def _hide(self, example: Example, predict: np.ndarray, rng: np.random.Generator,
              partial: float) -> np.ndarray:
        """Samples to hide for the predicted tokens: all of a token's observed samples,
        or (with probability ``partial``) one random contiguous run inside the patch,
        so gaps shorter than a patch are seen in training as they are at infill."""
        observed = example.fields["observed"]
        p = observed.shape[1]
        hide = observed & predict[:, None]
        if partial > 0 and p > 1:
            rows = np.flatnonzero(predict & (rng.random(len(predict)) < partial))
            for r in rows:
                length = int(rng.integers(1, p))
                a = int(rng.integers(0, p - length + 1))
                sub = np.zeros(p, dtype=bool)
                sub[a:a + length] = True
                if (observed[r] & sub).any():  # keep the token predictable
                    hide[r] = observed[r] & sub
        return hide

    def _mask_random(self, example: Example, rng: np.random.Generator) -> MaskedExample:
        eligible = example.fields["observed"].any(axis=1)
        predict = choose_random(eligible, float(self.options["mask_rate"]), rng)
        return self._masked(example, self._hide(example, predict, rng,
                                                float(self.options["partial_mask"])), predict)

    def _per_channel(self, example: Example) -> list[np.ndarray]:
        """Token indices of each channel, in time order."""
        t, c = example.context["t_index"], example.context["c_index"]
        order = np.lexsort((t, c))
        cs = c[order]
        return [order[cs == k] for k in np.unique(cs)]

    def _mask_span(self, example: Example, rng: np.random.Generator) -> MaskedExample:
        eligible = example.fields["observed"].any(axis=1)
        predict = np.zeros(len(example), dtype=bool)
        for idx in self._per_channel(example):  # spans run along time within one channel
            predict[idx] = choose_spans(eligible[idx], float(self.options["mask_rate"]),
                                        float(self.options["mean_span"]), rng)
        return self._masked(example, self._hide(example, predict, rng, 0.0), predict)

    def _mask_tail(self, example: Example, rng: np.random.Generator) -> MaskedExample:
        eligible = example.fields["observed"].any(axis=1)
        predict = np.zeros(len(example), dtype=bool)
        for idx in self._per_channel(example):
            k = max(1, int(round(float(self.options["mask_rate"]) * len(idx))))
            if len(idx) > 1:
                k = min(k, len(idx) - 1)  # leave some history to forecast from
            tail = idx[-k:]
            predict[tail] = eligible[tail]
        return self._masked(example, self._hide(example, predict, rng, 0.0), predict)

    def _mask_gap(self, example: Example, rng: np.random.Generator) -> MaskedExample:
        """Gaps as missing data has them: runs of 1 .. ``max_gap`` patch lengths of samples
        at any offset (not patch-aligned), per channel, until about ``mask_rate`` of the
        observed samples are hidden. Predicted: every token with a hidden sample."""
        observed = example.fields["observed"]
        p = observed.shape[1]
        rate = float(self.options["mask_rate"])
        longest = max(1, int(round(float(self.options["max_gap"]) * p)))
        hide = np.zeros_like(observed)
        for idx in self._per_channel(example):
            obs = observed[idx].reshape(-1)  # this channel's samples in time order
            n = obs.size
            want = rate * obs.sum()
            line = np.zeros(n, dtype=bool)
            for _ in range(4 * n):  # bounded: stops long before on any real series
                if (line & obs).sum() >= want:
                    break
                length = int(rng.integers(1, min(longest, n) + 1))
                start = int(rng.integers(0, n - length + 1))
                line[start:start + length] = True
            hide[idx] = (line & obs).reshape(len(idx), p)
        if not hide.any() and observed.any():  # a tiny series: hide one observed sample
            r, j = np.argwhere(observed)[int(rng.integers(observed.sum()))]
            hide[r, j] = True
        return self._masked(example, hide, hide.any(axis=1))

    @property
    def maskers(self) -> dict[str, Masker]:
        return {"random": self._mask_random, "span": self._mask_span, "tail": self._mask_tail,
                "gap": self._mask_gap}
