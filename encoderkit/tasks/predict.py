"""``FineTuned``: a loaded fine-tuned run; ``predict(data)`` -> DataFrame, ``evaluate``.

One row per record: ``id``, ``prediction`` and, for classification / multilabel, one
``proba_<class>`` column per class; regression with several targets writes
``prediction_<target>`` columns; token tasks one row per (record, ``position``). A class
``prediction`` is in the labels' kind (``1`` for int labels, as ``y == out["prediction"]``
needs; ``labels.class_values``), while ``proba_<class>`` names and the CSV / TSV files
``encoderkit predict`` writes keep the class names as text, its Parquet files the labels'
kind (``as_written``). A table whose index repeats a label gets ids by position, with a
warning (``_repeated_index_said``).
``embed`` (inherited) embeds with the fine-tuned encoder. A run of several members
(``task.ensemble``) predicts the average of its members' probabilities or values; it embeds
with its first member. How evaluate lines labels up with the records is
``evaluate_labels``'s, how it scores them ``evaluate_score``'s.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from encoderkit.domain import MaskedExample
from encoderkit.errors import DataError, UsageError
from encoderkit.infer.pretrained import Pretrained, RecordSource, progress_bar
from encoderkit.tasks import labels as L
from encoderkit.tasks.evaluate_labels import _by_position, _frame, _on_rows, _same_path, _unnamed_columns
from encoderkit.tasks.evaluate_score import _scored
from encoderkit.tasks.evaluate_split import (Evaluation, RunSplit, own_records, read_run_split,
                                              split_metrics)
from encoderkit.tasks.metrics import auroc_note_of, format_table
from encoderkit.tasks.objective import to_prediction
from encoderkit.tasks.prediction_output import as_written, output_format, prediction_frame, write_frame  # noqa: F401
from encoderkit.tasks.spec import TaskSpec


# Records a fine-tuned model's head runs on at once (``FineTuned.outputs``): until then each
# record's pooled state is held (a float64 vector a record, with its bookkeeping ~1.5 KB at
# hidden size 32: predict of a 2M-row table took 3.8 GB, 3 GB of it these). The head's products
# are summed in an order that depends on how many records it is given (the last bits of a
# probability), so a table of at most HEAD_RECORDS rows is predicted exactly as in one pass.
HEAD_RECORDS = 1 << 16


class FineTuned(Pretrained):
    """A ``TaskModel`` with its domain and task (see ``encoderkit.load``); ``members``: the
    other members of an ensemble run (``task.ensemble``), empty for one model."""

    members: Sequence["FineTuned"] = ()
    # weights of this model and each member in the average (ensemble.json; empty: equal)
    weights: Sequence[float] = ()
    # the run's split and store record as its folder held them when loaded (set by
    # ``load_finetuned``; ``evaluate_split.run_split_of``): evaluate's per-part figures stay
    # those of the weights in memory when the run folder is replaced on disk
    run_split: RunSplit | None

    @property
    def spec(self) -> TaskSpec:
        return self.model.spec

    def __repr__(self) -> str:
        extra = f"members={1 + len(self.members)}, " if self.members else ""
        return super().__repr__().replace("Pretrained(", f"FineTuned(task={self.spec.type!r}, {extra}", 1)

    def values(self, data: Any, *, progress: bool | None = None,
               max_tokens: int | None = None) -> tuple[list[str], list[np.ndarray]]:
        """(record ids, per-record probabilities / original-unit values): this model's, or
        the mean over the ensemble's members. ``max_tokens``: this call's token budget per
        batch, for every member (None: this model's ``max_tokens``)."""
        data = _opened(data)
        # per call, never stored: a service's one request asking for a small budget changed
        # every later call's, and that of calls running in other threads meanwhile
        budget = int(max_tokens) if max_tokens else self.max_tokens
        if self.members and not isinstance(data, Path) and not hasattr(data, "__len__"):
            data = list(data)  # an iterator is read once per member
        n = 1 + len(self.members)
        weights = list(self.weights) if len(self.weights) == n else [1.0 / n] * n
        ids, outs = self.outputs(data, progress=progress, max_tokens=budget)
        values = [weights[0] * to_prediction(self.spec, o) for o in outs]
        for member, w in zip(self.members, weights[1:]):
            for j, o in enumerate(member.outputs(data, progress=False, max_tokens=budget)[1]):
                values[j] = values[j] + w * to_prediction(member.spec, o)
        check = getattr(data, "check_unchanged", None)
        if check is not None:  # a store replaced since it was opened: no output from a mix of two
            check()
        return ids, _constants_exact(self, values)

    # ---- raw outputs ----
    def outputs(self, data: Any, *, progress: bool | None = None,
                max_tokens: int | None = None) -> tuple[list[str], list[np.ndarray]]:
        """(record ids, per-record raw head outputs) in input order; ``max_tokens``: this
        call's token budget per batch (None: this model's ``max_tokens``)."""

        from encoderkit.data.collate import collate
        from encoderkit.infer.embed import autocast_for, pack_in_order, record_jobs, show_windows
        from encoderkit.tasks.outputs import collect
        from encoderkit.tasks.token_range import check_window_positions, positioned

        source = RecordSource(data, self.domain)
        ids: list[str] = []

        def records():
            for index, rid, rec in source:
                ids.append(rid)
                yield index, rid, rec

        # rows of a token task are record positions (Domain.token_positions of the raw windows,
        # as in training; a [CLS] has none): checked to cover each of the record's positions
        # (record_size) once and none past its end
        token_level = bool(getattr(getattr(self.model, "spec", None), "token_level", False))
        annotate, sizes = positioned(self.domain) if token_level else (None, {})

        def windows():
            for job in record_jobs(self.domain, records(), self.max_seqlen, annotate):
                if token_level:
                    check_window_positions(self.domain, [w.labels["position"] for w in job.windows],
                                           sizes.pop(job.index), job.id)
                yield from ((job, i, w) for i, w in enumerate(job.windows))

        n = len(source)
        bar = progress_bar(n, "predict", progress)
        budget = max(max_tokens or self.max_tokens, self.max_seqlen)
        groups = pack_in_order(windows(), lambda jw: len(jw[2]), budget)
        ended = []

        def batches():
            """The next batches, up to one that ends the ``HEAD_RECORDS``-th record (``collect``
            holds each record's pooled state until the head runs on them at its end)."""
            done = 0
            for group in groups:
                yield collate([w for _, _, w in group])
                # records finish in order; one of many windows counted once, at its last window
                # (it was counted once per batch it reached: a 1e6-sample series showed 30/1)
                job, i, _ = group[-1]
                show_windows(bar, [(job, i + 1)] if i < len(job.windows) - 1 else [])
                finished = sum(i == len(job.windows) - 1 for job, i, _ in group)
                bar.update(finished)
                done += finished
                if done >= HEAD_RECORDS and i == len(job.windows) - 1:
                    return
            ended.append(True)

        order: list[int] = []
        outs: list[np.ndarray] = []
        try:
            while not ended:
                part = collect(self.model, batches(), self.device, autocast=lambda: autocast_for(self.device))
                order += part[0]
                outs += part[1]
        finally:
            bar.close()
        if order != list(range(len(ids))):
            raise DataError("some records produced no tokens and cannot be predicted")
        return ids, outs

    # ---- predictions ----
    def predict(self, data: Any, *, max_tokens: int | None = None,
                progress: bool | None = None) -> Any:
        """Predictions for every record of ``data`` (a store, its path, records, a file's
        path, or user data the domain reads) as a DataFrame (see the module docstring);
        a file's records are named as ingest names them."""
        if isinstance(data, Sequence) and data and isinstance(data[0], MaskedExample):
            raise UsageError("a fine-tuned model has no masked-token head: infill needs the "
                             "pretrained run")
        if self.spec.contrastive:
            raise UsageError(f"a {self.spec.type} run predicts no labels; use embed (its "
                             "embeddings are the output)")
        ids, values = self.values(data, progress=progress, max_tokens=max_tokens)
        frame = prediction_frame(self.spec, ids, values)
        index = self.domain.row_index(data)
        if index is not None:  # a table's rows: the caller's index, so df["p"] = out["prediction"] lines up
            frame.index = index.repeat([len(v) for v in values]) if self.spec.token_level else index
            if not index.is_unique and ids:
                _repeated_index_said(index, ids)
        return frame

    def infill(self, data: Any, *args: Any, **options: Any) -> Any:
        raise UsageError("a fine-tuned model has no masked-token head: infill needs the pretrained run")

    def holds_labels(self, source: str | Path) -> bool:
        """Whether the data ``source`` is its own labels file: a raw table holding the run's
        ``task.label_column``, or a file the domain reads labels from (a ``.ts``); or, for
        a ``task.label_column`` run, a record store (its column, as ``finetune`` read it:
        ``_store_column``)."""
        if self.spec.label_column and os.path.isdir(source):
            return True
        return Path(source).is_file() and bool(
            self.spec.label_column or self.domain.read_labels(str(source)) is not None)

    def _store_column(self, data: Any) -> tuple[Any, str] | None:
        """The run's ``task.label_column`` read from the store ``data`` (a path or an open
        store), as ``finetune`` read it: (one row per record in store order, a name for
        messages); None where ``data`` is no store. A store without the column is a
        ``UsageError`` that says what to pass instead."""
        import pandas as pd

        column = self.spec.label_column
        if isinstance(data, (str, Path)) and os.path.isdir(data):
            from encoderkit.data.store import RecordStore

            store, name = RecordStore(str(data)), str(data)
        elif hasattr(data, "schema") and hasattr(data, "read_range"):
            store, name = data, str(getattr(data, "path", "the store"))
        else:
            return None
        try:
            # the store's own layout (its columns), not the run's: another store's column
            # numbers are its own
            values = L.column_values(type(self.domain)(store.schema), store, column)
        except (KeyError, ValueError, TypeError, DataError, NotImplementedError) as e:
            why = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
            raise UsageError(f"evaluate: no labels given, and the store {name} gives none for the run's "
                             f"task.label_column={column!r} ({why}): pass labels=<a file with a "
                             f"{column!r} column (and an 'id' column naming the records)>, or the raw "
                             f"table that holds the column as input=", key="labels") from None
        return pd.DataFrame({column: pd.Series(values, dtype=object)}), f"{name} (column {column!r})"

    def evaluate(self, data: Any, labels: Any = None, *, label_names: Sequence[str] | None = None,
                 verbose: bool = True) -> Evaluation:
        """Task metrics of the predictions for ``data`` against ``labels`` (a labels file,
        aligned as in ``finetune``: by ``id`` or by order, or a data file that holds its own
        labels, such as ``data`` itself when it is a ``.ts``); printed when ``verbose``.
        A dict over every labelled record; where ``data`` holds the run's own records (its
        store, or the file the store was ingested from) also per part of the run's split, with
        a warning when records it trained on were scored (``evaluate_split.Evaluation``:
        ``parts``, ``held_out``, ``trained_on``)."""
        spec = self.spec
        if spec.contrastive:
            raise UsageError(f"a {spec.type} run has no task metrics; probe its embeddings instead")
        # a polars / pyarrow table read as pandas once: its label column found as a pandas one's
        data = _opened(_pandas_or_same(data))  # its label column and its predictions are read from one store
        labels = _pandas_or_same(labels)
        named = None  # how messages name labels taken from a store's column
        if labels is None:  # a table holding the run's label column is its own labels
            import pandas as pd

            stored = self._store_column(data) if spec.label_column else None
            if stored is not None:  # a store of a task.label_column run: its column, as finetune read it
                labels, named = stored
            elif spec.label_column and isinstance(data, pd.DataFrame) and spec.label_column in data.columns:
                labels = data
            elif isinstance(data, (str, Path)) and self.holds_labels(data):
                labels = data  # a raw table with the label column, or a .ts file: as the command reads it
            else:
                raise UsageError("evaluate needs labels: a labels file, an array or a DataFrame "
                                 "(None only for a table or store holding the run's task.label_column, "
                                 "or a data file holding its labels, such as a .ts file)")
        # the data is its own labels (its label column): the same object, the same file, or
        # the column read from the store
        own = labels is data or named is not None or (
            isinstance(labels, (str, Path)) and isinstance(data, (str, Path)) and _same_path(labels, data))
        index = self.domain.row_index(data)
        labels = _on_rows(labels, index) if index is not None else _by_position(labels)
        known = own_records(self, data)  # the run's own records: scored per part of its split too
        shown = str(getattr(data, "path", data)) if known is not None else ""
        if self.members and isinstance(data, (str, Path)) and os.path.isfile(data):
            data = self.domain.read_records(str(data))  # a raw file read once, not once per member
        ids, values = self.values(data)
        # an error names the labels file, or says the labels were given in memory
        file = named or (str(labels) if isinstance(labels, (str, Path)) else "labels (given in memory)")
        frame = L.read_table(labels, self.domain) if isinstance(labels, (str, Path)) else _frame(labels, spec)
        if isinstance(labels, (str, Path)) and str(labels).lower().endswith(".npy"):
            frame = _unnamed_columns(frame, spec, file)
        names = [str(c) for c in frame.columns]
        if not label_names and spec.label_column and (own or (spec.label_column in names
                                                             and "label" not in names)):
            # a table holding the task.label_column: that column (the data itself without it:
            # refused naming the column, not its other columns read as one label tuple)
            label_names = [spec.label_column]
        if own and spec.label_column and list(label_names or []) == [spec.label_column]:
            if str(spec.label_column) not in names:  # said with the table's columns, not the kept ones
                raise UsageError(L.missing_label_column(str(spec.label_column), names), file=file,
                                 key="labels")
            # a data table holding its label column: its features are not labels files' columns;
            # its `id` column only where the records' ids are its values (an `id` column ingest read
            # as an identifier left the ids row<i>: its rows are the records, in order)
            keep = {str(spec.label_column), str(spec.group_column)}
            if "id" in names and (len(frame) != len(ids) or
                                  [str(v) for v in frame["id"]] == [str(v) for v in ids]):
                keep.add("id")
            frame = frame[[c for c in frame.columns if str(c) in keep]]
        # a column of record ids not named `id` (a sets file's `set`): the ids, not a target
        frame = L.use_id_column(frame, np.asarray(ids, dtype=object), file, spec.token_level,
                                list(label_names) if label_names else None,
                                [spec.group_column] if spec.group_column else ())
        if spec.type == "regression":  # targets by name, never by position (L.target_columns)
            label_names = L.target_columns(frame, spec.targets, file, label_names,
                                           exclude=[spec.group_column] if spec.group_column else ())
        table = L.align(frame, np.asarray(ids, dtype=object), file, spec.token_level,
                        list(label_names) if label_names else None,
                        exclude=[spec.group_column] if spec.group_column else ())
        if not np.asarray(table.labelled).any():  # metrics of nothing would be NaN or silently 0
            raise DataError("labels file has no labelled record (no rows, or every label missing)",
                            file=file)
        metrics, y_true = _scored(spec, table, values, ids)
        if verbose:
            print(format_table({"evaluate": metrics}))
            # a class without a labelled unit, a label of one value: said under the table, not
            # a bare "auroc nan" or a mean over fewer classes / labels than the run has
            note = auroc_note_of(spec, y_true)
            if note:
                print(note)
        result = Evaluation(metrics)
        if known is not None:
            split_metrics(result, known, ids, table.labelled,
                          lambda mask: _scored(spec, replace(table, labelled=mask), values, ids)[0],
                          shown, verbose)
        return result


def _constants_exact(model: Any, values: list[np.ndarray]) -> list[np.ndarray]:
    """``values`` (an ensemble's weighted sum, per record) with each regression target that
    every member holds constant (std 0, ``objective_labels.standard_units``: each predicts
    its value exactly) set to that value: the weighted sum of 5 copies of 0.1 is 1 ulp off."""
    specs = [model.spec] + [m.spec for m in model.members]
    if not model.members or model.spec.type not in ("regression", "token_regression") or not model.spec.std:
        return values
    mean = np.asarray(model.spec.mean, dtype=np.float64)
    flat = [j for j in range(len(mean)) if all(len(s.std) == len(mean) and s.std[j] == 0 and s.mean[j] == mean[j]
                                               for s in specs)]
    if flat:
        for v in values:
            v[..., flat] = mean[flat]
    return values


def _pandas_or_same(data: Any) -> Any:
    """``data`` as a pandas DataFrame where it is another library's table (polars, pyarrow:
    ``encoderkit.frames``); else ``data`` itself (a path, a store, an array, pandas)."""
    from encoderkit.frames import as_pandas_frame, rows_as_frame, tensor_as_array

    # labels or data as a torch tensor (one that needs grad too), a list of row dicts: as
    # the loaded run's other entries read them
    data = tensor_as_array(data)
    frame = as_pandas_frame(data)
    if frame is None:
        frame = rows_as_frame(data)
    return data if frame is None else frame


def _opened(data: Any) -> Any:
    """``data``, a store folder opened (as ``RecordSource`` opens it) once for the whole command:
    an ensemble's members, and evaluate's label column, then read the one store, whose
    ``check_unchanged`` covers every read of it."""
    if isinstance(data, (str, Path)) and os.path.isdir(data):
        from encoderkit.data.store import RecordStore

        return RecordStore(str(data))
    return data


def _repeated_index_said(index: Any, ids: list[str]) -> None:
    """Warn that ``id`` names rows by position where the table's index repeats a label
    (``pd.concat`` of two frames): a unique index names them by label (``row15``), a
    repeated one cannot name two rows apart, and positional ids are those the table's
    store and a labels file use. Said once per call; the returned index stays the caller's."""
    import warnings

    twice = index[index.duplicated()].tolist()[0]  # 0, not np.int64(0)
    warnings.warn(f"the table's index repeats labels (such as {twice!r}), so the predictions' ids name "
                  f"the rows by position ({ids[0]!r}, ...), not by index label; the returned frame keeps "
                  f"the index as given (df.reset_index(drop=True) gives ids and index that agree)",
                  UserWarning, stacklevel=3)


def load_finetuned(checkpoint: Path, state: dict[str, Any], device: Any = "cpu",
                   members: Sequence[Path] = (), weights: Sequence[float] = ()) -> FineTuned:
    """A fine-tuned checkpoint (``state.json`` with ``task``) -> ``FineTuned``; ``members``:
    the run directories of an ensemble's other members; ``weights``: of this model and each
    member in the average (empty: equal)."""
    from encoderkit.core import EncoderConfig
    from encoderkit.infer.load import load, load_weights, run_domain, run_max_seqlen, run_store
    from encoderkit.infer.weights_fit import build_checked
    from encoderkit.tasks.model import TaskModel

    try:
        spec = TaskSpec.from_dict(state["task"])
        # a run whose schema lacks read options its store's provenance records (an older
        # long-format series store) reads raw files as its store was read
        domain = run_domain(state["domain"], run_store(checkpoint))
        config = EncoderConfig.from_dict(state["model_config"])
    except (KeyError, ValueError, TypeError, AttributeError) as e:
        raise DataError(f"cannot rebuild its task, domain and model: {' '.join(str(e).split())}",
                        file=checkpoint / "state.json") from None
    # the head's size too (its classes) is checked against the weights before anything is built
    model = build_checked(lambda: TaskModel(domain, config, spec), config.num_layers, checkpoint)
    load_weights(model, checkpoint / "model.safetensors")
    max_seqlen = run_max_seqlen(checkpoint)
    out = FineTuned(model=model, domain=domain, config=config, path=checkpoint,
                    step=int(state.get("step", 0)), max_seqlen=max_seqlen).to(device)
    out.members = []
    out.weights = list(weights)
    out.run_split = read_run_split(checkpoint)  # once: later evaluate calls never reread the folder
    for run in members:
        member = load(run, device=device)
        if not isinstance(member, FineTuned) or member.spec.outputs() != spec.outputs():
            raise DataError("an ensemble member is not a run of the same task", file=run)
        out.members.append(member)
    return out
