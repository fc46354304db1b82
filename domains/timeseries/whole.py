"""The infill examples of many series at once: every grid pass of every series that one
window holds whole (``SeriesInfill.infill`` on a file of many short series) featurized,
normalised, given its baseline and decoded as rows of arrays, one token layout (channels,
patches) at a time, instead of one series and pass at a time.

Why: ``featurize`` -> ``infill_example`` -> ``decode`` cost about a millisecond of Python
per series and grid pass (dozens of small numpy calls each, the seasonal baseline's per
channel): minutes per fill for a file of 100,000 short series, which impute fills twice.

The same numbers as that path, bit for bit: each channel's statistics are ``np.bincount``
sums over the same samples in the same order (a series' bins meet its samples in token
order, as ``masking._moments`` does), its period is looked up as ``seasonal_baseline``
looks it up, its baseline is ``rowfills.seasonal_fill_rows`` (``seasonal_fill`` /
``linear_fill`` row by row, to the bit), the rest elementwise. ``predict`` gets the same
``MaskedExample`` objects in the same order, and each series' fills are summed over its
passes in the order the one-series path sums them. A series whose normalised samples are
not all finite (never met with data that fits float32) is left to the one-series path.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from encoderkit.domain import MaskedExample

from .masking import _flat, flat_rule, grouped_moments
from .rowfills import seasonal_fill_rows
from .seasonal import seasonal_period


# samples (series x channels x padded length) of one batch of rows: its arrays are made and
# kept together (a few float64 copies while building), so a file of many equal-length series
# is cut into batches rather than held as one
LAYOUT_SAMPLES = 1 << 22


class _Layout:
    """The rows (series, shift) of one token layout: ``channels`` x ``patches`` tokens."""

    def __init__(self, channels: int, patches: int, patch: int) -> None:
        self.channels, self.patches, self.patch = channels, patches, patch
        self.rows: list[tuple[int, int]] = []

    def build(self, domain: Any, clean: Sequence[np.ndarray], known: dict, data_patches: int) -> None:
        """``featurize`` + ``infill_example`` of every row at once (see the module doc)."""
        c, n, p = self.channels, self.patches, self.patch
        k, width, tokens = len(self.rows), n * p, n * c
        series = np.full((k, c, width), np.nan)
        for j, (i, shift) in enumerate(self.rows):
            series[j, :, shift:shift + clean[i].shape[1]] = clean[i]
        self.length = np.array([clean[i].shape[1] + shift for i, shift in self.rows])  # the padded one
        tok = series.reshape(k, c, n, p).transpose(0, 2, 1, 3).reshape(k, tokens, p)  # time-major
        del series
        self.t_index, self.c_index = np.repeat(np.arange(n), c), np.tile(np.arange(c), n)
        self.positions = np.stack([self.t_index, self.c_index], axis=1).astype(np.int32)
        self.observed = ~np.isnan(tok)
        self.values = np.where(self.observed, tok, 0.0)
        del tok
        # masking._moments of every (series, channel): one bin each, met in token order
        bins = k * c
        group = np.repeat((np.arange(k)[:, None] * c + self.c_index[None, :]).reshape(-1), p)
        vis = self.observed.reshape(-1)
        count, mean, std = grouped_moments(self.values.reshape(-1)[vis], group[vis], bins)
        del group
        # series_stats (featurize), then window_stats with them (every observed sample visible)
        magnitude = np.where(np.abs(mean) > 0, np.abs(mean), 1.0)
        flat = _flat(mean, std)
        self.series_mean, self.series_scale = mean.reshape(k, c), np.where(flat, magnitude, std).reshape(k, c)
        if flat_rule(domain.options.get("flat_scale", "record"), flat) == "one":  # window_stats of an older run
            self.mean, self.scale = mean.reshape(k, c), np.where(flat, 1.0, std).reshape(k, c)
        else:
            self.mean = np.where(count > 0, mean, self.series_mean.reshape(-1)).reshape(k, c)
            self.scale = np.where(flat, self.series_scale.reshape(-1), std).reshape(k, c)
        self.flat = flat.reshape(k, c)
        at_mean, at_scale = self.mean[:, self.c_index], self.scale[:, self.c_index]  # [K, T]
        norm = (self.values - at_mean[..., None]) / at_scale[..., None]
        self.clean = np.isfinite(np.where(self.observed, norm, 0.0)).all(axis=(1, 2))
        self.base = self._baseline(domain, norm, known)
        sample = self.t_index[:, None] * p + np.arange(p)  # [T, p] time of each sample
        real = sample[None] < self.length[:, None, None]
        self.predict = (real & ~self.observed).any(axis=2)  # [K, T]
        self.norm32 = np.where(self.observed, norm, 0.0).astype(np.float32)
        del norm
        self.base32 = self.base.astype(np.float32) if domain.options["baseline"] != "none" else None
        self.channel = np.asarray(self.c_index, dtype=np.int64) if domain.embedded_channels else None
        self.stats = np.stack([np.arcsinh(at_mean / at_scale), np.log(at_scale)], axis=-1).astype(
            np.float32) if domain.options["window_stats"] else None
        self.known, self.data_patches = known, data_patches

    def _baseline(self, domain: Any, norm: np.ndarray, known: dict) -> np.ndarray:
        """``seasonal_baseline`` / ``linear_baseline`` (or zeros) of every row: [K, T, p]."""
        k, c, n, p = len(self.rows), self.channels, self.patches, self.patch
        kind = domain.options["baseline"]
        if kind == "none":
            return np.zeros_like(norm)
        lines = np.where(self.observed, norm, np.nan).reshape(k, n, c, p).transpose(0, 2, 1, 3)
        lines = lines.reshape(k * c, n * p)  # each (series, channel) a line in time order
        periods = np.zeros(k * c, dtype=np.int64)
        if kind == "seasonal":
            finite = np.isfinite(lines)
            first = np.argmax(finite, axis=1)
            last = lines.shape[1] - 1 - np.argmax(finite[:, ::-1], axis=1)
            lookup = known or None  # as seasonal_baseline is called without periods found
            for j in np.flatnonzero(finite.any(axis=1)).tolist():
                periods[j] = seasonal_period(lines[j, first[j]:last[j] + 1], lookup) or 0
        filled = seasonal_fill_rows(lines, periods)  # a line with nothing visible: zeros, as there
        return filled.reshape(k, c, n, p).transpose(0, 2, 1, 3).reshape(k, n * c, p)

    def example(self, j: int) -> MaskedExample:
        """Row ``j``'s ``MaskedExample``, as ``infill_example`` makes it (views of the layout's arrays)."""
        inputs = {"values": self.norm32[j], "observed": self.observed[j]}  # in _masked's order
        if self.base32 is not None:
            inputs["baseline"] = self.base32[j]
        if self.channel is not None:
            inputs["channel"] = self.channel
        if self.stats is not None:
            inputs["stats"] = self.stats[j]
        context = {"channels": self.channels, "length": int(self.length[j]), "patch": self.patch,
                   "t_index": self.t_index, "c_index": self.c_index, "series_mean": self.series_mean[j],
                   "series_scale": self.series_scale[j], "data_patches": self.data_patches}
        if self.known:
            context["periods"] = self.known
        context.update(mean=self.mean[j], scale=self.scale[j], raw=self.values[j],
                       raw_observed=self.observed[j], baseline=self.base[j], flat=self.flat[j])
        return MaskedExample(inputs=inputs, positions=self.positions, targets={}, predict=self.predict[j],
                             record=-1, window=0, start=0, context=context)

    def decode(self, rows: np.ndarray, predictions: Sequence[np.ndarray], back: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """``decode`` of the rows ``rows`` (their head outputs ``predictions``, in order;
        ``back``: the rows ``decode`` gives the baseline alone): the series' grids
        [R, C, n * p] in original units and which samples of them are filled."""
        c, n, p = self.channels, self.patches, self.patch
        r = len(rows)
        predict = self.predict[rows]
        pred = np.zeros((r, n * c, p))
        if predictions:
            pred[predict] = np.concatenate(predictions).astype(np.float64)
        pred = np.where(back[:, None, None], 0.0, pred)
        flat = self.flat[rows][:, self.c_index]
        pred = np.where(flat[..., None], 0.0, pred) + self.base[rows]
        denorm = pred * self.scale[rows][:, self.c_index, None] + self.mean[rows][:, self.c_index, None]
        observed = self.observed[rows]
        unseen = predict[..., None] & ~observed
        raw = np.where(unseen, denorm, np.where(observed, self.values[rows], np.nan))
        grid = raw.reshape(r, n, c, p).transpose(0, 2, 1, 3).reshape(r, c, n * p)
        filled = unseen.reshape(r, n, c, p).transpose(0, 2, 1, 3).reshape(r, c, n * p)
        return grid, filled


class WholeSeries:
    """The series of ``arrays`` that one window holds at every grid pass of ``shifts``
    (or that fall back to the baseline, one pass), their examples made and decoded together."""

    def __init__(self, domain: Any, arrays: Sequence[np.ndarray], shifts: Sequence[int], data_patches: int,
                 known: dict, limit: int) -> None:
        self.domain, self.shifts = domain, list(shifts)
        p = domain.patch
        self.series: set[int] = set()  # the series held
        layouts: dict[tuple[int, int], _Layout] = {}  # the one being filled, per token layout
        self.layouts: list[_Layout] = []
        clean: dict[int, np.ndarray] = {}
        for i, a in enumerate(arrays):
            c, length = a.shape
            back = domain._falls_back({"length": length, "patch": p, "data_patches": data_patches})
            passes = [s for s in self.shifts if not (back and s)]  # the baseline does not depend on the grid
            sizes = [max(1, math.ceil((length + s) / p)) for s in passes]
            if domain.channel_independent or not c or not length or not (
                    back or all(n * c <= limit for n in sizes)):
                continue  # cut into windows: the one-series path
            self.series.add(i)
            # featurize's samples: NaN wherever not observed (non-finite, missing_value)
            clean[i] = np.where(np.isfinite(a) & ~domain._is_missing_value(a), a, np.nan)
            for s, n in zip(passes, sizes):
                lay = layouts.get((c, n))
                if lay is None or len(lay.rows) * c * n * p >= LAYOUT_SAMPLES:  # a new one past the bound
                    lay = layouts[(c, n)] = _Layout(c, n, p)
                    self.layouts.append(lay)
                lay.rows.append((i, s))
        self.at: dict[tuple[int, int], tuple[_Layout, int]] = {}
        unclean: set[int] = set()
        for lay in self.layouts:
            if lay.channels > domain.embedded_channels > 0:  # _masked's refusal, before any work
                raise ValueError(
                    f"a series with {lay.channels} channels, but the model learned "
                    f"{domain.embedded_channels} channel embeddings (the store it was trained "
                    "on had at most that many); give series with at most as many channels")
            lay.build(domain, clean, known, data_patches)
            for j, (i, s) in enumerate(lay.rows):
                self.at[(i, s)] = (lay, j)
                if not lay.clean[j]:
                    unclean.add(i)
        self.series -= unclean
        self.answers: dict[tuple[int, int], np.ndarray] = {}
        self.shapes = {i: arrays[i].shape for i in sorted(self.series)}

    def holds(self, i: int) -> bool:
        return i in self.series

    def examples(self, i: int) -> list[tuple[int, MaskedExample]]:
        """Series ``i``'s (shift, example) pairs with something to predict, in pass order."""
        out = []
        for s in self.shifts:
            if (i, s) in self.at:
                lay, j = self.at[(i, s)]
                if lay.predict[j].any():
                    out.append((s, lay.example(j)))
        return out

    def answer(self, i: int, shift: int, prediction: dict[str, np.ndarray]) -> None:
        self.answers[(i, shift)] = prediction["values"]

    def filled(self) -> dict[int, np.ndarray]:
        """Per series held: the mean of its passes' fills (0 where none), as ``infill`` sums them."""
        offsets, size = {}, 0
        for i, (c, length) in self.shapes.items():
            offsets[i] = size
            size += c * length
        sums, counts = np.zeros(size), np.zeros(size)
        p = self.domain.patch
        for s in self.shifts:  # each series' passes added in pass order, as infill adds them
            for lay in self.layouts:
                rows = [j for j, (i, shift) in enumerate(lay.rows) if shift == s and (i, s) in self.answers
                        and i in self.series]  # an example predict gave no answer for: not decoded, as before
                if not rows:
                    continue
                rows = np.array(rows)
                series = [lay.rows[j][0] for j in rows]
                back = np.array([self.domain._falls_back({"length": int(lay.length[j]), "patch": p,
                                                          "data_patches": lay.data_patches}) for j in rows])
                grid, fill = lay.decode(rows, [self.answers[(i, s)] for i in series], back)
                lengths = np.array([self.shapes[i][1] for i in series])
                start = np.array([offsets[i] for i in series])
                col = np.arange(grid.shape[2])
                keep = (col[None] >= s) & (col[None] < (lengths + s)[:, None])  # [R, n * p]
                keep = np.broadcast_to(keep[:, None, :], grid.shape)
                target = (start[:, None, None] + np.arange(lay.channels)[None, :, None] * lengths[:, None, None]
                          + (col - s)[None, None, :])[keep]
                sums[target] += np.where(fill, grid, 0.0)[keep]
                counts[target] += fill[keep]
        mean = np.divide(sums, counts, out=np.zeros(size), where=counts > 0)
        return {i: mean[offsets[i]:offsets[i] + c * length].reshape(c, length)
                for i, (c, length) in self.shapes.items()}
