"""User-facing data of the sets domain: long-format frames, lists / dicts of sets and
.csv / .npz files in (``to_records``, ``read_input``), and the filled values written
back into the user's own kind of data (``write_output``). A mixin of ``SetsDomain``
(it reads the schema's layout); split out so the domain module keeps to one job.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any, Mapping

import numpy as np
import pandas as pd

from encoderkit.data.textfiles import delimiter
from encoderkit.domain import Record
from encoderkit.errors import UnknownValueWarning, UnusedColumnWarning
from encoderkit.frames import as_user_data, holds_rows, type_name
from encoderkit.outputs import atomic_write

from .drift import (ingest_choices, match_coord_case, rarer_than_min_count, unknown_items_message,
                    unused_columns_message)
from .ingest import raw_to_record

from .io import (RawSet, check_layout, frame_sets, python_sets, read_csv_frame, read_npz, source_kind,
                 written_header)


# what a set given as a dict holds besides its 'name' (``io.python_sets``)
SET_KEYS = frozenset({"ids", "features", "coords"})


def user_data(data: Any) -> Any:
    """``data`` as ``_raw_sets`` reads it (``as_user_data``): a list of row dicts (one value a
    key, ``df.to_dict("records")``) is the long table ``pd.DataFrame(rows)`` makes of it where
    no dict holds a key of a set dict (``SET_KEYS``): a set's fields are arrays, so such a
    list holds no set. A list of dicts holding those keys stays sets, as before."""
    rows = holds_rows(data) and not any(SET_KEYS & set(r) for r in data)
    return as_user_data(data, rows=rows)


class SetsUserData:
    """User data <-> stored records for ``SetsDomain``."""

    @classmethod
    def schema_with_provenance(cls, schema: Mapping[str, Any],
                               provenance: Mapping[str, Any]) -> dict[str, Any]:
        """A run's ``schema`` with what its store's ingest was told (``provenance["options"]``)
        of the columns and items it left out (``drift.ingest_choices``), so that the run's own
        training file draws no drift warning for them. ``infer.load`` calls it with the run's
        store; a run whose store is gone keeps its schema, and the warnings as without it."""
        if "ingest_choices" in schema:
            return dict(schema)
        given = provenance.get("options") if isinstance(provenance, Mapping) else None
        return {**schema, "ingest_choices": ingest_choices(given)}

    def _ingest_choices(self) -> dict[str, Any]:
        return ingest_choices(None) | dict(self.schema.get("ingest_choices") or {})

    def _raw_sets(self, data: Any, source: str = "") -> list[RawSet]:
        """Parse user data (long-format frame, list / dict of sets, .csv / .npz path);
        ``source``: the file a frame was read from, named once in messages. A polars / pyarrow
        table is read as pandas, a masked array's masked entries as missing, row dicts as a long
        table (``user_data``)."""
        layout = self.layout
        if isinstance(data, str):
            data, source = self.read_input(data), data
        data = user_data(data)
        if isinstance(data, pd.DataFrame):
            set_col = self.schema.get("set_column") or "set"
            id_col = self.schema.get("id_column") if self.has_ids else None
            others = [set_col, *([id_col] if id_col else []), *layout.feature_names]
            data = match_coord_case(data, layout.coord_names, others)  # X for x, as ingest reads it
            needed = [set_col, *([id_col] if id_col else []), *layout.coord_names,
                      *layout.feature_names]
            missing = [c for c in needed if c not in data.columns]
            if missing:
                raise ValueError(f"the data lacks columns {missing} that the model was trained "
                                 f"with; columns: {list(data.columns)}")
            unused = unused_columns_message(data, needed, layout.coord_names, layout.feature_names,
                                            self.has_ids, self._ingest_choices()["named"])
            if unused:
                warnings.warn(f"{source}: {unused}" if source else unused, UnusedColumnWarning,
                              stacklevel=3)
            raws = list(frame_sets(data, source, set_col, id_col, layout.feature_names,
                                   layout.coord_names))
        elif isinstance(data, (list, tuple, Mapping)):
            width = len(layout.coord_names) + len(layout.feature_names)
            items = data.items() if isinstance(data, Mapping) and not \
                {"ids", "features", "coords"} & set(data) else None
            seq = list(data.values()) if items is not None else list(data)
            # plain arrays at inference are [n, D + F]: coordinates, then features
            converted = []
            for i, s in enumerate(seq):
                if isinstance(s, Mapping):
                    converted.append(s)
                    continue
                arr = np.asarray(s, dtype=np.float64)
                if self.has_ids or arr.ndim != 2 or arr.shape[1] != width:
                    raise ValueError(f"set {i}: a plain array must be [elements, {width}] "
                                     f"(coordinates {layout.coord_names} then features "
                                     f"{layout.feature_names}); got shape {arr.shape}. Pass a "
                                     "dict with 'ids'/'features'/'coords' instead.")
                d = len(layout.coord_names)
                converted.append({k: v for k, v in (("coords", arr[:, :d]),
                                                    ("features", arr[:, d:])) if v.shape[1]})
            if items is not None:
                converted = dict(zip([k for k, _ in items], converted))
            raws = python_sets(converted)
        else:
            raise TypeError("sets data must be a long-format DataFrame (pandas, polars, pyarrow), a list "
                            "of sets (dicts or arrays), a name -> set dict, or a .csv/.npz path. Got "
                            f"{type_name(data)} instead.")
        for raw in raws:
            if len(raw) and layout.has_ids and raw.ids is None:
                raw.ids = [None] * len(raw)  # ids absent from a set: all missing, infill them
            check_layout(raw, layout)
        return raws

    def to_records(self, data: Any, source: str = "") -> list[Record]:
        out = []
        raws = self._raw_sets(data, source)
        for i, raw in enumerate(raws):
            if len(raw) == 0:
                record = self._empty_record()
            else:
                record = raw_to_record(raw, self.layout, self.index)
            record["id"] = raw.name
            record["_index"] = i
            out.append(record)
        self._warn_unknown_items(raws, source)
        return out

    def read_records(self, path: str) -> list[Record]:
        """``to_records`` of the file, its messages naming it (once)."""
        return self.to_records(self.read_input(path), source=path)

    def _warn_unknown_items(self, raws: list[RawSet], source: str = "") -> None:
        """One warning when some given items are not in the vocabulary (``drift``): they are
        read as [UNK], so their elements move the predictions as one input for any item. Items
        as rare as those ingest's ``min_count`` read as [UNK] are no drift: counted apart."""
        if not self.has_ids:
            return
        given = [i for raw in raws if raw.ids is not None for i in raw.ids if i is not None]
        unknown = [i for i in given if i not in self.index]
        count = int(self._ingest_choices()["min_count"])
        trained = round(float(self.schema.get("num_sets") or 0) * float(self.schema.get("mean_set_size") or 0))
        rare = rarer_than_min_count(unknown, sum(len(raw) for raw in raws), trained, count)
        new = [i for i in unknown if i not in rare]
        column = self.schema.get("id_column") or "ids"
        said = unknown_items_message(column, new, self.vocab, len(given), len(unknown) - len(new), count)
        if said:
            where = f"{source}: " if source else ""
            warnings.warn(where + said, UnknownValueWarning, stacklevel=3)

    def _empty_record(self) -> Record:
        record: Record = {}
        if self.has_ids:
            record["ids"] = np.zeros(0, dtype=np.int32)
        if self.num_features:
            record["features"] = np.zeros((0, self.num_features), dtype=np.float64)
        if self.coord_dims:
            record["coords"] = np.zeros((0, self.coord_dims), dtype=np.float64)
        return record

    def _write_back(self, data: Any, raws: list[RawSet], filled: list[Record]) -> Any:
        """Filled records -> the user's kind of data; only missing entries are written."""
        if isinstance(data, str):
            data = self.read_input(data)
        data = user_data(data)  # as _raw_sets read it: a polars table, row dicts filled as pandas
        if isinstance(data, pd.DataFrame):
            out = data.copy()
            id_col = self.schema.get("id_column") if self.has_ids else None
            for raw, rec in zip(raws, filled):
                if not len(raw):
                    continue
                if id_col:
                    col = out.columns.get_loc(id_col)
                    miss = np.asarray([i is None for i in raw.ids])
                    if miss.any():
                        out[id_col] = out[id_col].astype(object)
                        out.iloc[raw.rows[miss], col] = [self.item(int(t))
                                                         for t in rec["ids"][miss]]
                for j, name in enumerate(self.layout.feature_names):
                    miss = np.isnan(raw.features[:, j])
                    if miss.any():
                        col = out.columns.get_loc(name)
                        vals = rec["features"][miss, j].astype(np.float64)
                        if pd.api.types.is_integer_dtype(out[name].dtype):  # counts: whole numbers, dtype kept
                            vals = np.round(vals).astype(np.int64)
                        elif pd.api.types.is_float_dtype(out[name].dtype):  # float32 / Float64 kept:
                            vals = as_float_column(vals, out[name].dtype)  # pandas refuses float64 in float32
                        out.iloc[raw.rows[miss], col] = vals
            return out
        seq = list(data.values()) if isinstance(data, Mapping) and not \
            {"ids", "features", "coords"} & set(data) else list(data)
        result = []
        for item, raw, rec in zip(seq, raws, filled):
            result.append(self._fill_item(item, raw, rec))
        if isinstance(data, Mapping) and len(result) == len(data) and not \
                {"ids", "features", "coords"} & set(data):
            return dict(zip(data.keys(), result))
        return result

    def _fill_item(self, item: Any, raw: RawSet, rec: Record) -> Any:
        if not len(raw):
            return copy.deepcopy(item)
        # the entries missing as _raw_sets read them (NaN, None, a masked entry), not as the
        # item's dtype shows them: an object array's None was left unfilled
        missing = np.isnan(raw.features)
        if not isinstance(item, Mapping):
            arr = _with_room(np.array(item, copy=True), missing.any())
            d = self.coord_dims
            if missing.any():
                r, c = np.nonzero(missing)
                arr[r, d + c] = rec["features"][r, c]
            return arr
        out = dict(item)
        if self.has_ids:
            given = item.get("ids")
            ids = list(given) if given is not None else [None] * len(raw)
            for k, v in enumerate(raw.ids):
                if v is None:
                    ids[k] = self.item(int(rec["ids"][k]))
            out["ids"] = ids if not isinstance(given, np.ndarray) else np.asarray(ids, dtype=object)
        if self.num_features and item.get("features") is not None:
            feats = _with_room(np.array(item["features"], copy=True), missing.any())
            if missing.any():
                flat = feats.reshape(len(raw), -1)
                r, c = np.nonzero(missing)
                flat[r, c] = rec["features"][r, c]
            out["features"] = feats
        return out

    # ---- files -----------------------------------------------------------------------
    def read_options(self) -> dict[str, Any]:
        """The ingest options a raw file is read back with (``read_input``, ``_raw_sets``): the
        store's set and item columns and the columns its coordinates and features came from.
        A user may give them again at embed / infill / predict (``set_column=set``); a value
        other than the run's is refused (``infer.pretrained.split_read_options``)."""
        return {"set_column": self.schema.get("set_column") or "set",
                "id_column": self.schema.get("id_column") if self.has_ids else None,
                "coord_columns": list(self.schema.get("coord_names") or []),
                "feature_columns": list(self.schema.get("feature_names") or [])}

    def read_input(self, path: str) -> Any:
        kind = source_kind(path)
        if kind == "csv":
            return read_csv_frame(path, self.schema.get("id_column") if self.has_ids else None,
                                  self.schema.get("set_column") or "set", keep_integers=True)
        _, sets = read_npz(path)
        out = []
        for raw in sets:
            item: dict[str, Any] = {"name": raw.name}
            if raw.ids is not None:
                item["ids"] = raw.ids
            if raw.features.shape[1]:
                item["features"] = raw.features
            if raw.coords.shape[1]:
                item["coords"] = raw.coords
            out.append(item)
        return out

    def write_output(self, data: Any, path: str) -> None:
        if isinstance(data, pd.DataFrame):
            if source_kind(path) != "csv":
                raise ValueError(f"{path}: a data frame is written as .csv; got another suffix")
            # the separator the name says (.tsv: tabs), as the reader expects it
            # blank header cells as the file read had them (df.to_csv()'s index column)
            atomic_write(path, lambda tmp: data.to_csv(tmp, sep=delimiter(path), index=False,
                                                       header=written_header(data)))
            return
        if source_kind(path) != "npz":
            raise ValueError(f"{path}: a list of sets is written as .npz; got another suffix")
        raws = self._raw_sets(data)
        lengths = [len(r) for r in raws]
        arrays: dict[str, np.ndarray] = {
            "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            "set_ids": np.asarray([r.name for r in raws], dtype=str),
            "feature_names": np.asarray(self.layout.feature_names, dtype=str),
            "coord_names": np.asarray(self.layout.coord_names, dtype=str)}
        if self.has_ids:
            # an empty set carries no ids (``_raw_sets`` gives missing ids to sets with elements)
            arrays["ids"] = np.asarray([i if i is not None else "" for r in raws for i in (r.ids or ())],
                                       dtype=str)
        if self.num_features:
            arrays["features"] = np.concatenate([r.features for r in raws]) if raws else \
                np.zeros((0, self.num_features))
        if self.coord_dims:
            arrays["coords"] = np.concatenate([r.coords for r in raws]) if raws else \
                np.zeros((0, self.coord_dims))
        atomic_write(path, lambda tmp: np.savez(tmp, **arrays))


def _with_room(arr: np.ndarray, filling: bool) -> np.ndarray:
    """``arr`` able to hold fills: float64 where it is not floats (an object array of numbers
    and None, a list read as objects) and something is to be filled; else ``arr`` as given."""
    return arr.astype(np.float64) if filling and arr.dtype.kind not in "fc" else arr


def as_float_column(values: np.ndarray, dtype: Any) -> Any:
    """float64 fills in a float column's ``dtype`` (float32, float16, Float64, ...), held at its
    largest finite value rather than made inf (float16 stops at 65504)."""
    dtype = pd.api.types.pandas_dtype(dtype)
    numpy = dtype if isinstance(dtype, np.dtype) else np.dtype(dtype.numpy_dtype)
    top = float(np.finfo(numpy).max)
    return pd.array(np.clip(values, -top, top).astype(numpy), dtype=dtype)
