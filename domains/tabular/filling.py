"""Filling a user's table: ``infill`` (the encoder's predictions, blended with
IterativeImputer by ``infill_blend``) and the ``infill_candidates`` that ``select=auto``
compares it with.

A mixin of ``TabularDomain`` (it reads ``self.schema``, ``self.options`` and the domain's
featurize / decode); split out so the domain module keeps to one job per file.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Mapping

import numpy as np
import pandas as pd

from encoderkit.domain import PredictFn
from encoderkit.errors import DataError
from encoderkit import session_state

from domains.tabular.blend import (CategoryForests, FittedImputers, category_proba, classical_estimate,
                                   forest_fits)
from domains.tabular.datetext import date_fills, text_dates
from domains.tabular.imputer_files import ImputerFileRefused, fitted_imputers
from domains.tabular.plausible import plausible_column
from domains.tabular.schema import as_frame, decode_numeric, encode_frame, fill_column
from domains.tabular.schema_match import unicode_twins_said


def empty_columns(frame: pd.DataFrame, names: list[str]) -> list[str]:
    """Those of the table's columns ``names`` whose every cell is missing: the model reads such
    a column as it reads an absent one. Said for a table of two rows or more: the one empty
    cell of a single row is a missing value, not a column that lost its values."""
    if len(frame) < 2:
        return []
    by_name = {str(k): k for k in frame.columns}
    return [n for n in names if n in by_name and frame[by_name[n]].isna().all()]


# the training rows the classical imputers of a run's infill are fitted on: REFERENCE_CELLS
# cells' worth (1,000 to 4,000 rows, fewer for wider tables), in REFERENCE_BLOCKS runs of
# consecutive rows spread over the store (one read each; a store sorted by some column is
# still sampled across it). The numeric chains' cost grows with rows x columns: 3.5 s for 9
# columns x 4,000 rows, 3.9 s CPU for 400 x 1,000, 21 s for 1,000 x 1,000. A linear chain slower to fit than to load (wide
# tables) is saved in the run directory by the first infill and loaded by the next commands
# (imputer_files.py: skops, not pickle); the forest is fitted by every command (its file would
# load no faster than it fits). fair (9 columns) with 1,000 rows filled its held-out
# rows at NRMSE 0.942, with 4,000 at 0.918 (benchmarks/RESULTS.md, "eleventh sweep").
REFERENCE_CELLS = 40_000
REFERENCE_MIN_ROWS, REFERENCE_MAX_ROWS = 1_000, 4_000
REFERENCE_BLOCKS = 20
# The table rows whose blended numeric cells and category votes are made at a time from
# imputers fitted on the run's training rows (``FittedImputers``: each row on its own), in
# blocks at fixed places of the table (rows 0 .., FILL_ROWS .., ...), however it is read: the
# linear chain holds about 1 KB a row in flight (2 GB for a table of 2M rows, all at once).
# BLAS sums a row's products in an order that depends on how many rows it is given (the last
# bits of a fill: 1e-16 relative), so a table of at most FILL_ROWS rows is filled exactly as one
# pass over all its rows filled it.
FILL_ROWS = 1 << 16
# One entry per classical imputer (kind), not per blend: a run's fills ask for
# ``iterative+forest`` (the blend), then ``iterative`` and ``forest`` alone (``select=auto``'s
# candidates), and a cache keyed by the kinds asked for fitted each imputer twice
# (breast_cancer: a forest fit of ~6 s and its ~125 MB twice). FITTED_ENTRIES: two stores' worth.
_FITTED: dict[tuple[str, str, int, str], FittedImputers] = {}  # (store, identity, rows, kind)
FITTED_ENTRIES = 4
# Threads of one process (a service holding several runs, notebook threads) share _FITTED: one
# call's eviction deleted another's entry between its insert and its read, and that KeyError was
# read as "the training store cannot be read", so the fill fell back to imputers fitted on the
# rows being filled (every filled cell changed; a warning said the store was unreadable).
# So the cache is used under the session's one lock (``session_state.held``, re-entrant): a lock
# of its own would deadlock against it, as the fits take it (``warnings_kept``) while a fit under
# ``held`` (EncoderImputer) may wait here. Fits of a missing kind are made under it too: two
# threads would fit the same forest twice.
_SAID_NO_STORE: set[tuple[str, str]] = set()


def _store_matrices(store: Any, n_columns: int, n: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``num``, ``cat``, ``observed`` ``[N, C]`` of the store's first ``n`` rows (default all;
    ``REFERENCE_CELLS`` // C of them at most, within 1,000 .. 4,000, in ``REFERENCE_BLOCKS``
    blocks spread over them)."""
    n = len(store) if n is None else int(n)
    cap = max(REFERENCE_MIN_ROWS, min(REFERENCE_MAX_ROWS, REFERENCE_CELLS // max(n_columns, 1)))
    if n <= cap:
        records = store.read_range(0, n, ids=False)
    else:
        size = cap // REFERENCE_BLOCKS
        starts = np.linspace(0, n - size, REFERENCE_BLOCKS).round().astype(np.int64)
        records = [r for s in starts for r in store.read_range(int(s), int(s) + size, ids=False)]
    num = np.zeros((len(records), n_columns), dtype=np.float64)
    cat = np.zeros((len(records), n_columns), dtype=np.int64)
    observed = np.zeros((len(records), n_columns), dtype=bool)
    for i, rec in enumerate(records):
        j = np.asarray(rec["column"], dtype=np.int64)
        num[i, j], cat[i, j], observed[i, j] = rec["num"], rec["cat"], rec["observed"]
    return num, cat, observed


class TableInfill:
    def infill(self, data: Any, predict: PredictFn) -> Any:
        """Fill every missing cell of the schema's columns present in ``data``.

        Columns are matched by name (order never matters); a schema column absent
        from ``data`` is read as missing and not added to the output; columns the
        schema does not know pass through unchanged; an unseen category is the
        unknown category as input and is kept in the output. A numpy array comes
        back as a numpy array of the same dtype.
        """
        return self._fill(data, predict, self.options["infill_blend"])

    def infill_voting(self, data: Any, predict: PredictFn, forests: CategoryForests,
                      forest_weight: Mapping[int, float] | None = None) -> Any:
        """``infill`` whose categorical cells are the soft vote of the encoder and the
        classifiers ``forests`` fitted on another table (``EncoderImputer``); numeric cells
        as ``infill_blend`` says. ``forest_weight``: per schema column index, the forest's
        share of the vote (0: the encoder alone, 1: the forest alone; default 0.5, the
        ``select=auto`` choices of ``EncoderImputer``)."""
        return self._fill(data, predict, self.options["infill_blend"], forests, forest_weight)

    def infill_batched(self, data: Any, predict: PredictFn, max_tokens: int) -> Any:
        """``infill`` that calls ``predict`` a batch at a time (``max_tokens``: the token budget
        it packs examples with): the same fills, bit for bit, without every row's example and
        prediction held at once (``encoderkit infill`` of a file, ``infill_files``)."""
        return self._fill(data, predict, self.options["infill_blend"], max_tokens=max_tokens)

    def infill_candidates(self, data: Any, predict: PredictFn) -> dict[str, Any]:
        """``iterative``: IterativeImputer alone (numeric columns; categorical cells stay
        missing); ``forest`` (with ``infill_blend: iterative+forest`` on a table the forest
        runs on): the forest imputer alone, its classifiers' categories included; with any
        blend, also ``encoder``: the encoder alone (``infill`` is their mean, and for
        categories their soft vote). See ``encoderkit.selection``."""
        out = {"iterative": self._fill(data, None, "iterative")}
        if "forest" in self._estimators(self.options["infill_blend"]):
            out["forest"] = self._fill(data, None, "forest")
        if self.options["infill_blend"] != "none":
            out["encoder"] = self._fill(data, predict, "none")
        return out

    def _training_imputers(self, kinds: list[str]) -> FittedImputers | None:
        """The classical imputers ``kinds`` fitted on the run's training rows
        (``FittedImputers``; cached by the store's identity), or None without a training store
        (``impute``, a Python domain: the rows being filled are the table) or with one that
        cannot be read or holds another table than the run's (its columns' statistics are not
        the run's schema: a store re-ingested, or another one at a relative path read from
        elsewhere) or other records (re-ingested from other files); then said, and the rows
        being filled are used. A store appended to since the run trained (``append=true``) is
        read up to the run's records (its first ones, ``run_records``): the run fills as before."""
        path = self.training_store
        if not kinds or path is None:
            return None
        import json

        from encoderkit.data.ingest import run_records
        from encoderkit.data.store import RecordStore
        from encoderkit.errors import EncoderkitError

        def columns(schema: Mapping[str, Any]) -> str:
            return json.dumps(schema.get("columns", []), sort_keys=True, default=str)
        why, fitted = None, None
        try:
            store = RecordStore(path)
            if columns(store.schema) != columns(self.schema):
                why = "holds another table than the run was trained on (its columns or their statistics differ)"
            elif (n := run_records(store, self.training_inputs)) is None:
                then = (self.training_inputs or {}).get("records")
                why = (f"holds other rows than the run was trained on ({then} then, {len(store)} now; "
                       f"re-ingested or replaced since, not appended to)")
            else:
                fitted = self._fitted_kinds(store, str(path), n, kinds)
        except ImputerFileRefused:  # a saved imputer file of the run's: no fallback hides it
            raise
        except (EncoderkitError, OSError, ValueError, KeyError) as e:
            why = f"cannot be read ({' '.join(str(e).split())})"
        if why is not None:
            if (str(path), why) not in _SAID_NO_STORE:
                _SAID_NO_STORE.add((str(path), why))
                # where relative (an object given a relative training_store): from where this runs
                shown = path if "://" in str(path) or os.path.isabs(str(path)) else \
                    f"{path} (relative to {os.getcwd()})"
                warnings.warn(f"the run's training store {shown} {why}: infill_blend's classical imputers "
                              f"are fitted on the rows being filled instead, so a row's fill depends on "
                              f"the rows filled with it; pass store=<the store the run trained on> to "
                              f"infill to name it", stacklevel=4)
            return None
        return fitted

    def _fitted_kinds(self, store: Any, path: str, n: int, kinds: list[str]) -> FittedImputers:
        """``kinds`` fitted on the first ``n`` records of ``store`` (at ``path``), each kind
        once per store (``_FITTED``): the ones not cached are loaded from the run directory
        where an earlier process saved them (``imputer_files``), else fitted on one read of the
        store (and saved there)."""
        keys = {k: (path, store.identity, n, k) for k in kinds}
        with session_state.held():
            missing = [k for k in kinds if keys[k] not in _FITTED]
            table: list[np.ndarray] = []  # the store's rows: read once, and only for a fit
            names = [c["name"] for c in self.columns]

            def rows() -> tuple[np.ndarray, ...]:
                if not table:
                    table.extend(_store_matrices(store, len(self.columns), n))
                return tuple(table)
            for k in missing:
                def blank(k: str = k) -> FittedImputers:
                    return FittedImputers([k], self.layout.is_numeric, np.asarray(self.layout.cat_sizes) - 1,
                                          names=names)
                _FITTED[keys[k]] = fitted_imputers(self.run_dir, store, n, k, self.schema, blank, rows)
            for k in kinds:  # the ones used now, last out
                _FITTED[keys[k]] = _FITTED.pop(keys[k])
            parts = [_FITTED[keys[k]] for k in kinds]
            while len(_FITTED) > FITTED_ENTRIES:  # a forest per column is no small object
                del _FITTED[next(iter(_FITTED))]
            return parts[0] if len(parts) == 1 else FittedImputers.joined(parts)

    def release_training_imputers(self) -> None:
        """Forget the imputers fitted on this domain's training store (``_FITTED``): ``encoderkit
        impute`` calls it once the held-back cells are filled, so that the file's own fill,
        which fits them on the file, never holds a second forest beside the first (breast_cancer:
        ~125 MB each); its store is a temporary one, so its fits would only wait to be evicted."""
        with session_state.held():
            for key in [k for k in _FITTED if k[0] == str(self.training_store)]:
                del _FITTED[key]

    def _estimators(self, blend: str) -> list[str]:
        """The classical imputers of ``blend`` (``iterative+forest`` -> both; the forest
        only where the table is narrow enough, ``blend.forest_fits``)."""
        kinds = [k for k in blend.split("+") if k != "none"]
        return [k for k in kinds if k != "forest" or forest_fits(len(self.columns), say=True)]

    def _fill(self, data: Any, predict: PredictFn | None, blend: str,
              forests: CategoryForests | None = None,
              forest_weight: Mapping[int, float] | None = None, max_tokens: int | None = None) -> Any:
        """``infill`` with the given blend; ``predict`` None: no model, numeric cells
        from the classical imputer(s) of ``blend`` alone (``iterative`` or ``forest``),
        categorical cells from the forest's classifiers (left missing without one).
        ``forests``: fitted classifiers to vote with instead of fitting them on ``data``;
        ``forest_weight``: see ``infill_voting``; ``max_tokens``: see ``_encoder_fills``."""
        is_array = isinstance(data, np.ndarray)
        frame = as_frame(data)
        enc = encode_frame(frame, self.schema, quiet=self.options["drop_columns"])
        self._check_columns(frame, enc.present, data, say_empty=False)  # a blank column: the request
        names = {str(k): k for k in frame.columns}
        # cells to fill: missing in the frame, in a schema column the frame has
        missing = np.zeros_like(enc.observed)
        for j, col in enumerate(self.columns):
            if enc.present[j]:
                missing[:, j] = frame[names[col["name"]]].isna().to_numpy()
        rows = np.flatnonzero(missing.any(axis=1))
        out = frame.copy()
        if rows.size == 0:
            return out.to_numpy() if is_array else out
        # the fills of the rows with a hole, [R, C]: row k is the table's row rows[k]
        filled_cat = enc.cat[rows]
        filled_num = enc.num[rows].astype(np.float64)
        kinds = self._estimators(blend)
        fitted = self._training_imputers(kinds)
        if fitted is not None and forests is None:
            forests = fitted.forests
        vote = forests is not None or "forest" in kinds
        encoder_proba: dict[tuple[int, int], np.ndarray] = {}
        if predict is not None:
            self._encoder_fills(enc, missing, rows, predict, max_tokens, filled_cat, filled_num,
                                encoder_proba if vote else None)
        if kinds:  # numeric cells: the mean of the encoder (when there is one) and the imputers
            self._blend_numeric(kinds, fitted, enc, missing, rows, filled_num, predict is not None)
        voted = self._vote_categories(enc, missing, rows, filled_cat, encoder_proba, forests, forest_weight) \
            if vote else set()
        for j, col in enumerate(self.columns):
            if not enc.present[j] or not missing[:, j].any():
                continue
            if predict is None and col["kind"] != "numeric" and j not in voted:
                continue
            sel = missing[:, j]
            at = missing[rows, j]  # the same cells, among the rows with a hole
            key = names[col["name"]]
            if col["kind"] == "numeric":
                # a count's chain fill below 0, float32 noise off an observed value (plausible.py)
                values = plausible_column(decode_numeric(filled_num[at, j], col), frame[key], col)
                if col.get("datetime") and text_dates(frame[key]) is not None:  # dates as text: as written
                    values = date_fills(values, frame[key].dropna().to_numpy(dtype=object))
            else:
                cats = col["categories"]
                values = [cats[int(k) - 1] for k in filled_cat[at, j]]
            out[key] = fill_column(frame[key], values, sel)
        return out.to_numpy(dtype=data.dtype) if is_array else out

    def _encoder_fills(self, enc: Any, missing: np.ndarray, rows: np.ndarray, predict: PredictFn,
                       max_tokens: int | None, filled_cat: np.ndarray, filled_num: np.ndarray,
                       proba: dict[tuple[int, int], np.ndarray] | None) -> None:
        """The encoder's fills of the table's rows ``rows`` (those with a hole), in place in
        ``filled_cat`` / ``filled_num`` (their row k is the table's row ``rows[k]``), and with
        ``proba`` its probabilities of each categorical cell's categories, by (table row, column).
        ``max_tokens``: the token budget ``predict`` packs examples with; given, ``predict`` is
        called once per batch it would pack of all the rows' examples (every row is as many
        tokens: the batches are runs of equal size), so the fills are the same, bit for bit
        (a batch's composition moves the last bits), while only one batch of examples and
        predictions is held at a time; None: one call with every example."""
        column = np.arange(len(self.columns), dtype=np.int64)

        def examples(ks: range) -> list[tuple[int, Any]]:
            out = []
            for k in ks:
                r = rows[k]
                m = self.unmasked(self.featurize({"column": column, "cat": enc.cat[r], "num": enc.num[r],
                                                  "observed": enc.observed[r]}))
                m.predict = missing[r].copy()
                m.record = int(r)
                out.append((k, m))
            return out
        width = int(self._keep.sum())  # a row's tokens: the schema's columns but drop_columns
        per = len(rows) if max_tokens is None or width == 0 else max(1, max(int(max_tokens), width) // width)
        for a in range(0, len(rows), per):
            batch = examples(range(a, min(len(rows), a + per)))
            for (k, m), p in zip(batch, predict([m for _, m in batch])):
                rec = self.decode(p, m)
                filled_cat[k] = rec["cat"]
                filled_num[k] = rec["num"]
                if proba is not None:
                    proba.update(((int(rows[k]), j), q) for j, q in self._category_proba(p, m).items())

    def _blend_numeric(self, kinds: list[str], fitted: FittedImputers | None, enc: Any, missing: np.ndarray,
                       rows: np.ndarray, filled_num: np.ndarray, with_encoder: bool) -> None:
        """The numeric cells of the rows ``rows`` (``filled_num``'s, in place) as the mean of
        the classical imputers ``kinds`` and, ``with_encoder``, the encoder's fill there. Imputers
        fitted on the run's training rows (``fitted``) estimate ``FILL_ROWS`` table rows at a
        time (see there); without them they are fitted on the whole table, as it is."""
        is_numeric = self.layout.is_numeric
        n = len(enc.num)
        step = FILL_ROWS if fitted is not None else max(n, 1)
        for a in range(0, n, step):
            b = min(n, a + step)
            lo, hi = (int(i) for i in np.searchsorted(rows, [a, b]))
            held = rows[lo:hi]
            cells = missing[held] & is_numeric[None, :]
            if fitted is not None and not cells.any():
                continue
            block = slice(a, b)
            parts = [(fitted.estimate(k, enc.num[block], enc.cat[block], enc.observed[block])
                      if fitted is not None else
                      classical_estimate(k, enc.num, enc.cat, enc.observed, is_numeric))[held - a][cells]
                     for k in kinds]
            mine = filled_num[lo:hi]  # a view: written in place
            if with_encoder:
                parts.append(mine[cells])
            mine[cells] = np.mean(parts, axis=0)

    def _category_proba(self, predictions: dict[str, np.ndarray], example: Any) -> dict[int, np.ndarray]:
        """The encoder's probabilities over the known categories of each predicted
        categorical cell of one record, by column (a softmax of its logits)."""
        lay = self.layout
        out = {}
        logits = np.asarray(predictions["cat_logits"], dtype=np.float64)
        for i, j in enumerate(example.inputs["column"][example.predict]):
            if lay.is_numeric[j]:
                continue
            start = int(lay.cat_offset[j]) + 1
            z = logits[i, start:start + int(lay.cat_sizes[j]) - 1]
            e = np.exp(z - z.max())
            out[int(j)] = e / e.sum()
        return out

    def _vote_categories(self, enc: Any, missing: np.ndarray, rows: np.ndarray, filled_cat: np.ndarray,
                         encoder_proba: dict[tuple[int, int], np.ndarray],
                         forests: CategoryForests | None = None,
                         forest_weight: Mapping[int, float] | None = None) -> set[int]:
        """Missing categorical cells (in place in ``filled_cat``, whose row k is the table's row
        ``rows[k]``) from the forest's class probabilities (``forests``', else fitted on this
        table), averaged with the encoder's where it predicted the cell (a soft vote, the forest
        weighing ``forest_weight[j]``, default one half); returns the columns filled (a column
        the forest cannot learn, or whose forest weighs 0, keeps the encoder's fill). Fitted
        ``forests`` vote on ``FILL_ROWS`` table rows at a time (each row on its own)."""
        lay = self.layout
        weight = {} if forest_weight is None else {int(j): float(w) for j, w in forest_weight.items()}
        off = [j for j, w in weight.items() if w <= 0.0]
        n = len(enc.cat)
        step = FILL_ROWS if forests is not None else max(n, 1)
        voted: set[int] = set()
        for a in range(0, n, step):
            b = min(n, a + step)
            cells = missing[a:b] & ~lay.is_numeric[None, :]
            cells[:, off] = False
            if not cells.any():
                continue
            if forests is not None:
                forest = forests.predict_proba(enc.num[a:b], enc.cat[a:b], enc.observed[a:b], cells)
            else:
                forest = category_proba(enc.num, enc.cat, enc.observed, lay.is_numeric,
                                        np.asarray(lay.cat_sizes) - 1, cells,
                                        names=[c["name"] for c in self.columns])
            for j, proba in forest.items():
                w = weight.get(j, 0.5)
                at = np.flatnonzero(cells[:, j]) + a
                for r, k, q in zip(at, np.searchsorted(rows, at), proba):
                    if (int(r), j) in encoder_proba:
                        q = w * q + (1.0 - w) * encoder_proba[(int(r), j)]
                    filled_cat[k, j] = 1 + int(np.argmax(q))
            voted |= set(forest)
        return voted

    def _check_columns(self, frame: pd.DataFrame, present: np.ndarray, data: Any = None,
                       say_empty: bool = True, observed: np.ndarray | None = None) -> None:
        """Refuse a table none of whose columns the model knows (filling nothing would pass
        the input through silently); warn when only some match. ``data``: what the caller
        gave, whose columns ``frame`` may have named (``as_frame``: an array's c0, c1, ...).
        ``say_empty``: also warn of columns with no value in any row (predict / embed / evaluate,
        which read them as absent); False on infill / impute, where a column left blank is
        the request to fill it. ``observed``: the encoded cells' observed mask (rows x schema
        columns) when ``frame`` holds the column names only (a table read a column at a time)."""
        inputs = np.array([c["name"] not in self.options["drop_columns"] for c in self.columns], dtype=bool)
        expected = [c["name"] for c in self.columns if c["name"] not in self.options["drop_columns"]]
        found = [str(c) for c in frame.columns]
        present = present[inputs]  # a fine-tuned model's label column is no input: never expected
        unnamed = isinstance(data, np.ndarray) or not any(isinstance(c, str) for c in frame.columns)
        if not present.any() and unnamed:
            # 'found c0, c1' named columns the user never wrote: say what to pass instead
            more = " ..." if len(found) > 3 else ""
            what = "a numpy array has" if isinstance(data, np.ndarray) else \
                f"the table's columns are numbers ({list(frame.columns[:3])}{more}), so it has"
            raise DataError(f"{what} no column names that the model can match: it reads columns by "
                            f"name, and its {len(expected)} input columns are {expected[:10]}"
                            f"{' ...' if len(expected) > 10 else ''}; pass a DataFrame with those "
                            f"column names (pd.DataFrame(array, columns=[...]))")
        if not present.any():
            raise DataError(f"none of the table's columns matches the model's schema (matched by name): "
                            f"expected {expected[:20]}{' ...' if len(expected) > 20 else ''}, "
                            f"found {found[:20]}{' ...' if len(found) > 20 else ''}")
        absent = [n for n, p in zip(expected, present) if not p]
        if absent:
            warnings.warn(f"{len(absent)} of the model's {len(expected)} columns are absent from the "
                          f"table and read as missing: {absent[:10]}{' ...' if len(absent) > 10 else ''}"
                          f"{unicode_twins_said(absent, found)}", stacklevel=3)
        rows = len(frame) if observed is None else observed.shape[0]
        if not say_empty:
            empty = []
        elif observed is None:
            empty = empty_columns(frame, [n for n, p in zip(expected, present) if p])
        else:  # as empty_columns says it: for a table of two rows or more
            seen = observed[:, inputs].any(axis=0)
            empty = [n for n, p, o in zip(expected, present, seen) if p and not o] if rows >= 2 else []
        if empty:  # a column of no value is read as if it were absent: said in the same words
            warnings.warn(f"{len(empty)} of the model's {len(expected)} columns hold no value in any of "
                          f"the table's {rows} rows and are read as missing, as if absent from "
                          f"the table: {empty[:10]}{' ...' if len(empty) > 10 else ''}", stacklevel=3)

    # ------------------------------------------------------------ files
