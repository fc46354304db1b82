"""The fills that ``select=auto`` compares, per column / channel, in ``encoderkit impute``:
the candidates by name (``candidate_fills``: the model's, linear interpolation for series,
the column mean for tables, the domain's classical imputers) and the file filled from the
ones chosen (``assemble``).
Split out of ``encoderkit/impute.py`` (the command), so each module keeps one job; the
scores and the choice itself are ``impute_cells.select_fills`` (``encoderkit/selection.py``).
"""

from __future__ import annotations

from typing import Any, Callable, Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from encoderkit.domain import candidates_of
from encoderkit.impute_cells import channels, is_missing, series_baselines, set_cells
from encoderkit.impute_models import averaged_predict
from encoderkit.numerics import finite_mean_std


def candidate_fills(models: Sequence[Any], data: Any, model_fill: Any, series: bool,
                    columns: Sequence[str] | None, categorical: Sequence[str],
                    series_column: Any = None, wanted: Collection[str] | None = None,
                    watch: Callable[[Callable], Callable] | None = None,
                    predict: Callable | None = None, domain: Any = None) -> dict[str, Any]:
    """The fills of ``data`` that ``select=auto`` compares, by name: ``model`` (the
    ensemble's fill), for series ``linear`` (``baseline_fill`` of each channel, within each
    series of a long table: ``series_column``), for a table (a DataFrame) ``mean``
    (``column_means``), and the domain's own ``infill_candidates``
    (classical imputers, variants of the model's fill). ``wanted``: the names to make (the
    ones chosen, when the file is filled; None: all): the others were made again and
    thrown away, a model pass among them (a series domain's ``encoder``). A domain whose
    ``infill_candidates`` takes no ``only`` makes all of its own (``candidates_of``).
    ``watch``: a wrapper of the ``predict`` the domain is given (impute's bar); ``predict``: the
    models' averaged ``predict`` to give it (impute's ``RememberedPredict``, which answers the
    pass that made ``model_fill`` again without the models; default: a new one); ``domain``: the
    domain whose candidates these are (default: the models' own; ``impute_heldback``'s, its
    imputers fitted on the held-back copy)."""
    out = {"model": model_fill}
    if not series and isinstance(data, pd.DataFrame) and (wanted is None or "mean" in wanted):
        out["mean"] = column_means(data, columns, categorical)
    if series and (wanted is None or "linear" in wanted):  # every channel interpolated in one call
        chans = list(channels(data, columns, categorical, series_column))
        misses = [is_missing(ch.values) for ch in chans]
        lines = series_baselines(chans, [~m for m in misses])
        out["linear"] = set_cells(data, {ch.name: (m, f) for ch, m, f in zip(chans, misses, lines)}, columns)
    domain = domain if domain is not None else models[0].infill_domain({})
    own = None if wanted is None else set(wanted) - {"model", "linear", "mean"}
    predict = predict or averaged_predict(models)
    made = candidates_of(domain, data, watch(predict) if watch else predict, only=own)
    for name, fill in made.items():
        out.setdefault(name, fill)
    return out


def column_means(data: Any, columns: Sequence[str] | None, categorical: Sequence[str]) -> Any:
    """``data`` with each numeric column's missing cells at the mean of its observed ones
    (categorical and date columns, and columns with nothing observed, left missing): the
    conditional mean where the other columns say nothing of a column, the candidate a
    column no imputer predicts (fair's ``affairs``, star98's ``PCTCHRT``) is best filled by."""
    means = observed_means(data, columns, categorical)
    cells = {}
    for ch in channels(data, columns, categorical):
        miss = is_missing(ch.values)
        if ch.name in means and miss.any():
            # an array, not a scalar: set_cells rounds an integer column's fills (Int64 refused 14.5)
            cells[ch.name] = (miss, np.full(miss.shape, means[ch.name]))
    return set_cells(data, cells, columns)


def observed_means(data: Any, columns: Sequence[str] | None, categorical: Sequence[str]) -> dict[str, float]:
    """Channel name -> the mean of the observed cells of each numeric column of ``data`` (a
    DataFrame; categorical and date columns, and columns with nothing observed, absent): the
    ``mean`` candidate's value, of ``encoderkit impute`` (``column_means``) and of
    ``EncoderImputer`` (``sklearn_blend``, from the table it is fitted on) alike."""
    out = {}
    for ch in channels(data, columns, categorical):
        if ch.categorical or ch.temporal:
            continue
        seen = ~is_missing(ch.values)
        if seen.any():  # np.mean's sum overflowed to inf past ~1e308 / n: the same mean, scaled
            out[ch.name] = float(finite_mean_std(ch.values[seen])[0])
    return out


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

