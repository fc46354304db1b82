"""Packed, streaming inference: embeddings per record and head predictions.

Records are featurized, cut into windows by the domain's rule
(``Domain.windows``), and packed in input order under a token budget with no
padding. Because packing keeps input order, a record's windows are finished
before any later record's, so results stream out in record order and a store
larger than memory never has to be held at once (``EmbeddingWriter`` appends
them to a zarr array or a memory-mapped ``.npy``).

Pooling a record that was windowed (documented behaviour):

* ``mean``: the sum of the final hidden states of every window token divided by
  the number of window tokens, i.e. the window means weighted by window length.
  A token that lies in the overlap of two windows is counted once per window
  that contains it, each time with that window's context. Windows overlap when
  the domain's ``window_overlap > 0`` and, with the default rule
  (``window_bounds``), where the last window is aligned to the record's end;
  where no window overlaps, this is exactly the mean over the record's tokens.
* ``mean_std``: ``[2d]``, the mean above and beside it the population standard
  deviation of the same tokens' states (windows combined exactly, as if the tokens
  of every window were one set: Chan et al.'s pairwise update). The spread is
  what the mean throws away; a linear probe reads more from the pair
  (benchmarks/RESULTS.md, "Pooling: the spread of the token states beside their mean").
* ``cls``: the hidden state of each window's [CLS]-like element (token
  ``Domain.cls_position`` of the window), windows weighted by their token count (one
  window: that token's state). Refused for a domain whose ``cls_position`` is None.
* ``none``: one vector per record position, in order: the record's featurized tokens
  without a [CLS] (what ``Domain.token_positions`` of each window says each token stands
  for, -1 for a [CLS], as token tasks number their rows); where windows overlap, the states
  of the windows covering a position are averaged. A domain that refuses
  ``token_positions`` for a setting token tasks cannot label (a ``UsageError``: sets in
  curve order, chunked or with a pooling token) is mapped by the default rule
  (``cls_position``, ``start``, ``token_index``): its featurized tokens, still without the
  [CLS]. The [CLS] state is what ``cls`` gives.

A [CLS] element counts as one of a window's tokens in ``mean`` and ``mean_std``, as it does
in the fine-tuning head's ``task.pooling=mean`` (``encoderkit.tasks.heads.pool``), so an
embedding probed here is the pooling a head trained on; a sets store with
``pooling_token=true`` keeps its ``mean`` unchanged.

The model runs in eval mode under ``torch.no_grad``; on CUDA under bf16 autocast
(outputs are returned as float32), elsewhere in fp32 whatever autocast the caller runs under.
"""

from __future__ import annotations

import contextlib

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from encoderkit import session_state
from encoderkit.batch import PackedBatch
from encoderkit.data.collate import collate
from encoderkit.domain import (ContractError, Domain, Example, LazyWindows, MaskedExample, check_positions,
                               window_lengths)
from encoderkit.errors import UsageError
from encoderkit.infer.embed_progress import record_done, show_windows, window_done  # predict's show_windows too
from encoderkit.modeling import MaskedEncoderModel
from encoderkit.tasks.token_range import check_window_positions, token_positions

POOLINGS = ("mean", "mean_std", "cls", "none")


def check_pooling(pooling: str, domain: Domain | None = None) -> None:
    """Refuse an unknown pooling, and ``cls`` for a ``domain`` with no [CLS]-like element
    (``Domain.cls_position`` None), as ``task.pooling=cls`` is refused."""
    if pooling not in POOLINGS:
        raise ValueError(f"The 'pooling' parameter of embed must be one of {list(POOLINGS)}. "
                         f"Got {pooling!r} instead.")
    if pooling == "cls" and domain is not None and domain.cls_position is None:
        raise UsageError(f"pooling='cls' needs a [CLS]-like element in every window, and domain "
                         f"{domain.name!r} has none (its cls_position is None); use pooling='mean' "
                         f"or 'mean_std'", key="pooling")


def autocast_for(device: torch.device):
    """bf16 autocast on CUDA; plain fp32 elsewhere (CPU bf16 is slow and inexact), a host's
    own ``torch.autocast`` around the call turned off (``session_state.forward_precision``)."""
    return session_state.forward_precision(device.type, bf16=device.type == "cuda")


def pack_in_order(items: Iterable[Any], length: Callable[[Any], int], max_tokens: int) -> Iterator[list[Any]]:
    """Greedy in-order packing: consecutive items until the next would exceed ``max_tokens``.
    Order is kept so that streamed results come out in input order."""
    group: list[Any] = []
    used = 0
    for item in items:
        n = length(item)
        if group and used + n > max_tokens:
            yield group
            group, used = [], 0
        group.append(item)
        used += n
    if group:
        yield group


def run_encoder(model: MaskedEncoderModel, batch: PackedBatch) -> Tensor:
    """Final hidden states ``[T, d]`` float32 of a batch already on the model's device."""
    with torch.no_grad(), autocast_for(batch.positions.device):
        return model.encode(batch).float()


# ---------------------------------------------------------------------------
# records -> windows


@dataclass
class _Job:
    """One record's windows, as unmasked model inputs."""

    index: int  # position of the record in the input (output row)
    id: str
    length: int  # tokens of the whole record ([CLS] included); with ``positions``: its positions
    windows: Sequence[MaskedExample]  # made when indexed for a long record (``_Unmasked``)
    # per window, the record position of each token (-1: a [CLS]); only for pooling="none"
    positions: list[np.ndarray] | None = None


def row_positions(domain: Domain, window: Example) -> np.ndarray:
    """The record position of each token of ``window`` for per-token outputs, ``[L]`` int64,
    -1 for a [CLS]: the domain's ``token_positions``, or, where the domain refuses it for a
    setting token tasks cannot label (a ``UsageError``: sets in curve order, chunked, with a
    pooling token; their tokens still are the record's featurized tokens), the default rule
    (``cls_position``, ``start``, ``token_index``)."""
    try:
        return token_positions(domain, window)
    except UsageError:
        from types import SimpleNamespace

        return token_positions(SimpleNamespace(name=domain.name, cls_position=domain.cls_position), window)


def record_jobs(domain: Domain, records: Iterable[tuple[int, str, dict]], max_seqlen: int,
                annotate: Callable[[Example, Example, MaskedExample], None] | None = None,
                positions: bool = False) -> Iterator[_Job]:
    """Each record's windows as model inputs. ``annotate(example, window, masked)``: called
    for every window with the featurized record and the raw window (a token task labels
    ``masked`` with its record positions, read from the raw window as training reads them).
    ``positions``: fill ``_Job.positions`` (``row_positions`` of each raw window, checked to
    cover the record's positions and none past them) and count ``length`` in positions."""
    for index, rid, record in records:
        if annotate is None and not positions:  # pooled: each window made when its batch is packed
            yield _lazy_job(domain, index, rid, record, max_seqlen)
            continue
        example = _featurized(domain, index, rid, lambda: domain.featurize(record))
        check_positions(domain, example.positions)  # [L, rope_axes], or refused
        example.record = index
        if len(example) == 0:
            raise ValueError(f"record {index} (id {rid!r}) has no tokens; it cannot be embedded")
        windows, per = [], []
        for raw in domain.windows(example, max_seqlen):
            w = domain.unmasked(raw)
            if annotate is not None:
                annotate(example, raw, w)
            if positions:  # from the raw window, as token tasks read them (a plug-in may read its fields)
                per.append(row_positions(domain, raw))
            windows.append(w)
        for w in windows:
            w.record = index
        if not positions:
            yield _Job(index=index, id=rid, length=len(example), windows=windows)
            continue
        size = int((row_positions(domain, example) >= 0).sum())
        check_window_positions(domain, per, size, record=rid)
        yield _Job(index=index, id=rid, length=size, windows=windows, positions=per)


def _featurized(domain: Domain, index: int, rid: str, make: Callable[[], Any]) -> Any:
    """``make()`` (featurize a record, or make its windows), a record it cannot read named."""
    try:
        return make()
    except ContractError:  # the domain's positions: its own one-line message
        raise
    except (KeyError, ValueError, TypeError, IndexError) as e:
        # a dict of the user's own fields (a row as {column: value}) is no stored record
        hint = (" (records are the store's, as RecordStore returns them; give user data as "
                "the domain reads it, e.g. a DataFrame or a file)") if isinstance(e, KeyError) else ""
        raise ValueError(f"record {index} (id {rid!r}) cannot be featurized by domain "
                         f"{domain.name!r}: {type(e).__name__}: {e}{hint}") from e


class _Unmasked(Sequence[MaskedExample]):
    """A record's windows as model inputs, each made when indexed (``Domain.featurize_windows``
    of a chromosome gives them lazily): an embedding holds the windows of a batch, not a record's."""

    def __init__(self, domain: Domain, windows: Sequence[Example], index: int, rid: str) -> None:
        # record_index, not index: that name is Sequence.index(value), which it would hide
        self.domain, self.windows, self.record_index, self.rid = domain, windows, index, rid

    def __len__(self) -> int:
        return len(self.windows)

    def __iter__(self) -> Iterator[MaskedExample]:
        return (self[k] for k in range(len(self)))

    def __getitem__(self, k: Any) -> Any:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        if not -len(self) <= k < len(self):
            raise IndexError(f"window {k} out of range for a record of {len(self)} windows")
        raw = _featurized(self.domain, self.record_index, self.rid, lambda: self.windows[k])
        if isinstance(self.windows, LazyWindows):  # the default hook checked the record's positions
            check_positions(self.domain, raw.positions)
        w = self.domain.unmasked(raw)
        w.record = self.record_index
        return w


def _lazy_job(domain: Domain, index: int, rid: str, record: dict, max_seqlen: int) -> _Job:
    """A record's job whose windows are made as they are packed (pooled embeddings)."""
    windows = _featurized(domain, index, rid, lambda: domain.featurize_windows(record, max_seqlen, index))
    lengths = window_lengths(windows)
    if not int(lengths.sum()):
        raise ValueError(f"record {index} (id {rid!r}) has no tokens; it cannot be embedded")
    if not isinstance(windows, LazyWindows):  # made at once, as before: unmasked at once
        return _Job(index=index, id=rid, length=int(lengths.sum()),
                    windows=[_Unmasked(domain, windows, index, rid)[k] for k in range(len(windows))])
    return _Job(index=index, id=rid, length=int(lengths.sum()), windows=_Unmasked(domain, windows, index, rid))


# ---------------------------------------------------------------------------
# embeddings


def embed_stream(model: MaskedEncoderModel, domain: Domain, records: Iterable[tuple[int, str, dict]], *,
                 pooling: str = "mean", max_tokens: int = 16384, max_seqlen: int = 1024,
                 progress: Any = None, twin: bool = False) -> Iterator[tuple[int, str, np.ndarray]]:
    """Yield ``(index, id, embedding)`` per record, in input order.

    ``pooling="none"``: a window's tokens go to the record positions ``row_positions`` gives
    them (``Domain.token_positions``: ``start ..`` for contiguous windows, through
    ``token_index`` for scattered ones); a [CLS] (-1) gets no row, and positions seen by
    several windows are averaged.

    ``embedding`` is ``[d]`` for ``mean``/``cls``, ``[2d]`` for ``mean_std`` and ``[L, d]``
    for ``none``.
    ``progress``: a tqdm-like object with ``update(n)``, or None: a record counts once done,
    and a record of several windows shows its windows done meanwhile; one with ``weights``
    counts tokens, each window its share (``embed_progress``); ``twin``: the stream of the
    records' twins, whose windows show but whose records are not counted again.
    """
    check_pooling(pooling, domain)
    max_tokens = max(int(max_tokens), int(max_seqlen))
    device = next(model.parameters()).device
    was_training = model.training
    # a loaded model is in eval mode already: walking its modules twice a call was 0.45 ms of
    # a one-row embed's 2.5 ms (audit a, session 51)
    toggled = any(m.training for m in model.modules())
    if toggled:
        model.eval()
    d = model.config.hidden_size
    # Windows of one record may land in different batches; keep partial sums until all are seen.
    open_jobs: dict[int, tuple[_Job, np.ndarray, np.ndarray, list[int]]] = {}

    def windows() -> Iterator[tuple[_Job, int, MaskedExample]]:
        for job in record_jobs(domain, records, max_seqlen, positions=pooling == "none"):
            yield from ((job, k, w) for k, w in enumerate(job.windows))

    try:
        for group in pack_in_order(windows(), lambda jw: len(jw[2]), max_tokens):
            batch = collate([w for _, _, w in group]).to(device)
            hidden = run_encoder(model, batch)  # [T, d]
            cu = batch.cu_seqlens.tolist()
            if pooling in ("mean", "mean_std"):
                seq = batch.sequence_ids()
                # the encoder's dtype (float32), not torch's default one (float64 in a session that set it)
                per_seq = torch.zeros(len(group), d, device=device, dtype=hidden.dtype)
                per_seq.index_add_(0, seq, hidden)  # sums
                if pooling == "mean_std":  # + each window's sum of squares about its own mean
                    lengths = batch.seq_lengths().to(hidden.dtype)[:, None]
                    centred = hidden - (per_seq / lengths).index_select(0, seq)
                    m2 = torch.zeros(len(group), d, device=device, dtype=hidden.dtype)
                    m2.index_add_(0, seq, centred * centred)
                    per_seq = torch.cat([per_seq, m2], dim=-1)
            elif pooling == "cls":
                at = int(domain.cls_position)
                short = next((w for _, _, w in group if len(w) <= at), None)
                if short is not None:
                    raise ValueError(f"domain {domain.name!r} made a window of {len(short)} tokens of record "
                                     f"{short.record}, with no [CLS] at its cls_position {at}")
                lengths = batch.seq_lengths().to(hidden.dtype)[:, None]
                per_seq = hidden[batch.cu_seqlens[:-1].long() + at] * lengths  # each window's [CLS], weighted
            per_np = (per_seq if pooling != "none" else hidden).cpu().numpy()
            for b, (job, k, w) in enumerate(group):
                if job.index not in open_jobs:
                    if pooling == "none":
                        acc = np.zeros((job.length, d), dtype=np.float64)
                        cnt = np.zeros(job.length, dtype=np.float64)
                    elif pooling == "mean_std":  # running mean and sum of squares
                        acc, cnt = np.zeros(2 * d, dtype=np.float64), np.zeros(1, dtype=np.float64)
                    else:
                        acc, cnt = np.zeros(d, dtype=np.float64), np.zeros(1, dtype=np.float64)
                    open_jobs[job.index] = (job, acc, cnt, [0])
                _, acc, cnt, done = open_jobs[job.index]
                n = len(w)
                if pooling == "none":  # each token onto its record position; a [CLS] (-1) onto none
                    _add_rows(acc, cnt, job.positions[k], per_np[cu[b]:cu[b] + n])
                elif pooling == "mean_std":
                    _merge_moments(acc, cnt, per_np[b], n)
                else:
                    acc += per_np[b]
                    cnt += n
                done[0] += 1
                window_done(progress, job, done[0])
                if done[0] == len(job.windows):
                    del open_jobs[job.index]
                    if pooling == "mean_std":
                        out = np.concatenate([acc[:d], np.sqrt(np.maximum(acc[d:], 0.0) / cnt)])
                    else:
                        out = acc / (cnt[:, None] if pooling == "none" else cnt)
                    record_done(progress, job, twin)
                    yield job.index, job.id, out.astype(np.float32)
            if progress is not None:
                show_windows(progress, [(job, done[0]) for job, _, _, done in open_jobs.values()], twin)
    finally:
        if toggled:
            model.train(was_training)
    # every record is read: a store they came from (``RecordSource.store``) must still be the
    # one opened before the caller writes what was computed (``RecordStore.check_unchanged``)
    check = getattr(getattr(records, "store", None), "check_unchanged", None)
    if check is not None:
        check()


def _add_rows(acc: np.ndarray, count: np.ndarray, positions: np.ndarray, states: np.ndarray) -> None:
    """Add a window's token ``states`` to the rows ``positions`` of ``acc`` (-1: none, a [CLS])
    and count them. A run of consecutive positions (every contiguous window) is a slice:
    ``np.add.at`` is ~45x slower (62 vs 1.4 ms for 1024 x 768 tokens), fancy indexing in
    between; all three add the same values in the same order."""
    keep = positions >= 0
    if not keep.all():
        positions, states = positions[keep], states[keep]
    if positions.size == 0:
        return
    first = int(positions[0])
    if int(positions[-1]) - first == positions.size - 1 and (np.diff(positions) == 1).all():
        acc[first:first + positions.size] += states
        count[first:first + positions.size] += 1
    elif np.unique(positions).size == positions.size:
        acc[positions] += states
        count[positions] += 1
    else:  # a position twice in one window (a plug-in's choice): each occurrence counts
        np.add.at(acc, positions, states)
        np.add.at(count, positions, 1.0)


def _merge_moments(acc: np.ndarray, count: np.ndarray, window: np.ndarray, n: int) -> None:
    """Fold one window (``window`` = [sum, sum of squares about its mean], ``n`` tokens)
    into a record's running [mean, sum of squares] ``acc`` over ``count`` tokens, in place
    (Chan, Golub & LeVeque's pairwise update: exact, and no E[x^2] - E[x]^2 cancellation)."""
    d = acc.size // 2
    mean_w = window[:d].astype(np.float64) / n
    before = float(count[0])
    total = before + n
    delta = mean_w - acc[:d]
    acc[d:] += window[d:] + delta * delta * (before * n / total)
    acc[:d] += delta * (n / total)
    count[0] = total


class EmbeddingWriter:
    """Streams per-record embeddings to ``.zarr`` or ``.npy``, atomically.

    ``.zarr``: a group with ``embeddings`` ``[N, d]`` (pooled) or ``embeddings``
    ``[sum L, d]`` + ``offsets`` ``[N+1]`` (pooling ``none``), and ``ids`` ``[N]``.
    ``.npy``: ``[N, d]`` written through a memory map, ids in ``<stem>.ids.npy``.
    Everything is written under a temporary name and renamed when complete.
    A ``.zarr`` output may be any fsspec URL (``s3://bucket/emb.zarr``; credentials and
    endpoint from the environment, as for record stores): object stores have no rename,
    so there the group's attributes are written last and mark it complete.
    """

    def __init__(self, path: str | Path, n: int, dim: int, pooling: str, overwrite: bool = False,
                 chunk_rows: int = 4096) -> None:
        self.url = str(path) if "://" in str(path) else None
        # ~ expanded as check_output checks it (else written under a folder named ~ in the current one)
        self.path = Path(path).expanduser() if self.url is None else Path(self.url.split("://", 1)[1])
        self.kind = self.path.suffix.lower()
        from encoderkit.errors import OutputExistsError, UsageError
        from encoderkit.outputs import check_output, is_embedding_zarr

        if self.kind not in (".zarr", ".npy"):
            raise UsageError(f"The 'output' parameter of embed must end in .zarr or .npy. Got {str(path)!r} instead.",
                             key="output")
        if self.kind == ".npy" and pooling == "none":
            raise UsageError("pooling=none gives a different number of vectors per record; "
                             "write it to a .zarr output (embeddings + offsets), not .npy", key="output")
        if self.url is not None and self.kind != ".zarr":
            raise UsageError(f"embed writes .zarr to object storage, not .npy. Got {self.url!r}.", key="output")
        if self.url is not None:
            import fsspec

            from encoderkit.data.store_zarr import url_package_problem

            if missing := url_package_problem(self.url):  # s3fs / gcsfs not installed: one line
                raise UsageError(f"output {self.url}: {missing}", key="output")

            self.fs, self.fs_path = fsspec.core.url_to_fs(self.url)
            if self.fs.exists(self.fs_path) and not overwrite:
                raise OutputExistsError(f"output {self.url!r} exists; pass overwrite=true to replace it",
                                        key="output")
        # overwrite replaces embeddings written before, never a folder of other files
        elif self.kind == ".zarr":
            check_output(self.path, overwrite, what="an embedding store written by encoderkit",
                         recognise=is_embedding_zarr)
            self.path.parent.mkdir(parents=True, exist_ok=True)
        else:
            for t in (self.path, self.ids_path):
                check_output(t, overwrite, what="an embedding array", file_ok=True)
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.n, self.dim, self.pooling, self.chunk_rows = n, dim, pooling, chunk_rows
        if self.url is None:  # what was there when checked: close refuses if another writer changed it
            from encoderkit.outputs import checked_stamp

            self._found = {t: checked_stamp(t) for t in (self.path, self.ids_path)}
        from encoderkit.outputs import remove_dead_temporaries, sibling, sibling_prefix

        self.tmp = sibling(self.path, "tmp")  # a name too long for its temporary's is shortened
        self.tmp_ids = sibling(self.ids_path, "tmp")
        if self.url is None:  # what a killed earlier embed of this output left behind
            remove_dead_temporaries(self.path.parent, sibling_prefix(self.path.name, "tmp"))
            remove_dead_temporaries(self.path.parent, sibling_prefix(self.ids_path.name, "tmp"))
        self.ids: list[str] = []
        self.buffer: list[np.ndarray] = []
        self.buffered = 0
        self.offsets = [0]
        self.array: Any = None
        try:  # a full disk can fail the first write: the temporary must not stay behind
            if self.kind == ".zarr":
                import zarr

                if self.url is None:
                    shutil.rmtree(self.tmp, ignore_errors=True)
                self.group = zarr.open_group(str(self.tmp) if self.url is None else self.url, mode="w")
                rows = (n, dim) if pooling != "none" else (0, dim)
                self.array = self.group.create_array("embeddings", shape=rows,
                                                     chunks=(min(chunk_rows, max(n, 1)), dim), dtype="float32")
                if self.url is None:
                    self.group.attrs.update({"pooling": pooling, "records": n, "dim": dim})
            else:
                self.array = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=np.float32, shape=(n, dim))
        except BaseException:
            self.abort()
            raise
        self.row = 0

    @property
    def ids_path(self) -> Path:
        return self.path.with_name(self.path.stem + ".ids.npy")

    def add(self, rid: str, vector: np.ndarray) -> None:
        self.ids.append(rid)
        self.buffer.append(vector)
        self.buffered += 1 if vector.ndim == 1 else len(vector)
        if self.pooling == "none":
            self.offsets.append(self.offsets[-1] + len(vector))
        if self.buffered >= self.chunk_rows:
            self._flush()

    def _flush(self) -> None:
        if not self.buffer:
            return
        block = np.stack(self.buffer) if self.pooling != "none" else np.concatenate(self.buffer)
        if self.pooling == "none":
            self.array.append(block, axis=0)
        else:
            self.array[self.row:self.row + len(block)] = block
            self.row += len(block)
        self.buffer, self.buffered = [], 0

    def close(self) -> Path:
        from encoderkit.outputs import forget_reads, publish_lock, refuse_if_changed, sibling

        self._flush()
        if len(self.ids) != self.n:
            raise RuntimeError(f"embedding writer expected {self.n} records, got {len(self.ids)}")
        ids = np.asarray(self.ids, dtype=str)
        if self.kind == ".zarr":
            self.group.create_array("ids", shape=ids.shape, dtype=str)[:] = ids
            if self.pooling == "none":
                self.group.create_array("offsets", shape=(len(self.offsets),), dtype="int64")[:] = \
                    np.asarray(self.offsets, dtype=np.int64)
            if self.url is not None:  # the attributes, written last, mark the output complete
                self.group.attrs.update({"pooling": self.pooling, "records": self.n, "dim": self.dim})
                return self.url  # type: ignore[return-value]
            with publish_lock(self.path.absolute().parent):
                refuse_if_changed(self.path, self._found[self.path])
                if self.path.exists():  # moved aside, removed once the new one is in place
                    old = sibling(self.path, "old")
                    os.replace(self.path, old)
                    os.replace(self.tmp, self.path)
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    os.replace(self.tmp, self.path)
        else:
            self.array.flush()
            del self.array
            with open(self.tmp_ids, "wb") as f:
                np.save(f, ids)
            # vectors and ids are one output: both are checked before either is renamed, under
            # the folder's lock (another embed cannot interleave its renames), and the old ids go
            # first, so a kill between the renames leaves vectors with no ids beside them (seen
            # as such), never one run's vectors with another run's ids
            with publish_lock(self.path.absolute().parent):
                for t in (self.path, self.ids_path):
                    refuse_if_changed(t, self._found[t])
                self.ids_path.unlink(missing_ok=True)
                os.replace(self.tmp, self.path)
                os.replace(self.tmp_ids, self.ids_path)
        forget_reads()  # published: the records read were this call's input, not the next's
        return self.path

    def abort(self) -> None:
        if self.url is not None:
            with contextlib.suppress(FileNotFoundError):  # nothing written yet
                self.fs.rm(self.fs_path, recursive=True)
        elif self.kind == ".zarr":
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            self.array = None
            for tmp in (self.tmp, self.tmp_ids):
                with contextlib.suppress(OSError):  # a read-only folder: the first error is the one to show
                    tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------
# head predictions (infill)


def predict_examples(model: MaskedEncoderModel, examples: Sequence[MaskedExample], *,
                     max_tokens: int = 16384) -> list[dict[str, np.ndarray]]:
    """Per example, the head's ``predictions`` at its ``predict`` tokens (numpy, token order)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results: list[dict[str, np.ndarray]] = []
    try:
        for group in pack_in_order(list(examples), len, max(max_tokens, max((len(e) for e in examples), default=1))):
            batch = collate(group).to(device)
            with torch.no_grad(), autocast_for(device):
                hidden = model.encode(batch)[batch.predict]  # [P, d]
                out = model.head(hidden, None, None)
            preds = {k: v.float().cpu().numpy() if v.is_floating_point() else v.cpu().numpy()
                     for k, v in out.predictions.items()}
            counts = np.fromiter((int(e.predict.sum()) for e in group), dtype=np.int64, count=len(group))
            bounds = np.cumsum(counts)[:-1]
            split = {k: np.split(v, bounds) for k, v in preds.items()}
            results += [{k: split[k][i] for k in preds} for i in range(len(group))]
    finally:
        model.train(was_training)
    return results
