"""Filling a user's series: ``infill`` (the model, windowed, overlaps averaged, or the
baseline for series too short for it) and the classical ``infill_candidates`` that
``select=auto`` compares it with; plus the conversions between user data (arrays, frames,
files' series) and records.

A mixin of ``TimeSeriesDomain`` (it reads ``self.options`` and the domain's featurize,
windows and decode); split out so the domain module keeps to one job per file.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd

from encoderkit.domain import MaskedExample, PredictFn, Record
from encoderkit.errors import DataError, UnusedColumnWarning
from encoderkit.frames import as_user_data, type_name
from encoderkit.plausible_fills import is_deferred, plausible_series

from .files import warn_empty, warn_empty_channels
from .frames import SeriesFrames, long_table_advice
from .io import check_range, refuse_complex
from .layout import is_blank_empty
from .marks import is_sentinel
from .masking import visible_lines
from .periods import seasonal_periods
from .precision import Float32Check
from .row_labels import index_column
from .rowfills import naive_fills, seasonal_fills
from .schema_match import narrower_series
from .seasonal import period_key
from .whole import WholeSeries


# the fills ``infill_candidates`` makes, by name
CANDIDATES = ("seasonal", "naive", "encoder")


class SeriesInfill(SeriesFrames):
    def _falls_back(self, ctx: Mapping[str, Any]) -> bool:
        """Infill returns the baseline (linear / seasonal fill) instead of the model where
        the model measured worse than interpolation (benchmarks/RESULTS.md): a series with
        fewer than ``short_fallback`` patches per channel (too little context around a gap),
        or data with fewer than ``data_fallback`` patches per channel in all (too little to
        train on; ``data_patches``, set by ``infill`` over every series it is given, else
        this series alone). What matters is both: 20 BasicMotions series of 25 patches
        train a model that beats the baselines, one 29-patch Lynx series does not."""
        if self.options["baseline"] == "none":
            return False
        own = math.ceil(int(ctx["length"]) / int(ctx["patch"]))
        k, d = int(self.options["short_fallback"]), int(self.options["data_fallback"])
        return (k > 0 and own < k) or (d > 0 and int(ctx.get("data_patches", own)) < d)

    def _data_patches(self, arrays: list[np.ndarray]) -> int:
        """Patches per channel over every series given together (``data_fallback``)."""
        return sum(math.ceil(a.shape[1] / self.patch) for a in arrays)

    def _as_series_list(self, data: Any, label: str = "data", where: str | None = None,
                        warn: bool = True) -> tuple[list[np.ndarray], Any]:
        """User data -> list of ``[C, L]`` float64 arrays, plus how to rebuild the input kind;
        ``label`` names the part in errors. Complex numbers are refused (``refuse_complex``):
        the float cast below would keep their real part only. ``where``: the file a frame was
        read from. A frame's warnings (time steps that vary, columns left as they are, dates that
        could be day or month first) are said with ``warn``: without, a check before the
        reading that says them says nothing, with no filter (a filter takes the session lock)."""
        if isinstance(data, pd.DataFrame):
            if len(data) == 0:  # a header line only: its columns read as text, "no numeric channel"
                raise ValueError(f"the table has no rows (columns {list(map(str, data.columns))}), "
                                 f"so no series to read")
            skip = {self.options["time_column"], self.options["series_column"]}
            # a nameless empty column (a separator ending every line: 'Unnamed: 2') is no channel
            cols = [c for c in data.columns if c not in skip and pd.api.types.is_numeric_dtype(data[c])
                    and not is_blank_empty(c, data[c])]
            value, channel = self.options["value_column"], self.options["channel_column"]
            if channel is not None and channel in data.columns:
                # rows of every channel would be read as one channel, interleaved in time
                raise ValueError(long_table_advice(self.options))
            # a column of words the run has no role for (an id): refused, as ingest refuses it
            self._refuse_unread_text(data, where, warn)
            if value is not None and value in data.columns:
                cols = [value]  # the long layout's one channel, as ingest reads it
            else:
                cols = self._run_channels(data, cols, warn)
            if not cols:
                raise ValueError("the DataFrame has no numeric channel columns "
                                 f"(columns {list(data.columns)})")
            for c in cols:  # pandas counts complex as numeric
                refuse_complex(data[c].to_numpy(), f"column {c!r}")
            key = self.options["series_column"]
            if key is not None and key not in data.columns:
                # without it the rows of every series would be read as one series
                raise ValueError(f"the data has no column {key!r}, which names the series for "
                                 f"this model (series_column={key} at ingest); columns: "
                                 f"{list(map(str, data.columns))} (add it, one value per series)")
            # each series' row positions in time order, written back by position: an index
            # of dates may repeat a label across series, and its order is the caller's
            order, when = self._time_order(data, where, warn)
            names = None
            if key is None:
                groups = [order]
            else:  # as groupby(key, sort=False): series in order of appearance, no NaN key
                codes, names = pd.factorize(data[key].to_numpy()[order])
                names = [str(n) for n in names]
                # each series' rows together by one sort, not a pass over the rows per series
                counts = np.bincount(codes[codes >= 0], minlength=int(codes.max(initial=-1)) + 1)
                rows = order[np.argsort(codes, kind="stable")[len(codes) - int(counts.sum()):]]
                groups = np.split(rows, np.cumsum(counts)[:-1]) if len(counts) else []
            if warn:
                self._warn_uneven(when, groups, names, where)
            values = data[cols].to_numpy(dtype=np.float64)  # once: a copy of the columns per series was quadratic
            arrays = [np.ascontiguousarray(values[pos].T) for pos in groups]
            return arrays, ("frame", cols, groups)
        if isinstance(data, Mapping):
            keys = list(data)
            parts = [self._as_series_list(np.asarray(data[k]), f"key {k!r}")
                     for k in keys]
            return [a for arrs, _ in parts for a in arrs], ("dict", keys, parts)
        if isinstance(data, np.ndarray):
            refuse_complex(data, label)
            if data.ndim == 1:
                return [data.astype(np.float64)[None, :]], ("1d", data)
            if data.ndim == 2:
                return [data.astype(np.float64)], ("2d", data)
            if data.ndim == 3:
                return [a.astype(np.float64) for a in data], ("3d", data)
            raise ValueError(f"{label}: array of shape {data.shape}; expected [L], [C, L] or [N, C, L]")
        if isinstance(data, (list, tuple)):
            parts = [self._as_series_list(np.asarray(a), f"list item {i}") for i, a in enumerate(data)]
            for i, (arrs, _) in enumerate(parts):
                if len(arrs) != 1:
                    raise ValueError(f"list item {i} is not one series [L] or [C, L]")
            return [arrs[0] for arrs, _ in parts], ("list", parts)
        raise TypeError(f"unsupported data of type {type_name(data)}; expected a numpy array "
                        f"[L], [C, L] or [N, C, L], a list of arrays, a dict of arrays, a DataFrame "
                        f"(pandas, polars, pyarrow) or a pandas Series (one channel)")

    def _run_channels(self, data: pd.DataFrame, cols: list, warn: bool = True) -> list:
        """The number columns of ``data`` that are the run's channels, in the run's order,
        when its store names them (``channel_names``, a wide table's ingest): a channel the
        table lacks is refused; a number column that is none of them is left as it is, with a
        warning (``warn``). It was read as one more channel, so predictions came from another input.
        Stores without names (arrays, older stores): every number column, as before. Never
        the row index pandas wrote (``row_labels.index_column``), as ingest leaves it out,
        unless the run's channels name it (a store ingested before that rule): left as it is,
        without a word (ingest said it)."""
        names = (self.schema or {}).get("channel_names")
        roles = {self.options["time_column"], self.options["series_column"]}
        index = index_column(data, roles, names or ())
        index = None if index is None else str(index)
        if not names:
            return [c for c in cols if str(c) != index]
        given = {str(c): c for c in data.columns}
        absent = [n for n in names if n not in given]
        if absent:
            raise ValueError(f"the table has no column {absent[0]!r}, one of the channels the run was "
                             f"trained on ({list(names)}); columns: {list(given)}")
        extra = [str(c) for c in cols if str(c) not in set(names) and str(c) != index]
        if extra and warn:
            warnings.warn(f"column(s) {extra} are not channels the run was trained on ({list(names)}): "
                          f"left as they are", UnusedColumnWarning, stacklevel=4)
        return [given[n] for n in names]

    def _series_arrays(self, data: Any, where: str | None = None, warn: bool = True) -> tuple[list[np.ndarray], Any]:
        """``_as_series_list``, each series checked to fit float32 (``io.check_range``)."""
        arrays, how = self._as_series_list(data, where=where, warn=warn)
        channels = list(map(str, how[1])) if how[0] == "frame" else None
        for i, a in enumerate(arrays):
            values = np.where(self._is_missing_value(a), np.nan, a)
            try:
                check_range(values, "", channels)
            except DataError:  # named only then: the names sort a long table once more
                check_range(values, self._series_names(data, how, len(arrays))[i], channels)
        return arrays, how

    def _warn_narrower(self, arrays: list[np.ndarray], where: str | None) -> None:
        """Series with fewer channels than every series of the run's store (``narrower_series``)."""
        note = narrower_series(self.schema, [a.shape[0] for a in arrays], where)
        if note:
            warnings.warn(note, stacklevel=3)

    def _refuse_unobserved_channels(self, data: Any, arrays: list[np.ndarray], how: Any) -> None:
        """A channel of a series with no observed sample has nothing to give its fills a level
        or a scale: they came back as the normalised prediction itself (about 0, in no unit),
        with exit 0. Refused instead, as ``impute`` refuses a column with no observed value."""
        for i, a in enumerate(arrays):
            gone = ~(np.isfinite(a) & ~self._is_missing_value(a))
            empty = np.flatnonzero(gone.all(axis=1) & (a.shape[1] > 0))
            if empty.size:
                name = self._series_names(data, how, len(arrays))[i]
                c = int(empty[0])
                chan = how[1][c] if how[0] == "frame" else c
                raise DataError(f"series {name!r}, channel {chan!r}: no observed value, so nothing "
                                f"gives its fills a level or a scale; give it some values, or leave "
                                f"the channel (or the series) out")

    def _rebuild(self, data: Any, how: Any, filled: list[np.ndarray]) -> Any:
        kind = how[0]
        if kind == "frame":
            _, cols, groups = how
            out = data.copy()
            for j, col in enumerate(cols):  # every series' fills of a column at once (a copy of
                old = data[col].to_numpy(dtype=np.float64)  # the column per series was quadratic)
                gone = ~np.isfinite(old) | self._is_missing_value(old)
                at = [pos[gone[pos]] for pos in groups]
                if not sum(map(len, at)):
                    continue
                vals = out[col].astype(np.float64) if out[col].dtype != np.float64 else out[col]
                vals = vals.copy()
                vals.iloc[np.concatenate(at)] = np.concatenate(
                    [arr[j][gone[pos]] for pos, arr in zip(groups, filled)])
                given = out[col]
                if pd.api.types.is_bool_dtype(given.dtype) or (
                        given.dtype == object and given.notna().any()
                        and given.dropna().map(type).eq(bool).all()):
                    # a yes / no channel (a Parquet bool): a fill is the nearer of 0 and 1
                    # (a fill of 0.37 was cast to True on writing)
                    yes = pd.Series(pd.array(np.where(vals.isna(), None, vals >= 0.5), dtype="boolean"),
                                    index=vals.index)
                    if given.dtype == object:
                        vals = yes.astype(object).where(yes.notna(), None)
                    else:
                        vals = yes.astype(bool) if given.dtype == bool and yes.notna().all() else yes
                elif pd.api.types.is_integer_dtype(given.dtype):  # counts: whole numbers, dtype kept
                    vals = vals.round().astype(out[col].dtype)
                elif pd.api.types.is_float_dtype(out[col].dtype) and out[col].dtype != np.float64:
                    vals = vals.astype(out[col].dtype)  # float32 / Float64 stay as given
                out[col] = vals
            return out
        if kind in ("1d", "2d", "3d"):
            orig = how[1]
            dtype = orig.dtype if np.issubdtype(orig.dtype, np.floating) else np.float64
            out = np.array(orig, dtype=dtype, copy=True)
            stacked = filled[0][0] if kind == "1d" else (filled[0] if kind == "2d" else np.stack(filled))
            miss = ~np.isfinite(out) | self._is_missing_value(out)
            out[miss] = stacked[miss]
            return out
        if kind == "list":
            items, pos = [], 0
            for (arrs, h) in how[1]:
                items.append(self._rebuild(h[1], h, filled[pos:pos + 1]))
                pos += 1
            return items
        if kind == "dict":
            out, pos = {}, 0
            for key, (arrs, h) in zip(how[1], how[2]):
                out[key] = self._rebuild(np.asarray(data[key]), h, filled[pos:pos + len(arrs)])
                pos += len(arrs)
            return out
        raise AssertionError(kind)

    def _is_missing_value(self, x: np.ndarray) -> np.ndarray:
        """Samples equal to one of ``missing_value``'s numbers (a word marks text cells only)."""
        return is_sentinel(x, self.options["missing_value"])

    def to_records(self, data: Any, warn: bool = True, where: str | None = None) -> list[Record]:
        """Records of user data; each record's ``id`` is the series' own name where the data
        has one (the ``series_column`` value of a long table, the key of a dict of single
        series), else ``series<i>``: ``predict`` writes it, so a user joins predictions
        back to their series, as a labels file joins the store's records by the same key.
        Series without an observed value are warned of (``warn``; ``read_records`` warns
        itself, naming the file), as a file's are: their outputs read no data. So are a
        frame's series whose time steps vary (``where``: the file read, else "the input").
        A pandas Series is one channel, as ``infill`` reads it. A polars / pyarrow table is read
        as pandas, a masked array's masked samples as missing, a torch tensor as numpy and a
        list of row dicts (a time step each, a key a channel) as a table (``encoderkit.frames``)."""
        data = as_user_data(data, rows=True)
        if isinstance(data, pd.Series):
            data = data.to_frame()
        arrays, how = self._series_arrays(data, where=where)
        names = self._series_names(data, how, len(arrays))
        fine = Float32Check()  # a channel whose changes the float32 records lose, as ingest says
        channels = list(map(str, how[1])) if how[0] == "frame" else None
        for a, name in zip(arrays, names):
            fine.add(name, np.where(self._is_missing_value(a), np.nan, a), channels)
        fine.warn(where or "the input", stacklevel=4)
        records = [{"values": a.astype(np.float32).reshape(-1), "channels": a.shape[0],
                    "length": a.shape[1], "id": name} for a, name in zip(arrays, names)]
        # said here, warn or not: read_records (files.py) names the file as ``where``
        self._warn_narrower(arrays, where)
        if warn:
            warn_empty("the input", records)
            schema = self.schema or {}
            warn_empty_channels("the input", records, schema.get("channel_names"),
                                self.options.get("missing_value"), schema.get("channel_observed"))
        return records

    def _series_names(self, data: Any, how: Any, n: int) -> list[str]:
        names = [f"series{i}" for i in range(n)]
        key = self.options["series_column"]
        if how[0] == "frame" and key is not None and key in data.columns:
            # as groupby(key, sort=False) names them, without a copy of the table and a frame per series
            keys = [str(k) for k in pd.factorize(data[key].iloc[self.time_order(data)])[1]]
            if len(keys) == n:
                names = keys
        elif how[0] == "dict" and all(len(arrs) == 1 for arrs, _ in how[2]):
            names = [str(k) for k in how[1]]
        return names

    def infill_shifts(self) -> list[int]:
        """Patch-grid offsets of the passes ``infill`` averages: ``infill_shifts`` of them
        (at most one per sample of a patch), evenly spaced over the patch."""
        p, n = self.patch, int(self.options["infill_shifts"])
        n = max(1, min(n, p))
        return sorted({round(k * p / n) for k in range(n)})

    def infill(self, data: Any, predict: PredictFn) -> Any:
        """Fill every missing sample (NaN, inf, ``missing_value``); observed samples come
        back bit-identical. Long series are cut into windows of ``infill_max_seqlen``
        tokens overlapping by ``infill_overlap`` patches; overlapping predictions are
        averaged.

        The model sees a series through a grid of patches, and where a gap falls on that
        grid (one patch, or the ends of two) changes its prediction. ``infill_shifts``
        passes move the grid by a fraction of a patch each (the series behind a few
        missing samples) and average the fills: test-time augmentation over the one
        arbitrary choice of the tokenisation (training crops see every phase). A series
        filled by the baseline alone (``short_fallback`` / ``data_fallback``) gets one pass.
        A polars / pyarrow table is read (and comes back) as pandas; a masked array's masked
        samples are missing, filled (``encoderkit.frames.as_user_data``)."""
        data = as_user_data(data, rows=True)
        if isinstance(data, pd.Series):  # one channel: filled as a one-column table, a Series back
            return self.infill(data.to_frame(), predict).iloc[:, 0]
        where = None
        if isinstance(data, (str, os.PathLike)) and os.path.isfile(data):  # a file: read as infill reads it
            where, data = str(data), self.read_input(str(data))
        arrays, how = self._series_arrays(data, where=where)
        self._refuse_unobserved_channels(data, arrays, how)
        self._warn_narrower(arrays, where)
        masked: list[MaskedExample] = []
        owner: list[tuple[int, int]] = []  # (series, shift)
        data_patches = self._data_patches(arrays)
        known = self._known_periods(arrays, data_patches)
        shifts = self.infill_shifts()
        # the series one window holds whole, made into examples together (``whole.py``)
        whole = WholeSeries(self, arrays, shifts, data_patches, known,
                            int(self.options["infill_max_seqlen"] or 512))
        for i, arr in enumerate(arrays):
            if whole.holds(i):
                for shift, m in whole.examples(i):
                    masked.append(m)
                    owner.append((i, shift))
                continue
            for shift in shifts:
                padded = np.concatenate([np.full((arr.shape[0], shift), np.nan), arr], axis=1)
                rec = {"values": padded.reshape(-1), "channels": arr.shape[0], "length": padded.shape[1]}
                ex = self.featurize(rec)
                ex.context["data_patches"] = data_patches  # read by _falls_back, windows keep it
                if known:
                    ex.context["periods"] = known  # read by _masked's seasonal baseline
                back = self._falls_back({**ex.context, "length": arr.shape[1]})
                if back and shift:
                    continue  # the baseline does not depend on the grid
                # null: the run's window (Pretrained.infill passes it); 512 for a bare domain.
                # A series that falls back to the baseline is one window: its interpolation
                # must see the whole series, not a window's share of it.
                limit = len(ex) if back else int(self.options["infill_max_seqlen"] or 512)
                for w in self.windows(ex, limit, overlap=int(self.options["infill_overlap"])):
                    m = self.infill_example(w)
                    if m.predict.any():
                        masked.append(m)
                        owner.append((i, shift))
        preds = predict(masked) if masked else []
        sums = {i: np.zeros(a.shape) for i, a in enumerate(arrays) if not whole.holds(i)}
        counts = {i: np.zeros(s.shape) for i, s in sums.items()}
        for m, (i, shift), pr in zip(masked, owner, preds):
            if whole.holds(i):
                whole.answer(i, shift, pr)
                continue
            rec = self.decode(pr, m)
            grid = rec["values"].reshape(rec["channels"], rec["length"])
            fill = rec["filled"].reshape(grid.shape)
            time = rec["time_start"] + np.arange(rec["length"]) - shift
            keep = time >= 0  # the samples put in front of the series
            sl = (rec["channel_ids"][:, None], time[keep][None, :])
            sums[i][sl] += np.where(fill, grid, 0.0)[:, keep]
            counts[i][sl] += fill[:, keep]
        filled = whole.filled()
        filled.update({i: np.divide(s, counts[i], out=np.zeros_like(s), where=counts[i] > 0)
                       for i, s in sums.items()})
        filled = [filled[i] for i in range(len(arrays))]
        self._constant_fills(arrays, filled)
        # a channel never below 0 filled below it, float32 noise off an observed value (plausible_fills);
        # not where the caller applies the rule itself where its fill is final (``impute``: once, so
        # that the model's fill and the baselines it is chosen among face one rule)
        if not is_deferred():
            filled = plausible_series(arrays, filled, [np.isfinite(a) & ~self._is_missing_value(a) for a in arrays])
        return self._rebuild(data, how, filled)

    def _known_periods(self, arrays: list[np.ndarray], data_patches: int) -> dict[bytes, int | None]:
        """The periods of the seasonal baseline of every series that one window holds, found
        together (``periods.seasonal_periods``) and keyed by the line searched
        (``seasonal.period_key``): each grid pass of each series looked for its own, the
        same line's period once per pass. A line ``_masked`` makes otherwise (a window of a
        longer series) is not among them and is searched there, as before."""
        if self.options["baseline"] != "seasonal":
            return {}
        limit = int(self.options["infill_max_seqlen"] or 512)
        whole = []
        for a in arrays:
            tokens = math.ceil((a.shape[1] + self.patch - 1) / self.patch)  # a channel's, at the widest shift
            tokens *= 1 if self.channel_independent else a.shape[0]
            back = self._falls_back({"length": a.shape[1], "patch": self.patch, "data_patches": data_patches})
            if back or tokens <= limit:
                whole.append(np.where(np.isfinite(a) & ~self._is_missing_value(a), a, np.nan))
        lines = visible_lines(whole)
        _, periods = seasonal_periods(lines)
        return {period_key(line): p for line, p in zip(lines, periods)}

    def _constant_fills(self, arrays: list[np.ndarray], filled: list[np.ndarray]) -> None:
        """A channel of a series observed as one value (once, or more times alike) is filled
        with that value, its baseline, never by the model (in place): there is no spread to
        de-normalise a prediction with, and a single 5.5 came back filled with 11.0, two
        0.0042 with fills from -0.017 to 0.053."""
        for arr, out in zip(arrays, filled):
            seen = np.isfinite(arr) & ~self._is_missing_value(arr)
            for j in range(arr.shape[0]):
                values = np.unique(arr[j][seen[j]])
                if values.size == 1:
                    out[j] = values[0]

    def infill_candidates(self, data: Any, predict: PredictFn,
                          only: Collection[str] | None = None) -> dict[str, Any]:
        """``seasonal``: per series and channel, the climatology + interpolated anomaly of
        the visible samples where a period is detected in them and passes the
        cross-validation, else their linear interpolation (no model); ``naive``: the
        seasonal naive fill (the visible value one detected period away, else linear);
        ``encoder``, where the fallbacks send some series to the baseline: the model's own
        fill of every series (see ``encoderkit.selection``). ``only``: the names wanted (the
        fills ``impute`` took from them once chosen; None: every one)."""
        want = set(CANDIDATES if only is None else only)
        data = as_user_data(data, rows=True)
        arrays, how = self._series_arrays(data)
        out = {}
        if want & {"seasonal", "naive"}:
            visible = [[np.where(self._is_missing_value(ch), np.nan, ch) for ch in arr] for arr in arrays]
            # every channel's period searched at once; ``seasonal_fill(ch)`` is the fill with the
            # confirmed period, linear interpolation without one
            lines = [ch for arr in visible for ch in arr]
            detected, confirmed = seasonal_periods(lines)
            # every channel of one length filled together, the numbers of seasonal_fill(ch, c) /
            # linear_fill(ch) and seasonal_naive(ch, d) (``rowfills``)
            for name, fills in (("seasonal", lambda: seasonal_fills(lines, confirmed)),
                                ("naive", lambda: naive_fills(lines, detected))):
                if name in want:
                    each = iter(fills())
                    out[name] = self._rebuild(data, how, [np.stack([next(each) for _ in arr]) for arr in visible])
        total = self._data_patches(arrays)
        if "encoder" in want and any(self._falls_back({"length": a.shape[1], "patch": self.patch,
                                                       "data_patches": total}) for a in arrays):
            alone = type(self)(self.schema, **{**self.options, "short_fallback": 0, "data_fallback": 0})
            out["encoder"] = alone.infill(data, predict)
        return out

    # ------------------------------------------------------------------ files
