"""One-call imputation: ``encoderkit impute input=<table or series file> output=<filled file>``.

Transductive, like scikit-learn's imputers: the model is fitted on the observed values
of the file it fills. Steps: read the file through the domain; hold back a small random
share of the observed cells (``holdout``); ingest the rest into a temporary store;
pretrain (``experiment=impute``: a small model, ``train.steps=auto``); fill the held-back
cells and score them next to a simple baseline (column mean / mode for tables, linear
interpolation in time for series); with ``select=auto`` (default), also score classical
candidate fills on them and keep, per column / channel, the model unless a candidate wins
clearly (``encoderkit/selection.py``); fill the file's missing cells (held-back cells
visible again); write the output atomically; print a summary.

``n_models > 1`` trains that many models with different seeds and averages their
predictions (multiple imputation); ``ensemble_infill`` also returns the per-cell spread.
The domain is reached through the registry by name; this module reads only user data
(DataFrames and numpy arrays) and, for tables, the column kinds of the store's schema.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from encoderkit.cliutil import check_device
from encoderkit.data import textfiles
from encoderkit.errors import (DataError, EncoderkitError, InputNotFoundError, UsageError,
                               UnusedColumnWarning, without_unknown_values)
from encoderkit.impute_cells import (Choice, Score, as_written, baseline_fill, channels, draw_holdout,
                                     is_missing, score_holdout, select_fills, set_cells, warn_infinite,
                                     with_hidden)
from encoderkit.outputs import atomic_write, check_output, write_error
from encoderkit.selection import SELECT

USAGE = """usage: encoderkit impute input=<file> output=<file> [domain=tabular|timeseries] [key=value ...]

Fits an encoder on the observed values of a table or series file and writes the file with
every missing cell filled (observed cells unchanged), then prints a summary: cells filled
per column / channel, the error on held-back observed cells next to a simple baseline, time.

  input      a table (.csv, .tsv, .parquet) or a series file (.npy, .npz, or a .csv / .tsv /
             .parquet with a time column or, Parquet, a DatetimeIndex)
  output     the filled file, same format as the input (refused if it exists, unless overwrite=true)
  domain     tabular | timeseries; default from the file: .npy/.npz and CSV / TSV files whose first
             column is named time, date, timestamp, ... (or holds dates or periods: 1959Q1, 1959 Q1,
             1949M01, 2020-W05) are series, so are files of numbers and at most one series id with
             such a time column elsewhere, its times in order on a regular grid; others are tables
  holdout    share of the observed cells held back to measure the error (default 0.05; 0 = off);
             for series, in runs as long as the file's own gaps on average
  seed       seeds the hold-back draw, the model initialisation and the masking (default 0)
  n_models   models trained with seeds seed, seed+1, ... and averaged (default 1)
  select     auto (default): per column / channel, compare on the held-back cells the model
             with classical candidates (series: linear interpolation, seasonal naive, seasonal
             climatology + anomaly; tables: IterativeImputer (numeric columns), the forest
             imputer (MissForest-style, numeric and categorical columns; tables of at most 100
             columns), the encoder alone, the model being their mean)
             and keep the model unless a candidate wins clearly: lower total error and more
             held-back runs / cells won than lost by a Wilcoxon signed-rank test (p < 0.05,
             encoderkit/selection.py); model: always the model's fill
  run_dir    keep the trained run(s) there (default: a temporary directory, removed)
  overwrite  replace an existing output (default false)
  progress   progress bars and stage lines (default true)
Pretraining overrides pass through (Hydra syntax): model=small, train.steps=2000,
optim.lr=1e-3, domain.patch=8, ... (defaults: configs/experiment/impute.yaml).
Other key=value pairs are ingest options of the domain (time_column=date, exclude=[id], ...).
"""

# Time-column names that make a CSV a series (compared lower-case).
# A first column so named is the time whatever it holds; another column so named is when the
# file is shaped like a series (``_series_shape``). Not ``obs`` (EViews' label column, found by
# its 1949M01 cells, is a count elsewhere) nor ``hour`` (the hour of day is a feature of many tables).
TIME_NAMES = frozenset({"time", "date", "datetime", "timestamp", "t", "year", "month", "day",
                        "period", "ds", "week", "quarter"})
# A leading column of row numbers under these names (compared lower-case) is no data
# (``row_number_column``): pandas writes its index unnamed (read back as ``Unnamed: 0``),
# ``reset_index()`` names a RangeIndex ``index``.
ROW_NUMBER_NAMES = frozenset({"", "unnamed: 0", "index"})
HEAD_ROWS = 500  # rows read to guess a file's layout
TABLE_SUFFIXES = (".parquet", ".pq")
OUTPUT_SUFFIXES = (".csv", ".tsv", ".tab", ".txt", ".parquet", ".pq", ".npy", ".npz")
TEXT_SUFFIXES = textfiles.TEXT_TABLE_SUFFIXES  # those written compressed by a .gz / .bz2 / .xz / .zip name
SERIES_SUFFIXES = (".npy", ".npz", ".ts")
# The command's own parameters; words with a dot, and these config groups, go to pretrain.
OWN = {"input": None, "output": None, "domain": None, "holdout": 0.05, "seed": 0, "n_models": 1,
       "select": "auto", "run_dir": None, "overwrite": False, "progress": True, "device": "cpu"}
GROUPS = ("model", "optim", "schedule", "data", "experiment", "train", "run")


# ---------------------------------------------------------------- training and infill

# Per-domain imputation settings that configs/experiment/impute.yaml cannot hold (it is
# shared by every domain, and a domain refuses options it does not know). Tables: fills are
# judged by squared error, so numbers decode as the regression value (the conditional
# mean) rather than clipped to the likeliest quantile bin (benchmarks/RESULTS.md: clip
# costs 0.07 NRMSE on average). Series: the model sees and refines the seasonal / linear
# baseline (the pretraining default, none, is for embeddings), trains on every phase of the patch grid
# (grid_shift) and infill averages 4 passes with the grid moved (infill_shifts): one
# transductive model on one file otherwise met each stretch on one grid only (series
# protocol, 2 seeds: mean error relative to the best classical fill 0.872 -> 0.848 and
# 0.829 -> 0.750; benchmarks/RESULTS.md). Classification pretraining keeps the domain's
# defaults: there the grid shift did not help (JapaneseVowels fine-tuned 0.905 -> 0.861).
# Series also train for 900 epochs instead of 100 (same floor of 200 steps, same cap of
# 3,000): a file of many series, or one long recording, stopped undertrained (2 seeds each:
# ArrowHead, OSULeaf, ACSF1, BasicMotions, ItalyPowerDemand and three recordings no default
# was chosen on all gain, e.g. mean error relative to the best classical fill 0.77 -> 0.44
# on a 9-channel accelerometer recording), while a single short series, already thousands
# of passes deep at the floor, keeps it (a flat 600-step floor cost airline and macrodata;
# benchmarks/RESULTS.md, "Series imputation: a budget of 900 epochs"); a file of many
# series trains longer still (COLLECTION_EPOCHS below; series_epochs holds both).
DOMAIN_OVERRIDES: dict[str, tuple[str, ...]] = {
    "tabular": ("domain.numeric_decode=regression",),
    "timeseries": ("domain.baseline=seasonal", "domain.grid_shift=true", "domain.infill_shifts=4"),
}


# Series train SERIES_EPOCHS; a file of at least COLLECTION_SERIES trains COLLECTION_EPOCHS: 2,700 epochs
# (most files then at the 3,000-step cap) beat 900 again (benchmarks/RESULTS.md), while one
# or a few series lost at that budget; the same count as the series inputs' auto rule
# (domains/timeseries/domain.py, MIN_SERIES_FOR_SERIES_INPUTS).
SERIES_EPOCHS = 900
COLLECTION_SERIES = 4
COLLECTION_EPOCHS = 2700


def series_epochs(n_records: int | None) -> int:
    """``train.auto_epochs`` of a series imputation model for a file of ``n_records`` series
    (None: not known yet, as when only the overrides are checked)."""
    return COLLECTION_EPOCHS if n_records is not None and n_records >= COLLECTION_SERIES else SERIES_EPOCHS


# written into a kept run_dir: a later impute may replace that folder (overwrite=true), and
# no other (the user's own files: the holed copy is written there under the input's kind)
RUN_DIR_MARKER = "encoderkit-impute.json"


def check_run_dir(run_dir: Path, overwrite: bool, files: Sequence[str] = ()) -> None:
    """Refuse a ``run_dir`` that holds anything but an earlier impute's run (its marker file),
    and that one without ``overwrite=true`` (then emptied): impute writes ``holed.<kind>``,
    ``input.zarr``, ``train.zarr`` and ``model<k>`` there, which would replace a user's files
    of those names, the input among them."""
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise UsageError(f"The 'run_dir' parameter names a file, not a folder: {run_dir}", key="run_dir")
    if not any(run_dir.iterdir()):
        return
    if not (run_dir / RUN_DIR_MARKER).is_file():
        raise UsageError(f"The 'run_dir' {run_dir} is a folder of other files: impute writes its "
                         f"work there (holed copy, stores, models), which would replace files of the "
                         f"same names; name a new or empty folder", key="run_dir")
    if not overwrite:
        raise UsageError(f"The 'run_dir' {run_dir} holds an earlier impute's run; pass overwrite=true "
                         f"to replace it, or name a new folder", key="run_dir")
    inside = [f for f in files if "://" not in str(f) and run_dir.resolve() in Path(f).resolve().parents]
    if inside:
        raise UsageError(f"The 'run_dir' {run_dir} holds {inside[0]}, which this impute reads or "
                         f"writes: replacing the folder would remove it; name another folder", key="run_dir")
    shutil.rmtree(run_dir)


def pretrain_overrides(domain: str, store: str, run_dir: str, seed: int, progress: bool,
                       overrides: Sequence[str] = (), n_records: int | None = None) -> list[str]:
    """The pretrain words of one imputation model; user ``overrides`` come last and win.
    ``n_records``: the store's record count (series of a file), for the series budget."""
    budget = [f"train.auto_epochs={series_epochs(n_records)}"] if domain == "timeseries" else []
    return ["experiment=impute", f"domain={domain}", f"data.store={store}", f"run.dir={run_dir}",
            f"run.seed={seed}", f"data.seed={seed}", f"train.progress={str(progress).lower()}",
            *DOMAIN_OVERRIDES.get(domain, ()), *budget, *overrides]


def fit_models(domain: str, store: str, work_dir: str | Path, *, seed: int = 0, n_models: int = 1,
               overrides: Sequence[str] = (), progress: bool = False, device: str = "cpu") -> list:
    """Pretrain ``n_models`` models on ``store`` (seeds ``seed + k``), under ``work_dir/model<k>``;
    return them loaded (``encoderkit.infer.Pretrained``)."""
    from encoderkit.data.store import RecordStore
    from encoderkit.infer import load
    from encoderkit.train import pretrain

    n_records = len(RecordStore(store))
    models = []
    for k in range(n_models):
        run_dir = Path(work_dir) / f"model{k}"
        words = pretrain_overrides(domain, store, str(run_dir), seed + k, progress, overrides, n_records)
        run = pretrain(words)
        models.append(load(run, device=device))
    return models


def ensemble_infill(models: Sequence[Any], data: Any, return_std: bool = False,
                    infill: Callable[[Any, Callable], Any] | None = None) -> tuple[Any, Any]:
    """Fill ``data`` with the average of the models' predictions (domain-free: every head
    output is averaged over the models before the domain decodes it). With ``return_std``,
    also the per-cell spread: the standard deviation over the models' own fills for
    numeric cells, the share of models whose own fill differs from the returned one for
    other cells, 0 where nothing was filled. Returns ``(filled, spread or None)``.
    ``infill(data, predict)``: the fill to run (default: the domain's ``infill``)."""
    domain = models[0].infill_domain({})  # the run's infill window where the domain has one
    fill = infill or domain.infill
    if not return_std:
        return fill(data, averaged_predict(models)), None
    calls: list[list[list[dict[str, np.ndarray]]]] = [[] for _ in models]
    own = []
    for k, m in enumerate(models):
        def record(examples, m=m, k=k):
            out = m.predict(examples)
            calls[k].append(out)
            return out
        own.append(fill(data, record))
    if len(models) == 1:
        filled = own[0]
    else:
        turn = iter(range(len(calls[0])))

        def averaged(examples):
            i = next(turn)
            return [{key: np.mean([calls[k][i][e][key] for k in range(len(models))], axis=0)
                     for key in calls[0][i][e]} for e in range(len(examples))]
        filled = fill(data, averaged)
    return filled, (spread(data, filled, own) if return_std else None)


def averaged_predict(models: Sequence[Any]) -> Callable:
    """A ``predict`` for ``Domain.infill``: every head output averaged over the models."""
    if len(models) == 1:
        return models[0].predict

    def predict(examples):
        outs = [m.predict(examples) for m in models]
        return [{key: np.mean([o[e][key] for o in outs], axis=0) for key in outs[0][e]}
                for e in range(len(examples))]
    return predict


def candidate_fills(models: Sequence[Any], data: Any, model_fill: Any, series: bool,
                    columns: Sequence[str] | None, categorical: Sequence[str],
                    series_column: Any = None) -> dict[str, Any]:
    """The fills of ``data`` that ``select=auto`` compares, by name: ``model`` (the
    ensemble's fill), for series ``linear`` (``baseline_fill``, within each series of a
    long table: ``series_column``), and the domain's own ``infill_candidates`` (classical
    imputers, variants of the model's fill)."""
    out = {"model": model_fill}
    if series:
        cells = {}
        for ch in channels(data, columns, categorical, series_column):
            miss = is_missing(ch.values)
            cells[ch.name] = (miss, baseline_fill(ch, ~miss, True))
        out["linear"] = set_cells(data, cells, columns)
    for name, fill in models[0].infill_domain({}).infill_candidates(data, averaged_predict(models)).items():
        out.setdefault(name, fill)
    return out


def held_back(models: Sequence[Any], holed: Any, truth: Sequence[Any], hide: Mapping[str, np.ndarray],
              columns: Sequence[str] | None, categorical: Sequence[str], series: bool,
              select: bool, series_column: Any = None) -> tuple[list[Score], dict[str, Choice]]:
    """The scores of the models' fill of ``holed`` (``truth`` with the cells ``hide`` held
    back) next to the baseline, and with ``select``, the fill used per column / channel
    (``select_fills`` among ``candidate_fills``). A function of its own so that the fills
    it makes (a copy of the data each) are freed before the file itself is filled.
    ``series_column``: a long table's series ids, for the baseline (``channels``)."""
    guess, _ = ensemble_infill(models, holed)
    base = {ch.name: baseline_fill(ch, ~is_missing(ch.values), series)
            for ch in channels(holed, columns, categorical, series_column)}
    scores = score_holdout(truth, list(channels(guess, columns, categorical)), base, hide)
    if not select:
        return scores, {}
    del base
    cands = candidate_fills(models, holed, guess, series, columns, categorical, series_column)
    return scores, select_fills(truth, {k: list(channels(v, columns, categorical)) for k, v in cands.items()},
                                hide, series)


def assemble(fills: Mapping[str, Any], used: Mapping[str, str], data: Any,
             columns: Sequence[str] | None, categorical: Sequence[str]) -> Any:
    """``fills['model']`` with the missing cells of each channel whose ``used`` candidate is
    another one taken from that candidate's fill (observed cells are never touched)."""
    cells = {}
    for name, fill in fills.items():
        if name == "model" or name not in used.values():
            continue
        mine = {ch.name: ch for ch in channels(fill, columns, categorical)}
        for ch in channels(data, columns, categorical):
            if used.get(ch.name) == name:
                cells[ch.name] = (is_missing(ch.values), mine[ch.name].values)
    return set_cells(fills["model"], cells, columns) if cells else fills["model"]


def spread(data: Any, filled: Any, own: Sequence[Any]) -> Any:
    """Per-cell spread of the models' fills ``own`` around ``filled`` (see ``ensemble_infill``)."""
    if isinstance(data, pd.DataFrame):
        out = pd.DataFrame(0.0, index=data.index, columns=data.columns)
        for c in data.columns:
            miss = data[c].isna().to_numpy() & filled[c].notna().to_numpy()
            if not miss.any():
                continue
            if pd.api.types.is_numeric_dtype(filled[c].dtype) and not pd.api.types.is_bool_dtype(filled[c].dtype):
                vals = np.stack([o[c].to_numpy(dtype=np.float64)[miss] for o in own])
                out.loc[miss, c] = vals.std(axis=0)
            else:
                ref = filled[c].to_numpy(dtype=object)[miss]
                differ = np.stack([o[c].to_numpy(dtype=object)[miss] != ref for o in own])
                out.loc[miss, c] = differ.mean(axis=0)
        return out
    if isinstance(data, Mapping):
        return {k: spread(data[k], filled[k], [o[k] for o in own]) for k in data}
    if isinstance(data, (list, tuple)):
        return [spread(d, f, [o[i] for o in own]) for i, (d, f) in enumerate(zip(data, filled))]
    x = np.asarray(data, dtype=np.float64)
    vals = np.stack([np.asarray(o, dtype=np.float64) for o in own])
    out = np.where(~np.isfinite(x), vals.std(axis=0), 0.0)
    return np.nan_to_num(out)


# ---------------------------------------------------------------- the command

@dataclass
class ImputeReport:
    domain: str
    output: str
    filled: dict[str, int] = field(default_factory=dict)  # cells filled per column / channel
    scores: list[Score] = field(default_factory=list)
    holdout_cells: int = 0
    steps: int = 0
    seconds: float = 0.0
    nothing_missing: bool = False
    choices: dict[str, Choice] = field(default_factory=dict)  # select=auto: fill used per channel
    pools: dict[str, str] = field(default_factory=dict)  # channel -> its pool (channel c of many series)

    def by_pool(self) -> tuple[dict[str, int], dict[str, Choice]]:
        """Cells filled and choices per pool: one line for channel c of a collection of
        series (they share their choice), one per column / channel otherwise."""
        sizes: dict[str, int] = {}
        for k in self.filled:
            sizes[self.pools.get(k, k)] = sizes.get(self.pools.get(k, k), 0) + 1
        label = {k: (f"{self.pools[k]} ({sizes[self.pools[k]]} series)"
                     if k in self.pools and sizes[self.pools[k]] > 1 else k) for k in self.filled}
        filled: dict[str, int] = {}
        chosen: dict[str, Choice] = {}
        for k, v in self.filled.items():
            filled[label[k]] = filled.get(label[k], 0) + v
            if v and k in self.choices:
                chosen.setdefault(label[k], self.choices[k])
        return filled, chosen

    def summary(self) -> str:
        if self.nothing_missing:
            return (f"impute {self.domain}: no missing cell in the input; nothing to fill, "
                    f"{self.output} is a copy of the input ({self.seconds:.1f} s)")
        baseline = "linear interpolation" if self.domain == "timeseries" else "column mean / mode"
        lines = [f"impute {self.domain}: filled {sum(self.filled.values())} cell(s) -> {self.output}"]
        filled, chosen = self.by_pool()
        width = max((len(k) for k in filled), default=0)
        lines += [f"  {k:<{width}}  {v}" for k, v in filled.items() if v]
        if self.scores:
            lines.append(f"validation on {self.holdout_cells} held-back observed cell(s) "
                         f"(model vs {baseline}; nrmse: lower is better, accuracy: higher):")
            lines += [f"  {s.metric:<8} {s.model:.4f} vs {s.baseline:.4f} ({s.cells} cells)"
                      for s in self.scores]
        else:
            lines.append("validation: no held-back cell (holdout=0 or too few observed cells)")
        if chosen:
            lines.append("fill used per column / channel (select=auto: another fill replaces the model "
                         "only where it wins clearly on the held-back cells; error: nrmse, categories: "
                         "error rate):")
            width = max(len(k) for k in chosen)
            for k, c in chosen.items():
                errs = "  ".join(f"{n} {e:.4f}" for n, e in c.errors.items())
                lines.append(f"  {k:<{width}}  {c.used:<9} " + (f"{errs}  ({c.cells} held back)" if c.cells
                                                              else "(no held-back cell)"))
        lines.append(f"time: {self.seconds:.1f} s ({self.steps} training steps per model)")
        return "\n".join(lines)


def infer_domain(path: str, ingest_options: Mapping[str, Any]) -> str:
    """tabular | timeseries from the file (see USAGE)."""
    low = path.lower()
    if low.endswith(SERIES_SUFFIXES) or textfiles.plain_name(low).endswith(".ts"):  # x.ts.gz too
        return "timeseries"
    if "time_column" in ingest_options or "series_column" in ingest_options:
        return "timeseries"
    # a .tsv whose first line is numbers has no header: a UCR archive file (class, values),
    # which the series domain reads (and impute then refuses to write back), not a table
    if textfiles.plain_name(path).endswith(".tsv") and textfiles.headerless(path):
        return "timeseries"
    return "timeseries" if time_column(path, ingest_options.get("delimiter")) else "tabular"


def _numbers(column: pd.Series, sep: str) -> bool:
    """Whether a column of a file's head holds only numbers (missing cells aside), in a file
    not separated by commas numbers written with a decimal comma (``2,25``) too."""
    if pd.api.types.is_numeric_dtype(column.dtype):
        return True
    cells = column.dropna().astype(str)
    if sep != ",":
        cells = cells.str.replace(",", ".", regex=False)
    return bool(pd.to_numeric(cells, errors="coerce").notna().all())


def _read_head(path: str, delimiter: str | None) -> tuple[pd.DataFrame, str] | None:
    """The first ``HEAD_ROWS`` rows of a text table (pandas' own column types) and its
    separator (``delimiter``, else by the name); None for other files and for a file pandas
    cannot read (the domain's reader names the problem later)."""
    if path.lower().endswith(TABLE_SUFFIXES):  # Parquet: its index as columns, dates as text
        from domains.timeseries.parquet import head

        frame = head(path, HEAD_ROWS)
        return None if frame is None else (frame, ",")
    if not textfiles.plain_name(path).endswith((".csv", ".txt", ".tsv", ".tab")):
        return None
    sep = delimiter or textfiles.delimiter(path)
    try:
        return pd.read_csv(path, sep=sep, nrows=HEAD_ROWS), sep
    except Exception:
        return None


def _is_text(col: pd.Series) -> bool:
    """Text cells (object before pandas 3, its own string dtype since)."""
    return col.dtype == object or pd.api.types.is_string_dtype(col.dtype)


def row_number_column(head: pd.DataFrame) -> str | None:
    """The first column of ``head`` when it numbers the rows 0..n-1 (or 1..n) under no name
    or ``index``: what ``df.reset_index().to_csv()`` writes before the data. Not the time
    (the file's times follow it) and not data (a ramp as a channel or a feature)."""
    if head.shape[1] < 3 or not len(head):
        return None
    first = head.columns[0]
    col = head[first]
    if str(first).strip().lower() not in ROW_NUMBER_NAMES or not pd.api.types.is_integer_dtype(col.dtype):
        return None
    n = np.arange(len(col))
    return str(first) if (col.to_numpy() == n).all() or (col.to_numpy() == n + 1).all() else None


def _text_times(col: pd.Series) -> np.ndarray | None:
    """The order keys of text cells that are each a date / time or a period label pandas does
    not read (``1959 Q1``, ``Q1 1959``, ``1949M01``, ``2020-W05``: ``times.period_starts``), as
    UTC nanoseconds; None when a cell is none. For the guess: the reader parses the file."""
    from domains.timeseries.times import day_first, period_starts

    if not len(col) or not _is_text(col):
        return None
    texts = col.astype(str).str.strip()
    try:
        starts = period_starts(texts)
    except DataError:  # period labels but for an odd cell: a time column, which the reader refuses
        return np.zeros(len(texts), dtype=np.int64)
    if starts is not None:
        return starts.to_numpy().astype("datetime64[ns]").astype(np.int64)
    with warnings.catch_warnings():  # pandas warns when it guesses each cell's format
        warnings.simplefilter("ignore")
        try:  # utc: times with UTC offsets that differ (over a daylight-saving change) too
            # day first as the reader reads them (dotted dates, a first field above 12)
            first = day_first(texts, str(col.name), None)
            stamps = pd.to_datetime(texts, format="mixed", utc=True, dayfirst=first)
        except (ValueError, TypeError, OverflowError):
            return None
    if (stamps.dt.year == 1).all():  # no year in any cell: ids such as m0, m12, t1 read as times of day
        return None
    return stamps.dt.tz_localize(None).to_numpy().astype("datetime64[ns]").astype(np.int64)


def _head_times(col: pd.Series, named: bool) -> tuple[np.ndarray, bool] | None:
    """A head column's order keys and whether they are dates (ns), when it can be the time of a
    series: no missing cell (a series' time is never missing; a table's date column may be,
    its blanks are values to fill), and text dates / periods (not numbers: ``2,25`` parses as a
    date), or numbers under a time's name (``named``: ``year``, ``t``); else None."""
    if not len(col) or col.isna().any():
        return None
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        return (col.to_numpy(np.float64), False) if named else None
    texts = col.astype(str).str.strip()
    # numbers, with a decimal point or comma (40,85 in a ';' file: pandas reads it as a date)
    if pd.to_numeric(texts, errors="coerce").notna().any() or \
            texts.str.fullmatch(textfiles.COMMA_NUMBER).fillna(False).any():
        return None
    keys = _text_times(col)
    return None if keys is None else (keys, True)


def _blocks(values: pd.Series) -> bool:
    """Whether each value of a head column comes in one run of rows, runs of two rows or more
    on average (no missing cell): series stacked one under the other; a column of notes or
    of measurements is not that."""
    if values.isna().any():
        return False
    runs = int((values != values.shift()).sum())
    return runs == values.nunique() and runs <= len(values) // 2


def _on_a_grid(keys: np.ndarray, dates: bool, groups: np.ndarray) -> bool:
    """Whether the times ``keys`` step strictly forward within each group (series) of at
    least 3 rows on average, and at least half of the steps are the most common one (whole
    months counted as months, ``times.calendar_months``). A series is sampled on a grid and
    written in time order; a table's dates (visits, orders) fall anywhere, in any order."""
    from domains.timeseries.times import calendar_months

    steps: list[tuple[bool, float]] = []
    _, starts = np.unique(groups, return_index=True)
    if len(keys) < 3 * len(starts):
        return False
    for g in groups[np.sort(starts)]:
        k = keys[groups == g]
        if len(k) < 2:
            continue
        if not (np.diff(k) > 0).all():
            return False
        t = pd.DatetimeIndex(k.astype("datetime64[ns]")) if dates else pd.Index(k)
        months = calendar_months(t)
        steps += [(months is not None, float(d)) for d in np.diff(months if months is not None else k)]
    if not steps:
        return False
    _, counts = np.unique(np.array(steps, dtype=np.float64), axis=0, return_counts=True)
    return bool(counts.max() * 2 >= len(steps))


def _id_in_blocks(head: pd.DataFrame, columns: Sequence[Any], keys: np.ndarray, dates: bool) -> Any:
    """The one column of ``columns`` whose values come in blocks (``_blocks``), with the times
    ``keys`` on a grid within each block, but repeated across the file: whole-number series
    ids (``id, time, value``). None when there is none, or more than one. A column named like
    a part of a time (``year`` before ``month``) is no id: the time spans both columns."""
    from domains.timeseries.times import TIME_PARTS

    found = [c for c in columns if pd.api.types.is_integer_dtype(head[c].dtype) and _blocks(head[c])
             and str(c).strip().lower() not in TIME_PARTS | TIME_NAMES
             and pd.Series(keys).duplicated().any() and _on_a_grid(keys, dates, head[c].to_numpy())]
    return found[0] if len(found) == 1 else None


def _series_shape(head: pd.DataFrame, time: Any, times: tuple[np.ndarray, bool], columns: Sequence[Any],
                  sep: str) -> bool:
    """Whether ``head`` read with ``time`` (not its first column) as the time column is shaped
    like a series file: besides the time, number columns (at least one, the channels) and at
    most one series-id column (text, or whole numbers, each id in one block of rows); the
    times on a grid within each series (``_on_a_grid``). What separates it from a table with a
    date column: a table has text columns (names, categories), blank dates to fill, or dates
    that are no grid (visits of patients, orders of customers), so it stays a table."""
    keys, dates = times
    others = [c for c in columns if c != time]
    text = [c for c in others if not _numbers(head[c], sep)]
    if len(text) > 1 or len(others) - len(text) < 1:
        return False
    if text:
        return _blocks(head[text[0]]) and len(others) >= 2 and _on_a_grid(
            keys, dates, pd.factorize(head[text[0]])[0])
    if _on_a_grid(keys, dates, np.zeros(len(keys), dtype=np.int64)):
        return True
    key = _id_in_blocks(head, others, keys, dates)
    return key is not None and len(others) >= 2


def time_column(path: str, delimiter: str | None = None) -> str | None:
    """The time column of a CSV (None: a table). Its first column (after a column of row
    numbers, ``row_number_column``) when it is named like a time (``TIME_NAMES``) or holds
    dates / period labels before a column of numbers: the rule of the first releases, kept
    (a table whose first column is ``year`` reads as a series, and says so if refused).
    Another column when it holds dates / period labels, or numbers under a time's name, and
    the file is shaped like a series (``_series_shape``): exports with the series id first
    (``unique_id,ds,y``) or the values first, which were filled as tables (a column mean
    for every hole). ``delimiter``: the file's separator (None: by the file's name)."""
    read = _read_head(path, delimiter)
    if read is None:
        return None
    head, sep = read
    skip = row_number_column(head)
    columns = [c for c in head.columns if skip is None or str(c) != skip]
    if len(columns) < 2:
        return None
    first, top = columns[0], head.head(50)  # the first releases read 50 rows
    if str(first).strip().lower() in TIME_NAMES:
        return str(first)
    col = top[first].dropna()
    if len(col) and _is_text(col) and _numbers(top[columns[1]], sep) and _text_times(col) is not None:
        return str(first)
    for c in columns[1:]:
        times = _head_times(head[c], str(c).strip().lower() in TIME_NAMES)
        if times is not None and _series_shape(head, c, times, columns, sep):
            return str(c)
    return None


def first_column(path: str, delimiter: str | None = None) -> str | None:
    """The first column of a text table after a column of row numbers (``row_number_column``)."""
    read = _read_head(path, delimiter)
    if read is None or not read[0].shape[1]:
        return None
    skip = row_number_column(read[0])
    return next((str(c) for c in read[0].columns if skip is None or str(c) != skip), None)


def row_numbers_left_out(path: str, delimiter: str | None, options: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """A series CSV's leading column of row numbers (``row_number_column``) and its other
    columns but the time and series ones: given as ``channels=[...]``, the numbers stay in
    the file as they are instead of being a channel (a ramp the model trained on, held back
    and scored)."""
    read = _read_head(path, delimiter)
    if read is None:
        return None
    head, _ = read
    skip = row_number_column(head)
    roles = {options.get("time_column"), options.get("series_column")}
    if skip is None or skip in roles:
        return None
    return skip, [str(c) for c in head.columns if str(c) != skip and str(c) not in roles]


def dated_column(path: str, delimiter: str | None = None) -> str | None:
    """The first column of a text table whose cells are all dates / times or period labels
    (``_head_times``), or None: a table that has one is imputed without its row order, which
    ``impute`` says aloud (``domain=timeseries time_column=...`` reads it as a series)."""
    read = _read_head(path, delimiter)
    if read is None:
        return None
    head, _ = read
    return next((str(c) for c in head.columns if _head_times(head[c], False) is not None), None)


def series_column(path: str, time: str | None, delimiter: str | None = None) -> str | None:
    """In a series CSV, the one text column besides the time column when its values come in
    blocks, each name in one run of rows (``time, series, value``: series stacked one under
    the other; a column of notes is not that), or None. Without such a text column, the one
    whole-number column in blocks within which the times, repeated across the file, step
    forward (``id, time, value``: numbered series; a step counter does not make the times
    repeat). ``delimiter``: as ``time_column``."""
    if not path.lower().endswith((".csv", ".txt") + TABLE_SUFFIXES):
        return None
    read = _read_head(path, delimiter)
    if read is None:
        return None
    head, sep = read
    text = [c for c in head.columns if str(c) != time and not _numbers(head[c], sep)]
    if not text and time is not None and time in head.columns and head.shape[1] > 2:
        times = _head_times(head[time], True)
        key = None if times is None else _id_in_blocks(
            head, [c for c in head.columns if str(c) != time], *times)
        return None if key is None else str(key)
    if len(text) != 1 or head.shape[1] <= 1 + (time is not None):
        return None
    return str(text[0]) if _blocks(head[text[0]]) else None


def _value_columns(data: Any, schema: Mapping[str, Any], ingest_options: Mapping[str, Any]) -> list | None:
    """The DataFrame columns the model fills: the schema's columns for a table; numeric
    columns other than the time / series columns for a series."""
    if not isinstance(data, pd.DataFrame):
        return None
    known = [c.get("name") for c in schema.get("columns", []) if isinstance(c, Mapping)]
    if known:
        names = {str(c): c for c in data.columns}
        return [names[n] for n in known if n in names]
    given = ingest_options.get("channels")
    if given:  # the channels read: another number column is left as it is, neither held back nor scored
        names = {str(c): c for c in data.columns}
        return [names[str(n)] for n in given if str(n) in names]
    roles = {schema.get("time_column"), schema.get("series_column"),
             ingest_options.get("time_column"), ingest_options.get("series_column")}
    return [c for c in data.columns if c not in roles and pd.api.types.is_numeric_dtype(data[c].dtype)]


def _marks_as_missing(data: pd.DataFrame, schema: Mapping[str, Any], say: Callable[[str], None]) -> pd.DataFrame:
    """``data`` with each column the schema reads as numbers but the file holds as text
    (numbers plus a few marks such as ``?``, ``n/a``, ``-``) as float64, its marks missing.
    The model already reads those marks as missing cells (``schema.numeric_values``); left
    as text they were neither filled nor scored as numbers (a held-back cell compared as
    text: every fill a miss). They are filled, and the summary says how many there were."""
    from domains.tabular.schema import _is_datetime, _is_timedelta

    names = {str(c): c for c in data.columns}
    out = data
    for col in schema.get("columns", []):
        c = names.get(str(col.get("name"))) if isinstance(col, Mapping) else None
        if c is None or col.get("kind") != "numeric":
            continue
        s = data[c]
        if pd.api.types.is_numeric_dtype(s.dtype) or _is_datetime(s) or _is_timedelta(s):
            continue
        parsed = pd.to_numeric(s, errors="coerce").astype("float64")
        marks = s.notna() & parsed.isna()
        if out is data:
            out = data.copy()
        out[c] = parsed
        if marks.any():
            shown = sorted(map(str, pd.unique(s[marks])))[:3]
            say(f"impute: column {str(c)!r}: {int(marks.sum())} cell(s) that are not numbers "
                f"({', '.join(map(repr, shown))}) read as missing and filled")
    return out


def _categorical(schema: Mapping[str, Any]) -> list[str]:
    return [c["name"] for c in schema.get("columns", []) if isinstance(c, Mapping)
            and c.get("kind") == "categorical"]


def _word(name: str) -> str:
    """``name`` as one item of a command-line list: bare where Hydra reads it back as that
    text, else quoted (an empty name, spaces, brackets, commas)."""
    import re

    return name if re.fullmatch(r"[A-Za-z_][\w.-]*", name) else "'" + name.replace("'", "\\'") + "'"


def _leave_out_hint(empty: Sequence[str], domain: str) -> str:
    """How to leave the columns / channels ``empty`` out, in words the command accepts: a
    table's ``exclude=[...]``; a series' channel is dropped from the file (its reader has no
    exclude, and fills every numeric column of a series table)."""
    if domain == "tabular":
        return f"exclude it: exclude=[{', '.join(_word(n) for n in empty)}]"
    return "drop it from the file"


def _check_overrides(domain: str, seed: int, overrides: Sequence[str]) -> None:
    """Compose the pretrain config now (a ``ConfigError``, i.e. a ``UsageError``, on a typo)."""
    from encoderkit.train.config import compose

    compose(pretrain_overrides(domain, "store.zarr", "run", seed, False, overrides))


def _copy_atomic(src: str, dst: str) -> None:
    Path(dst).absolute().parent.mkdir(parents=True, exist_ok=True)
    atomic_write(dst, lambda tmp: shutil.copyfile(src, tmp))


# impute fills the very file it trained on: a category seen only in the rows ingest held
# out for validation is no news to the user
@without_unknown_values
def impute(input: str, output: str, *, domain: str | None = None, holdout: float = 0.05, seed: int = 0,
           n_models: int = 1, select: str = "auto", overrides: Sequence[str] = (),
           run_dir: str | None = None, overwrite: bool = False, progress: bool = True, device: str = "cpu",
           log: Callable[[str], None] | None = None, **ingest_options: Any) -> ImputeReport:
    """Fill every missing cell of the file ``input`` and write ``output`` (see the module doc)."""
    from encoderkit.data.ingest import ingest
    from encoderkit.data.store import RecordStore
    from encoderkit.registry import available_domains, get_domain

    t0 = time.perf_counter()
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True) if progress else None)
    input, output = str(input), str(output)
    if not os.path.exists(input):
        raise InputNotFoundError(f"input file {input!r} does not exist", file=input, key="input")
    if os.path.abspath(input) == os.path.abspath(output):
        raise UsageError("The 'output' parameter must differ from 'input' (the input is never "
                         "modified)", key="output")
    if not (isinstance(holdout, (int, float)) and not isinstance(holdout, bool) and 0 <= holdout < 0.5):
        raise UsageError(f"The 'holdout' parameter must be a float in [0, 0.5). Got {holdout!r} instead.",
                         key="holdout")
    if isinstance(n_models, bool) or not isinstance(n_models, int) or n_models < 1:
        raise UsageError(f"The 'n_models' parameter must be an int in the range [1, inf). "
                         f"Got {n_models!r} instead.", key="n_models")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        # numpy's generators refuse a negative seed, torch one past 64 bits: both failed mid-run
        raise UsageError(f"The 'seed' parameter must be an int in [0, 2**31). Got {seed!r} instead.",
                         key="seed")
    if select not in SELECT:
        raise UsageError(f"The 'select' parameter must be one of {list(SELECT)}. Got {select!r} instead.",
                         key="select")
    # refused before any work: an existing output without overwrite=true, a directory, an
    # unwritable place (encoderkit.outputs, shared by every command that writes)
    check_output(output, overwrite, what="a filled file", file_ok=True)
    textfiles.check_codec(output)
    packed = textfiles.compression(output)
    fmt = Path(textfiles.plain_name(output)).suffix.lower()
    if fmt not in OUTPUT_SUFFIXES:
        raise UsageError(f"The 'output' parameter must be a table or series file "
                         f"({', '.join(OUTPUT_SUFFIXES)}), like the input. Got {output!r}.", key="output")
    if packed and fmt not in TEXT_SUFFIXES:  # a .npy written plain under a .gz name would not read back
        raise UsageError(f"The 'output' parameter {output!r} names a compressed {fmt} file; only text "
                         f"tables ({', '.join(TEXT_SUFFIXES)}) are written compressed: drop the "
                         f"compression suffix", key="output")
    check_device(device)
    guessed = domain is None
    if guessed:
        domain = infer_domain(input, ingest_options)
        say(f"impute: {input} read as {domain} (set domain=tabular|timeseries to choose)")
        dated = dated_column(input, ingest_options.get("delimiter")) if domain == "tabular" else None
        if dated is not None:  # said even with progress=false: the fills ignore the row order
            warnings.warn(f"{input}: column {dated!r} holds dates / times, but the file is read as a "
                          f"table (a series file has, besides its time, number columns and at most "
                          f"one series id, its times in order on a regular grid): its rows are imputed "
                          f"as a table's, without their order; domain=timeseries "
                          f"time_column={_word(dated)} reads it as a series", stacklevel=2)
    time_guess = None  # the column that made a guessed domain a series
    sep = ingest_options.get("delimiter")  # the file's head is read with it (None: by the name)
    found = time_column(input, sep) if domain == "timeseries" and "time_column" not in ingest_options else None
    if found:  # the file's head is read once for it
        ingest_options = {**ingest_options, "time_column": found}
        time_guess = found if guessed else None
        say(f"impute: column {found!r} is the time (set time_column= to choose)")
    key = series_column(input, ingest_options.get("time_column"), sep) if domain == "timeseries" and not \
        {"series_column", "value_column", "channels"} & set(ingest_options) else None
    if key:  # the file's head is read once for it
        ingest_options = {**ingest_options, "series_column": key}
        say(f"impute: column {key!r} names the series (set series_column= to choose)")
    numbered = row_numbers_left_out(input, sep, ingest_options) if domain == "timeseries" and not \
        {"channels", "value_column", "channel_column"} & set(ingest_options) else None
    if numbered:
        ingest_options = {**ingest_options, "channels": numbered[1]}
        say(f"impute: column {numbered[0]!r} numbers the rows: left as it is, not a channel "
            f"(set channels=[...] to choose)")
    if domain not in available_domains():
        raise UsageError(f"The 'domain' parameter must be a registered domain "
                         f"({', '.join(available_domains())}). Got {domain!r} instead.", key="domain")
    if domain not in ("tabular", "timeseries"):  # the two the usage names; others read no tables
        raise UsageError(f"impute fills tables and series (domain=tabular or timeseries). Got "
                         f"domain={domain!r}; use `encoderkit pretrain` then `encoderkit infill` for it",
                         key="domain")
    cls = get_domain(domain)
    _check_overrides(domain, seed, overrides)  # a typo fails now, not after ingest
    from encoderkit.outputs import make_work_dir  # the next impute removes one a SIGKILL left
    if run_dir:
        check_run_dir(Path(run_dir), overwrite, [input, output])
    work = Path(run_dir) if run_dir else make_work_dir("encoderkit-impute-")
    try:
        work.mkdir(parents=True, exist_ok=True)
        if run_dir:
            (work / RUN_DIR_MARKER).write_text(json.dumps({"command": "impute", "input": str(input)}) + "\n")
    except OSError as e:
        raise DataError(f"cannot create the run_dir: {e.strerror or e}", file=run_dir, key="run_dir") from None
    # the holed copy keeps the input's kind and compression (x.csv.zip -> holed.csv.zip)
    plain = textfiles.plain_name(input)
    suffix = Path(plain).suffix + input[len(plain):].lower()
    quiet = contextlib.ExitStack()  # closed with the work directory
    try:
        if numbered:  # the series reader names the row numbers "not a channel" at every fill
            quiet.enter_context(warnings.catch_warnings())
            warnings.simplefilter("ignore", UnusedColumnWarning)
        # 1. read the file as the domain reads it (the schema of a first ingest tells how)
        try:
            ingest(domain, [input], str(work / "input.zarr"), overwrite=True, progress=False,
                   verbose=False, **ingest_options)
            schema = RecordStore(str(work / "input.zarr")).schema
            reader = cls(schema, **{k: v for k, v in ingest_options.items()
                                    if k in ("time_column", "series_column", "missing_value")
                                    and domain == "timeseries"})
            data = reader.read_input(input)
            # a series table in time order (as ingest reads it), so the held-back runs, the
            # interpolation baseline and the fill see the series; written back in file order
            order = reader.time_order(data) if isinstance(data, pd.DataFrame) and hasattr(reader, "time_order") \
                else None
            if order is not None and (order == np.arange(len(order))).all():
                order = None  # in time order already: no copy of the table to make and undo
            data = data.iloc[order] if order is not None else data
        except EncoderkitError as e:
            if time_guess is not None and isinstance(e, DataError):
                from domains.timeseries.times import TimeFormError

                # a table whose first column is called "year" reads as a series by default; not
                # where the times are unreadable or span two columns: a table's fills would
                # ignore the row order (a column mean for every hole of a smooth series)
                where = "first column" if time_guess == first_column(input, sep) else "column"
                table = "" if isinstance(e, TimeFormError) else "; domain=tabular reads it as a table"
                raise DataError(f"{e.message} (read as a series because its {where} {time_guess!r} looks "
                                f"like a time{table})", file=e.file, record=e.record, key=e.key) from None
            raise
        except (ValueError, TypeError, KeyError, OSError) as e:
            msg = e.args[0] if isinstance(e, KeyError) and e.args else e
            raise DataError(f"cannot read {input} as {domain}: {msg}", file=input) from None
        if not (isinstance(data, (pd.DataFrame, np.ndarray)) or (isinstance(data, Mapping) and all(
                isinstance(v, np.ndarray) for v in data.values()))):
            # e.g. a .ts / UCR archive file: its series are read (ingest, predict), never written
            raise UsageError(f"impute fills tables and numeric arrays (domain=tabular or timeseries); "
                             f"the {domain} domain reads {input} as {type(data).__name__}, which it "
                             f"cannot write back: save the data as .csv, .npy ([N, C, L]) or .npz "
                             f"(one array a series) and impute that", key="domain")
        reader.check_output_name(data, output)  # the kind of file the data is written as
        if isinstance(data, pd.DataFrame):  # a typo in exclude=[...] would silently fill that column
            excl = ingest_options.get("exclude") or []
            absent = [str(c) for c in ([excl] if isinstance(excl, str) else excl)
                      if str(c) not in map(str, data.columns)]
            if absent:
                raise UsageError(f"exclude names column {absent[0]!r} that {input} does not have "
                                 f"(columns: {list(map(str, data.columns))[:20]})", key="exclude")
        if domain == "tabular" and isinstance(data, pd.DataFrame):
            data = _marks_as_missing(data, schema, say)
        columns = _value_columns(data, schema, ingest_options)
        cats = _categorical(schema)
        # a long table (series stacked in blocks of rows, in time order): baseline, held-back
        # runs and error scales kept within each series (``Channel.starts``)
        series = domain == "timeseries"
        ids = reader.options.get("series_column") if series and isinstance(data, pd.DataFrame) else None
        truth = list(channels(data, columns, cats, ids))
        missing = {ch.name: int(is_missing(ch.values).sum()) for ch in truth}
        warn_infinite(input, {ch.name: int(np.isinf(ch.values).sum())
                              for ch in truth if ch.values.dtype != object and not ch.temporal},
                      stacklevel=2)  # a date has no infinity (np.isinf refuses date objects)
        # a column / channel without one observed value has nothing to learn from: refuse it
        # rather than write a file that still holds its gaps
        excl = ingest_options.get("exclude") or []
        skipped = {str(c) for c in ([excl] if isinstance(excl, str) else excl)}
        # a table: every column but the excluded (ingest drops an empty one, which the output
        # would keep with its holes); a series table: the channels read
        looked = [] if not isinstance(data, pd.DataFrame) else \
            data.columns if domain == "tabular" or columns is None else columns
        empty = [str(c) for c in looked if str(c) not in skipped and data[c].isna().all()]
        empty += [str(ch.name) for ch in truth if len(ch.values) and is_missing(ch.values).all()
                  and str(ch.name) not in empty]
        if empty:
            raise DataError(f"{'column' if isinstance(data, pd.DataFrame) else 'channel'} {empty[0]!r} has "
                            f"no observed value, so there is nothing to fill it from (give it some "
                            f"values or {_leave_out_hint(empty, domain)})", file=input)
        report = ImputeReport(domain=domain, output=output, pools={ch.name: ch.group for ch in truth})

        def write(filled: Any) -> None:
            """``filled`` to ``output``, in the file's own row order and text (text tables)."""
            read = data
            if order is not None:
                filled, read = filled.iloc[np.argsort(order)], data.iloc[np.argsort(order)]
            if isinstance(read, pd.DataFrame):
                filled = as_written(input, output, read, filled, ingest_options.get("delimiter"),
                                    getattr(reader, "read_decimal", "."))
            Path(output).absolute().parent.mkdir(parents=True, exist_ok=True)  # as predict's writer does
            reader.write_output(filled, output)  # temporary name + rename (the domain's writer)

        if sum(missing.values()) == 0:
            try:  # the input byte for byte where the output is the same kind of file
                if "".join(Path(input).suffixes).lower() == "".join(Path(output).suffixes).lower():
                    _copy_atomic(input, output)
                else:
                    write(data)
            except OSError as e:
                raise write_error(e, output) from None
            report.nothing_missing = True
            report.seconds = time.perf_counter() - t0
            return report

        # 2. hold back some observed cells, ingest the rest
        hide = draw_holdout(truth, holdout, seed, runs=series) if holdout > 0 else {}
        report.holdout_cells = int(sum(m.sum() for m in hide.values()))
        holed = with_hidden(data, hide, columns) if report.holdout_cells else data
        holed_file = work / f"holed{suffix}"
        reader.write_output(holed, str(holed_file))
        store = str(work / "train.zarr")
        with warnings.catch_warnings():  # the holed copy's ingest warnings repeat the first read's
            warnings.simplefilter("ignore")
            ingest(domain, [str(holed_file)], store, overwrite=True, progress=False, verbose=False,
                   **ingest_options)

        # 3. fit (progress bar from the trainer), score the held-back cells, fill
        say(f"impute: fitting {n_models} model(s) on the observed cells "
            f"({report.holdout_cells} held back for validation)")
        models = fit_models(domain, store, work, seed=seed, n_models=n_models, overrides=overrides,
                            progress=progress, device=device)
        report.steps = int(models[0].step)
        if report.holdout_cells:
            report.scores, report.choices = held_back(models, holed, truth, hide, columns, cats, series,
                                                      select == "auto", ids)
        # the held-back copy, its cells and channels freed before the file is filled: the fill
        # and the text written after it make copies of the table of their own
        del holed, truth, hide
        filled, _ = ensemble_infill(models, data)
        used = {k: c.used for k, c in report.choices.items()}
        if any(u != "model" for u in used.values()):
            filled = assemble(candidate_fills(models, data, filled, series, columns, cats, ids), used,
                              data, columns, cats)
        after = {ch.name: int(is_missing(ch.values).sum()) for ch in channels(filled, columns, cats)}
        report.filled = {k: missing[k] - after.get(k, missing[k]) for k in missing}
        left = {k: n for k, n in after.items() if n and k in missing}
        if left:  # a fill that came back NaN would be written as a hole with exit 0: refuse it
            name, n = next(iter(left.items()))
            what = "column" if domain == "tabular" else "channel"
            hint = f"exclude the column (exclude=[{name}])" if domain == "tabular" else "fill it another way"
            raise DataError(f"{what} {name!r}: {n} missing cell(s) got no finite fill "
                            f"({sum(left.values())} in {len(left)} {what}(s)); no output written: "
                            f"please report it, and {hint} meanwhile", file=input)
        try:
            write(filled)
        except OSError as e:
            raise write_error(e, output) from None
    finally:
        quiet.close()
        if not run_dir:
            shutil.rmtree(work, ignore_errors=True)
    report.seconds = time.perf_counter() - t0
    return report


def parse(argv: Sequence[str]) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    """Words -> (own parameters, pretrain overrides, ingest options)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    own: dict[str, Any] = dict(OWN)
    passed: list[str] = []
    rest: list[str] = []
    ingest_options: dict[str, Any] = {}
    for word in argv:
        if "=" not in word:
            raise UsageError(f"impute: unexpected argument {word!r}; arguments are key=value")
        key = word.split("=", 1)[0].lstrip("+~")
        if key == "delimiter":  # raw text: Hydra's grammar refuses ';' and ','
            ingest_options[key] = _delimiter(word.split("=", 1)[1])
            continue
        (passed if "." in key or key in GROUPS else rest).append(word)
    try:
        from encoderkit.overrides import readable

        parsed = OverridesParser.create().parse_overrides(readable(rest))  # données.csv: quoted
    except Exception as e:  # hydra's grammar errors name the offending word
        raise UsageError(f"impute: cannot parse arguments: {' '.join(str(e).split())}") from None
    from encoderkit.overrides import refuse_sweeps

    refuse_sweeps(parsed, "impute")
    for o in parsed:
        key, value = o.key_or_group, o.value()
        if key in OWN:
            own[key] = value
        else:
            _check_not_own(key)
            ingest_options[key] = value
    for key in ("input", "output"):
        if own[key] is None:
            raise UsageError(f"impute: missing required parameter {key}=...", key=key)
    for key in ("overwrite", "progress"):
        if not isinstance(own[key], bool):
            raise UsageError(f"The {key!r} parameter must be true or false. Got {own[key]!r} instead.",
                             key=key)
    for key in ("input", "output", "run_dir", "domain", "device", "select"):
        if own[key] is not None:
            own[key] = str(own[key])
    if passed:
        # a typo in a pretraining key (train.stpes=5) is refused before the input is looked at:
        # a missing input was reported instead. The keys are the same for either domain (its
        # options, domain.*, are checked by the domain), so one not yet guessed from the file
        # is composed as a table's here; impute composes again with the domain it reads.
        _check_overrides(own["domain"] if own["domain"] in DOMAIN_OVERRIDES else "tabular", 0, passed)
    return own, passed, ingest_options


# A word that is none of impute's parameters is an ingest option of the domain, refused by the
# domain only once the file is read ("cannot read x.csv as tabular: unknown tabular ingest
# option(s) ['holdotu']", exit 1). One this close to a parameter is its typo: said at once. No
# ingest option of tabular or timeseries comes within 0.6 of a parameter (split_seed / seed: 0.57).
OWN_TYPO_CUTOFF = 0.8


def _check_not_own(key: str) -> None:
    """Refuse ``key`` when it is a misspelled parameter of impute (``holdotu``, ``n_model``)."""
    import difflib

    near = difflib.get_close_matches(key, list(OWN), n=1, cutoff=OWN_TYPO_CUTOFF)
    if near:
        raise UsageError(f"impute: unknown parameter {key!r} (did you mean {near[0]!r}?); the options "
                         f"of impute: encoderkit impute --help", key=key)


def _delimiter(text: str) -> str | None:
    """The ``delimiter=`` word's value as the user means it. Why not Hydra's grammar: a shell
    turns ``delimiter=';'`` (the fix the reader's error message gives) into ``delimiter=;``,
    which the grammar refuses, as it refuses ``,``; and a tab is typed as ``\\t`` or ``tab``."""
    value = text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" else text
    value = {"\\t": "\t", "tab": "\t"}.get(value, value)
    if value in ("null", "none", "None"):
        return None
    if len(value) != 1:
        raise UsageError(f"The 'delimiter' parameter must be one character (`;`, `|`, `\\t` or `tab` for a "
                         f"tab). Got {text!r} instead.", key="delimiter")
    return value


def run(command: str, argv: list[str]) -> int:
    """CLI entry (``encoderkit impute ...``); errors are reported by ``encoderkit.cli.main``."""
    if not argv or any(a in ("-h", "--help", "help") for a in argv):
        print(USAGE)
        return 0
    own, passed, ingest_options = parse(argv)
    report = impute(own.pop("input"), own.pop("output"), overrides=passed, **own, **ingest_options)
    print(report.summary())
    return 0
