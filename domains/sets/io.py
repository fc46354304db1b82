"""Reading sets from long-format CSV, ``.npz`` ragged arrays and Python objects.

Every reader yields :class:`RawSet`: one set's elements with item ids as strings
(``None`` = missing), features as float64 ``[n, F]`` (NaN = missing) and
coordinates as float64 ``[n, D]``. The ingest code (``ingest.py``) turns them into
store records; ``SetsDomain.to_records`` reuses the same parsing at inference.

Formats
-------
CSV (long format): one row per element; a set column (``set_column``, default
``"set"``), an optional item column (``id_column``, default ``"id"`` when present and
not a per-point identifier), coordinate columns (``coord_columns``, default whichever
of ``x, y, z`` exist, in any case) and feature columns (``feature_columns``, default
every other numeric column but a label-like one; ``columns.py``). Rows of
one set keep their file order; sets keep the order of their first row. A row whose
id, features and coordinates are all empty is a placeholder: a set made only of
placeholders is an empty set (skipped at ingest, counted in the report). A row whose
every cell is blank, the set's too, is refused (``read_csv_frame``); blank lines are skipped.

NPZ (ragged arrays, loaded without pickle): ``offsets`` int ``[N+1]`` (or
``lengths`` ``[N]``), and any of ``ids`` ``[total]`` (strings or integers),
``features`` ``[total, F]`` (or ``[total]`` for F = 1), ``coords`` ``[total, D]``;
optionally ``set_ids`` ``[N]``, ``feature_names`` ``[F]``, ``coord_names`` ``[D]``.

Python: a list (or a name -> set dict) whose items are either dicts with keys
``ids``, ``features``, ``coords`` (each optional), or plain arrays ``[n, k]`` read as
coordinates (``arrays_are="coords"``, the default) or features.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from encoderkit.data.textfiles import (check_row_widths, delimiter, keep_integer_columns, repeated_header_name,
                                      written_index)
from encoderkit.errors import DataError, reading
from encoderkit.frames import type_name
from encoderkit.numerics import F32_MAX, F32_TINY
from encoderkit.overrides import option_word

from .columns import DEFAULT_COORDS, default_coords, identifier_note, index_note, label_like, label_note

# The model sees coordinates as float32 rotary positions relative to each set's own
# origin, ``(coords - min) / unit`` (``SetsDomain.featurize``); rotation and jitter
# augmentation and the contrastive views (rotation + a shift by up to the set's extent)
# move them by up to (2 + sqrt(3)) x the extent, and mixed rotary sums the three axes.
# A per-axis spread up to F32_MAX / 16 keeps all of that finite; beyond it positions turn
# inf and the loss NaN. Absolute size is harmless: coordinates are stored and centred in
# float64, so map positions far from 0 keep working.
COORD_EXTENT_MAX = F32_MAX / 16


@dataclass
class RawSet:
    name: str
    ids: list[str | None] | None  # None when the data has no item ids
    features: np.ndarray  # [n, F] float64, NaN = missing (F may be 0)
    coords: np.ndarray  # [n, D] float64 (D may be 0)
    where: str  # "file.csv, set 'a'" for error messages
    rows: np.ndarray | None = None  # frame rows of the elements (CSV), to write results back

    def __len__(self) -> int:
        return int(self.coords.shape[0])


@dataclass
class Layout:
    """Which element fields a collection of sets has (becomes part of the schema)."""

    has_ids: bool
    feature_names: list[str]
    coord_names: list[str]


def as_item(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, (np.floating, float)) and float(value).is_integer():
        value = int(value)  # 3.0 read from a CSV with gaps means item "3"
    text = str(value)
    return text if text != "" else None


def frame_row(frame: pd.DataFrame | pd.Series, row: int, path: str) -> str:
    """Position ``row`` of a long-format frame as the other readers name a row: the file's
    1-based data row and its line (the header is line 1; counted as if the file has no empty
    line, which pandas skips), or the DataFrame's index label where the frame came from Python."""
    if path:
        return f"data row {row + 1} (line {row + 2})"
    return f"row {frame.index[row]}"


def _element(raw: RawSet, row: int) -> str:
    line = f" (line {int(raw.rows[row]) + 2})" if raw.rows is not None and row < len(raw.rows) else ""
    return f"element {row}{line}"


def _check_values(raw: RawSet, feature_names: Sequence[str] | None = None,
                  coord_names: Sequence[str] | None = None) -> RawSet:
    """Values float32 positions and features can hold, or an error naming the set, the
    element (and line) and the column (the reader's names; ``f0``, ``x``, ... otherwise)."""
    # names of another width (an .npz whose name list disagrees) are refused later, by
    # check_layout, naming the widths; here they fall back to the defaults
    width, dims = raw.features.shape[1], raw.coords.shape[1]
    features = list(feature_names) if feature_names is not None and len(feature_names) == width \
        else [f"f{j}" for j in range(width)]
    coords = list(coord_names) if coord_names is not None and len(coord_names) == dims \
        else [*DEFAULT_COORDS, *(f"c{j}" for j in range(3, dims))][:dims]
    if np.isinf(raw.features).any():
        row, col = (int(i) for i in np.argwhere(np.isinf(raw.features))[0])
        raise DataError(f"{raw.where}: {_element(raw, row)} has an infinite value of feature "
                         f"{features[col]!r}; use NaN (an empty cell) for a missing feature")
    with np.errstate(invalid="ignore"):
        big = np.abs(raw.features) > F32_MAX
    if big.any():
        row, col = (int(i) for i in np.argwhere(big)[0])
        raise DataError(f"{raw.where}: {_element(raw, row)} has feature {features[col]!r} = "
                         f"{raw.features[row, col]:.3g}, beyond what float32 (the model's number "
                         f"type) holds, {F32_MAX:.3g}; rescale that feature")
    if raw.coords.size and not np.isfinite(raw.coords).all():
        row, col = (int(i) for i in np.argwhere(~np.isfinite(raw.coords))[0])
        raise DataError(f"{raw.where}: {_element(raw, row)} has a missing or infinite coordinate "
                         f"{coords[col]!r}; every element of a set with coordinates needs finite "
                         "coordinates")
    if raw.coords.size:
        low, high = raw.coords.argmin(axis=0), raw.coords.argmax(axis=0)
        span = np.arange(raw.coords.shape[1])
        with np.errstate(over="ignore"):  # -1e308 .. 1e308 spans inf: refused as too wide
            extent = raw.coords[high, span] - raw.coords[low, span]
        wide = np.flatnonzero(~(extent <= COORD_EXTENT_MAX))
        if wide.size:
            col = int(wide[0])
            hi, lo = int(high[col]), int(low[col])
            raise DataError(
                f"{raw.where}: {_element(raw, hi)} has {coords[col]!r} = {raw.coords[hi, col]:.3g} "
                f"and {_element(raw, lo)} has {coords[col]!r} = {raw.coords[lo, col]:.3g}, a spread "
                f"of {extent[col]:.3g} within one set, beyond {COORD_EXTENT_MAX:.3g}: the model "
                "holds coordinates as float32 positions relative to the set's smallest ones, "
                "and these would overflow; rescale the coordinates (e.g. kilometres, not millimetres)")
    return raw


def check_unit(extent: float | None, unit: float) -> None:
    """A ``ConfigError`` when the domain's ``unit`` would stretch ``extent`` (the schema's
    ``coord_extent``: the widest spread of a coordinate within one set, which ingest checks
    at unit 1) past ``COORD_EXTENT_MAX``: positions turned inf and the loss NaN. ``extent``
    None (a store written before the schema kept it) is not checked."""
    if extent is None or float(extent) / float(unit) <= COORD_EXTENT_MAX:
        return
    from encoderkit.train.config import ConfigError

    lowest = float(extent) / COORD_EXTENT_MAX * 1.001  # printed to 3 digits: never below the bound
    raise ConfigError(f"The 'unit' option of the sets domain must be a float >= {lowest:.3g} for this "
                      f"store: its widest set spans {float(extent):.3g} coordinate units, and positions "
                      f"(coordinates / unit) above {COORD_EXTENT_MAX:.3g} overflow float32 (NaN loss). "
                      f"Got {unit!r} instead.", key="unit")


def check_feature_range(peak: np.ndarray, names: Sequence[str], where: str) -> None:
    """A feature column whose nonzero values are all below float32's smallest normal number
    is refused, naming the column: features keep float32's range (stores before session 48
    held them as float32, such a column as zeros; they are float64 now, see ``ingest``)."""
    for j, m in enumerate(np.asarray(peak, dtype=np.float64)):
        if 0.0 < m < F32_TINY:
            raise DataError(f"{where}: feature {names[j]!r} is at most {m:.3g} in magnitude, below "
                             f"what float32 (the model's number type) holds, "
                             f"{F32_TINY:.3g}; rescale that feature "
                             f"(multiply it by a power of ten)")


# ---- CSV -----------------------------------------------------------------------------

def csv_layout(frame: pd.DataFrame, path: str, set_column: str, id_column: str | None,
               feature_columns: Sequence[str] | None, coord_columns: Sequence[str] | None,
               notes: list[str] | None = None, id_named: bool = False,
               ) -> tuple[str | None, list[str], list[str]]:
    """Item, feature and coordinate columns; unnamed ones by ``columns.py`` (``id_named``: the
    user named the id column), what that leaves out said in ``notes`` (report warnings)."""
    columns, notes = list(frame.columns), [] if notes is None else notes
    if set_column not in columns:
        raise DataError(f"{path}: the 'set_column' option names column {set_column!r}, which is "
                         f"not in the file; columns: {columns}")
    if id_column == "id" and "id" not in columns:
        id_column = None  # the default: use an "id" column only when there is one
    if id_column is not None and id_column not in columns:
        raise DataError(f"{path}: the 'id_column' option names column {id_column!r}, which is not "
                         f"in the file; columns: {columns} (id_column=null for sets without ids)")
    left_out: list[str] = []
    if id_column is not None and not id_named:
        note = identifier_note(frame[id_column], id_column)
        if note:  # row / spot numbers: not items, and not a feature either
            notes.append(note)
            left_out.append(id_column)
            id_column = None
    if coord_columns is None:
        coord_columns = default_coords(columns)
    coord_columns = list(coord_columns)
    first = columns[0]
    # the row index df.to_csv() wrote (0, 2, 5 of a filtered frame): no feature, as the table
    # and series readers leave it out; it said only where a row stood in some table
    index = feature_columns is None and first not in {set_column, id_column, *coord_columns} \
        and written_index(frame[first], first)
    left_out += [first] if index else []
    taken = {set_column, id_column, *coord_columns, *left_out}
    if feature_columns is None:
        candidates = [c for c in columns if c not in taken]
        numeric = [c for c in candidates if pd.api.types.is_numeric_dtype(frame[c])]
        labels = [c for c in numeric if label_like(c)]
        numeric = [c for c in numeric if c not in labels]
        for c in candidates:
            if c not in numeric and c not in labels:
                _refuse_stray_text(frame[c], c, path, [n for n in numeric if n != c])
        notes.extend(label_note(c, numeric) for c in labels)
        notes.extend([index_note(first, frame[first], numeric)] if index else [])
        left_out += labels
        feature_columns = numeric
    feature_columns = list(feature_columns)
    for option, names in (("coord_columns", coord_columns), ("feature_columns", feature_columns)):
        missing = [c for c in names if c not in columns]
        if missing:
            raise DataError(f"{path}: the {option!r} option names columns {missing} that are not "
                             f"in the file; columns: {columns}")
    if len(coord_columns) not in (0, 2, 3):
        raise DataError(f"{path}: the 'coord_columns' option must name 0, 2 or 3 columns. "
                         f"Got {coord_columns} instead.")
    if left_out and id_column is None and not feature_columns:
        # the generic "neither item ids nor features" would hide why: say what was left out
        raise DataError(f"{path}: no item column and no feature column is left to predict: "
                         f"{'; '.join(notes)}")
    return id_column, feature_columns, coord_columns


# A text column counts as numbers with stray text (an error) rather than as a label or
# name column (left out of the features) when more than this share of its filled cells
# are numbers: one typo in a numeric column must not silently drop the whole column.
NUMERIC_SHARE = 0.5


def _refuse_stray_text(column: pd.Series, name: str, path: str, others: Sequence[str]) -> None:
    """A ``DataError`` for a column of mostly numbers that pandas read as text, naming its
    first non-number (line and value) and how to leave the column out."""
    present = column.dropna()
    if present.empty:
        return
    parsed = pd.to_numeric(present, errors="coerce")
    if parsed.notna().mean() <= NUMERIC_SHARE:
        return  # a column of text (a label, a name): not a feature
    row = int(np.flatnonzero((column.notna() & pd.to_numeric(column, errors="coerce").isna())
                             .to_numpy())[0])
    # the list form reads the same as a CLI override and as a Python option
    leave_out = (f"leave the column out of the features with {option_word('feature_columns', list(map(str, others)))}"
                 if others else "name the feature columns to use with the feature_columns option")
    raise DataError(f"{path}: column {name!r} holds numbers, but {frame_row(column, row, path)} holds "
                     f"{column.iloc[row]!r}, which is not a number; write a missing value as an "
                     f"empty cell, or {leave_out}")


def _check_header(path: str, sep: str = ",") -> None:
    """A ``DataError`` for a name the header line gives two columns (``repeated_header_name``):
    the options would then miss the second, which pandas renamed ``x.1``."""
    with reading(path):
        repeated = repeated_header_name(path, sep)
    if repeated:
        name, where = repeated
        raise DataError(f"the header names column {name!r} {len(where)} times (columns "
                        f"{', '.join(map(str, where))}); give every column its own name", file=path)


def read_csv_frame(path: str, id_column: str | None, set_column: str | None = None,
                   keep_integers: bool = False) -> pd.DataFrame:
    """A long-format CSV; set and item ids as the text the file holds (sets ``01`` and ``1``
    are two sets, as they are two names). ``keep_integers`` (the frame ``infill`` fills and
    writes back): an integer column with holes as nullable ``Int64``, so an observed ``2``
    is written back as ``2``, not ``2.0``."""
    # ids as written: a converter sees the cell before pandas' missing-value words, so a set
    # named NA or null is that set (as series ids are kept), not "no set id"; an empty cell
    # is still none
    ids = [c for c in dict.fromkeys((id_column, set_column)) if c]
    sep = delimiter(path)  # .tsv (source_kind accepts it) is tab-separated
    try:
        with reading(path):
            check_row_widths(path, sep)  # pandas reads a short row as missing values
            # round_trip: the C parser's default can be one rounding step off for 17+ digits
            frame = pd.read_csv(path, sep=sep, converters={c: str for c in ids} or None, index_col=False,
                                float_precision="round_trip")
            for c in ids:
                if c in frame.columns:
                    frame[c] = frame[c].astype(object).mask(frame[c].astype(str) == "")
            if keep_integers:
                frame = keep_integer_columns(frame, path, sep)
                # the blank header cells (df.to_csv()'s index: pandas names it 'Unnamed: 0'),
                # written back blank (``SetsUserData.write_output``); a copy of the frame keeps attrs
                frame.attrs["blank_header"] = blank_header(path, sep)
    except DataError as err:
        raise DataError(f"cannot read as CSV: {err.message}", file=path) from err
    _check_header(path, sep)
    if len(frame) == 0:
        raise DataError(f"has a header ({list(map(str, frame.columns))[:8]}) but no rows: no sets to read",
                        file=path)
    blank = _blank_rows(frame)
    if blank.size:
        # a row of separators alone (",,,") is no element: it has no set to belong to, and
        # it usually means a broken export, so it is refused by every reader of the file
        # (ingest, infill, embed) rather than blamed on its set id or skipped
        n = int(blank[0]) + 1
        more = f" ({blank.size} such rows)" if blank.size > 1 else ""
        raise DataError(f"data row {n} (line {n + 1}) is empty: every cell is blank{more}; delete the line",
                        file=path)
    return frame


def blank_header(path: str, sep: str) -> list[int]:
    """Positions of the header cells of ``path`` that are blank (only spaces), read as written."""
    first = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, index_col=False, keep_default_na=False)
    cells = [str(v) for v in first.iloc[0].tolist()] if len(first) else []
    return [i for i, c in enumerate(cells) if not c.strip()]


def written_header(frame: pd.DataFrame) -> list[str] | bool:
    """The header to write ``frame`` with: blank where the file read had a blank header cell
    (``blank_header``, kept in ``attrs`` by ``read_csv_frame``), else its names (True)."""
    blank = frame.attrs.get("blank_header") or []
    if not blank or max(blank) >= frame.shape[1]:
        return True
    return ["" if i in blank else str(c) for i, c in enumerate(frame.columns)]


def _blank_rows(frame: pd.DataFrame) -> np.ndarray:
    """Positions of the rows whose every cell is empty or only whitespace."""
    blank = np.ones(len(frame), dtype=bool)
    for c in frame.columns:
        col = frame[c]
        empty = col.isna().to_numpy(copy=True)
        if not pd.api.types.is_numeric_dtype(col.dtype):  # text: " " is as blank as ""
            empty |= col.astype("string").str.strip().eq("").fillna(False).to_numpy(dtype=bool)
        blank &= empty
        if not blank.any():
            break
    return np.flatnonzero(blank)


def frame_sets(frame: pd.DataFrame, path: str, set_column: str, id_column: str | None,
               feature_columns: Sequence[str], coord_columns: Sequence[str]) -> Iterator[RawSet]:
    """Group a long-format frame into sets (first-appearance order of set ids). ``path``
    names the file in messages; "" for a frame read elsewhere (the caller names its file)."""
    at, named = (f"{path}: ", f"{path}, ") if path else ("", "")
    for column in (*feature_columns, *coord_columns):
        if not pd.api.types.is_numeric_dtype(frame[column]):
            bad = pd.to_numeric(frame[column], errors="coerce").isna() & frame[column].notna()
            row = int(np.flatnonzero(bad.to_numpy())[0]) if bad.any() else 0
            raise DataError(f"{at}column {column!r} must be numeric; {frame_row(frame, row, path)} holds "
                             f"{frame[column].iloc[row]!r}")
    if frame[set_column].isna().any():
        row = int(np.flatnonzero(frame[set_column].isna().to_numpy())[0])
        raise DataError(f"{at}{frame_row(frame, row, path)} has no set id (column {set_column!r})")
    feats = frame[list(feature_columns)].to_numpy(dtype=np.float64, na_value=np.nan) if feature_columns else \
        np.zeros((len(frame), 0))
    coords = frame[list(coord_columns)].to_numpy(dtype=np.float64, na_value=np.nan) if coord_columns else \
        np.zeros((len(frame), 0))
    ids = frame[id_column].to_numpy(dtype=object) if id_column else None
    content = np.zeros(len(frame), dtype=bool)
    if ids is not None:
        content |= pd.notna(frame[id_column]).to_numpy()
    content |= ~np.isnan(feats).all(axis=1) if feats.shape[1] else False
    content |= ~np.isnan(coords).all(axis=1) if coords.shape[1] else False
    if ids is None and not feats.shape[1] and not coords.shape[1]:
        content[:] = True  # a set column alone: every row is an element
    groups = frame.groupby(set_column, sort=False).indices
    for key, rows in groups.items():
        rows = rows[content[rows]]
        yield _check_values(RawSet(
            name=str(key),
            ids=[as_item(v) for v in ids[rows]] if ids is not None else None,
            features=feats[rows], coords=coords[rows],
            where=f"{named}set {str(key)!r}", rows=rows), feature_columns, coord_columns)


# ---- NPZ -----------------------------------------------------------------------------

def read_npz(path: str) -> tuple[Layout, Iterator[RawSet]]:
    with reading(path):
        return _read_npz(path)


def _read_npz(path: str) -> tuple[Layout, Iterator[RawSet]]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except ValueError as err:
        if "pickle" not in str(err):
            raise
        raise DataError(f"{path}: cannot read .npz without pickle ({err}); store ids and names "
                         "as fixed-width string arrays, not object arrays") from err
    if "offsets" in data:
        offsets = np.asarray(data["offsets"], dtype=np.int64)
    elif "lengths" in data:
        offsets = np.concatenate([[0], np.cumsum(np.asarray(data["lengths"], dtype=np.int64))])
    else:
        raise DataError(f"{path}: a sets .npz needs an 'offsets' [N+1] or 'lengths' [N] array; "
                         f"found {sorted(data)}")
    if offsets.ndim != 1 or offsets.size < 1 or offsets[0] != 0 or (np.diff(offsets) < 0).any():
        raise DataError(f"{path}: 'offsets' must start at 0 and never decrease")
    total = int(offsets[-1])
    feats = np.asarray(data.get("features", np.zeros((total, 0))), dtype=np.float64)
    if feats.ndim == 1:
        feats = feats[:, None]
    coords = np.asarray(data.get("coords", np.zeros((total, 0))), dtype=np.float64)
    ids = data.get("ids")
    for key, arr, dims in (("features", feats, 2), ("coords", coords, 2), ("ids", ids, 1)):
        if arr is not None and arr.ndim != dims:
            raise DataError(f"{path}: {key!r} must be a {dims}-D array; got shape {arr.shape}")
    for key, arr in (("features", feats), ("coords", coords), ("ids", ids)):
        if arr is not None and arr.shape[0] != total:
            raise DataError(f"{path}: {key!r} has {arr.shape[0]} rows but offsets[-1] = {total}")
    if coords.shape[1] not in (0, 2, 3):
        raise DataError(f"{path}: 'coords' must have 2 or 3 columns. Got {coords.shape[1]}.")
    n = offsets.size - 1
    names = [str(s) for s in data["set_ids"]] if "set_ids" in data else [str(i) for i in range(n)]
    if len(names) != n:
        raise DataError(f"{path}: 'set_ids' has {len(names)} entries for {n} sets")
    layout = Layout(
        has_ids=ids is not None,
        feature_names=[str(s) for s in data["feature_names"]] if "feature_names" in data
        else [f"f{i}" for i in range(feats.shape[1])],
        coord_names=[str(s) for s in data["coord_names"]] if "coord_names" in data
        else list(DEFAULT_COORDS[:coords.shape[1]]))

    def sets() -> Iterator[RawSet]:
        for i in range(n):
            s, e = int(offsets[i]), int(offsets[i + 1])
            yield _check_values(RawSet(
                name=names[i], ids=None if ids is None else [as_item(v) for v in ids[s:e]],
                features=feats[s:e], coords=coords[s:e], where=f"{path}, set {names[i]!r}"),
                layout.feature_names, layout.coord_names)
    return layout, sets()


# ---- Python objects -------------------------------------------------------------------

def python_sets(data: Any, arrays_are: str = "coords") -> list[RawSet]:
    """A list / name->set dict of dicts or arrays -> RawSets (widths checked later)."""
    if isinstance(data, Mapping) and not {"ids", "features", "coords"} & set(data):
        items = [(str(k), v) for k, v in data.items()]
    elif isinstance(data, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(data)]
    else:
        raise TypeError("sets must be a list of sets (dicts with 'ids'/'features'/'coords', or "
                        f"[n, k] arrays) or a name -> set dict. Got {type_name(data)} instead.")
    out = []
    for name, item in items:
        where = f"set {name!r}"
        if isinstance(item, Mapping):
            unknown = set(item) - {"ids", "features", "coords", "name"}
            if unknown:
                raise DataError(f"{where}: unknown keys {sorted(unknown)}; a set dict may hold "
                                 "'ids', 'features', 'coords' (and 'name')")
            name = str(item.get("name", name))
            where = f"set {name!r}"
            ids = item.get("ids")
            feats = item.get("features")
            coords = item.get("coords")
        else:
            arr = np.asarray(item, dtype=np.float64)
            if arr.ndim != 2:
                raise DataError(f"{where}: an array set must be 2-D [elements, {arrays_are}]. "
                                 f"Got shape {arr.shape} instead.")
            ids, feats, coords = None, None, None
            if arrays_are == "coords":
                coords = arr
            else:
                feats = arr
        lengths = {k: len(v) for k, v in (("ids", ids), ("features", feats), ("coords", coords))
                   if v is not None}
        if len(set(lengths.values())) > 1:
            raise DataError(f"{where}: fields have different numbers of elements: {lengths}")
        n = next(iter(lengths.values()), 0)
        feats = np.zeros((n, 0)) if feats is None else np.asarray(feats, dtype=np.float64)
        if feats.ndim == 1:
            feats = feats[:, None]
        coords = np.zeros((n, 0)) if coords is None else np.asarray(coords, dtype=np.float64)
        if coords.ndim != 2:
            raise DataError(f"{where}: coords must be [elements, 2|3]. Got shape {coords.shape}.")
        out.append(_check_values(RawSet(
            name=name, ids=None if ids is None else [as_item(v) for v in ids],
            features=feats, coords=coords, where=where)))
    return out


def python_layout(sets: Sequence[RawSet]) -> Layout:
    first = next((s for s in sets if len(s)), sets[0] if sets else None)
    if first is None:
        return Layout(False, [], [])
    return Layout(has_ids=first.ids is not None,
                  feature_names=[f"f{i}" for i in range(first.features.shape[1])],
                  coord_names=list(DEFAULT_COORDS[:first.coords.shape[1]]))


def check_layout(raw: RawSet, layout: Layout) -> None:
    """The same fields and widths in every set, or an error naming the set."""
    width, dims = len(layout.feature_names), len(layout.coord_names)
    if len(raw) == 0:
        return
    if raw.features.shape[1] != width:
        raise DataError(f"{raw.where}: features have {raw.features.shape[1]} columns, expected "
                         f"{width} (every set must have the same feature width)")
    if raw.coords.shape[1] != dims:
        raise DataError(f"{raw.where}: coordinates have {raw.coords.shape[1]} dimensions, "
                         f"expected {dims} (every set must have the same)")
    if (raw.ids is not None) != layout.has_ids:
        state = "has" if raw.ids is not None else "lacks"
        raise DataError(f"{raw.where}: {state} item ids, unlike the other sets")
    if dims not in (0, 2, 3):
        raise DataError(f"{raw.where}: coordinates must be 2-D or 3-D. Got {dims} dimensions.")


def source_kind(path: str) -> str:
    lower = path.lower()
    if lower.endswith((".csv", ".csv.gz", ".tsv")):
        return "csv"
    if lower.endswith(".npz"):
        return "npz"
    raise DataError(f"{path}: unsupported file type; the sets domain reads long-format .csv "
                     "(also .csv.gz) and ragged .npz files")


def raws_to_python(raws: list[RawSet]) -> list[dict[str, Any]]:
    """RawSets back to Python dict sets (one parsing path for every input kind)."""
    out = []
    for raw in raws:
        item: dict[str, Any] = {"name": raw.name}
        if raw.ids is not None:
            item["ids"] = raw.ids
        n = len(raw)
        if raw.features.shape[1] or n == 0:
            item["features"] = raw.features
        if raw.coords.shape[1] or n == 0:
            item["coords"] = raw.coords
        out.append(item)
    return out
