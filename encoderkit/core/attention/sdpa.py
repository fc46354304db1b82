"""``sdpa``: PyTorch ``scaled_dot_product_attention`` per document (trains on CPU).

Calling SDPA once per sequence costs a Python round trip per sequence per layer;
padding the whole batch to ``max_seqlen`` wastes quadratic work on short
sequences. The plan sorts sequences by length and groups those of similar
length (a few tokens of padding at most, see ``_join``), so one SDPA call runs
a whole group. Groups of equal-length sequences that sit next to each other in
the packed axis are plain views (no copy, no mask).

Local layers on sequences much longer than the window run *blocked*: queries in
blocks of ``B >= window // 2`` tokens attend to the 3 blocks around them (a band
mask inside), so the work is ``3 B`` keys per query instead of ``L``.

The plan is built once per batch from one host read of ``cu_seqlens``; gather
indices and masks are built once per (group, window) and shared by every layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from encoderkit.core.attention.base import AttentionBackend

MIN_BLOCK = 32  # smaller blocks make matmuls too small to pay for the gather
BLOCKED_FROM = 4  # run a local layer blocked when L >= BLOCKED_FROM * block


def _join(group_max: int, length: int) -> bool:
    """Whether a sequence of ``length`` may be padded up to ``group_max`` (sorted descending).

    Padding costs quadratic work; a separate SDPA call costs a fixed overhead that
    dominates for short sequences, hence the absolute slack.
    """
    return group_max - length <= max(0.15 * group_max, 16)


@dataclass
class _Group:
    starts: np.ndarray  # [n] first token of each sequence in the packed axis
    lens: np.ndarray  # [n] lengths, descending
    contiguous: bool  # equal lengths, adjacent in the packed axis: a view, no gather

    @property
    def n(self) -> int:
        return len(self.lens)

    @property
    def L(self) -> int:
        return int(self.lens[0])


@dataclass
class _Layout:
    """How one group runs for one window: gathers, SDPA shapes, mask, real rows."""

    batch: int  # SDPA batch
    lq: int  # queries per batch row
    lk: int  # keys per batch row
    q_index: Tensor | None  # [batch * lq] gather; None: slice from `start`
    kv_index: Tensor | None  # [batch * lk] gather; None: same as q
    start: int
    mask: Tensor | None  # bool, True = attend
    rows: Tensor | None  # real-token rows of the [batch * lq] output; None: all


@dataclass
class SdpaPlan:
    groups: list[_Group]
    inverse: Tensor | None  # restores packed token order after the groups; None if identity
    device: torch.device
    layouts: dict[tuple[int, int | None], _Layout] = field(default_factory=dict)

    def layout(self, g: int, window: int | None) -> _Layout:
        key = (g, window)
        if key not in self.layouts:
            grp = self.groups[g]
            half = None if window is None or window // 2 >= grp.L - 1 else window // 2
            block = max(half or 0, MIN_BLOCK)
            if half is not None and grp.L >= BLOCKED_FROM * block:
                self.layouts[key] = self._blocked(grp, half, block)
            else:
                self.layouts[key] = self._dense(grp, half)
        return self.layouts[key]

    def _t(self, a: np.ndarray) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)).to(self.device)

    def _dense(self, g: _Group, half: int | None) -> _Layout:
        n, L = g.n, g.L
        idx = torch.arange(L, device=self.device)
        band = None if half is None else (idx[:, None] - idx[None, :]).abs() <= half  # [L, L]
        if g.contiguous:
            mask = None if band is None else band[None, None]
            return _Layout(n, L, L, None, None, int(g.starts[0]), mask, None)
        ar = np.arange(L)
        q_index = self._t((g.starts[:, None] + np.minimum(ar, g.lens[:, None] - 1)).reshape(-1))
        if (g.lens == L).all():
            mask = None if band is None else band[None, None]
            return _Layout(n, L, L, q_index, None, 0, mask, None)
        valid = idx[None, :] < self._t(g.lens)[:, None]  # [n, L]
        mask = valid[:, None, None, :]  # [n, 1, 1, L] key padding
        if band is not None:
            mask = mask & band
        # Pad query rows see every slot: they are discarded, and a fully masked row
        # gives NaN (whose zero upstream gradient still poisons the backward).
        mask = mask | ~valid[:, None, :, None]
        rows = self._t(np.flatnonzero(ar[None, :] < g.lens[:, None]))
        return _Layout(n, L, L, q_index, None, 0, mask, rows)

    def _blocked(self, g: _Group, half: int, block: int) -> _Layout:
        n, nb = g.n, math.ceil(g.L / block)
        lp, lk = nb * block, 3 * block
        starts, lens = g.starts[:, None], g.lens[:, None]
        qpos = np.arange(lp)  # [Lp]
        q_index = starts + np.minimum(qpos, lens - 1)  # [n, Lp]
        kpos = (np.arange(nb)[:, None] - 1) * block + np.arange(lk)  # [nb, 3B]
        kv_index = starts[:, :, None] + np.clip(kpos, 0, lens[:, :, None] - 1)  # [n, nb, 3B]
        d = self.device
        kpos_t, qpos_t = self._t(kpos), self._t(qpos.reshape(nb, block))
        lens_t = self._t(g.lens)[:, None, None]  # [n, 1, 1]
        band = (qpos_t[:, :, None] - kpos_t[:, None, :]).abs() <= half  # [nb, B, 3B]
        kvalid = (kpos_t >= 0) & (kpos_t[None] < lens_t)  # [n, nb, 3B]
        qpad = qpos_t[None] >= lens_t  # [n, nb, B]
        mask = (band[None] & kvalid[:, :, None, :]) | qpad[..., None]  # [n, nb, B, 3B]
        rows = np.flatnonzero(qpos[None, :] < lens)
        return _Layout(n * nb, block, lk, self._t(q_index.reshape(-1)),
                       self._t(kv_index.reshape(-1)), 0,
                       mask.reshape(n * nb, 1, block, lk).to(d),
                       None if len(rows) == n * lp else self._t(rows))


class SdpaBackend(AttentionBackend):
    name = "sdpa"
    trains_on_cpu = True

    @classmethod
    def is_available(cls, device: torch.device) -> bool:
        return True

    def plan(self, cu_seqlens: Tensor, max_seqlen: int) -> SdpaPlan:
        cu = np.asarray(cu_seqlens.tolist(), dtype=np.int64)  # the one host read per batch
        lengths = np.diff(cu)
        order = [int(i) for i in np.argsort(-lengths, kind="stable") if lengths[i] > 0]
        members: list[list[int]] = []
        for i in order:
            if members and _join(int(lengths[members[-1][0]]), int(lengths[i])):
                members[-1].append(i)
            else:
                members.append([i])
        groups, perm = [], []
        for ids in members:
            ids_a = np.asarray(ids)
            lens = lengths[ids_a]
            contiguous = bool((lens == lens[0]).all() and (np.diff(ids_a) == 1).all())
            groups.append(_Group(cu[ids_a], lens, contiguous))
            perm.append(np.concatenate([np.arange(cu[i], cu[i + 1]) for i in ids]))
        full = np.concatenate(perm) if perm else np.zeros(0, dtype=np.int64)
        inverse = None
        if not np.array_equal(full, np.arange(len(full))):
            inv = np.empty_like(full)
            inv[full] = np.arange(len(full))
            inverse = torch.from_numpy(inv).to(cu_seqlens.device)
        return SdpaPlan(groups, inverse, cu_seqlens.device)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, plan: SdpaPlan, window: int | None,
               dropout_p: float = 0.0) -> Tensor:
        H, Dh = q.shape[1], q.shape[2]
        outs = []
        for g in range(len(plan.groups)):
            lay = plan.layout(g, window)
            if lay.q_index is None:
                s, e = lay.start, lay.start + lay.batch * lay.lq
                qg, kg, vg = q[s:e], k[s:e], v[s:e]
            else:
                kv = lay.q_index if lay.kv_index is None else lay.kv_index
                qg, kg, vg = q.index_select(0, lay.q_index), k.index_select(0, kv), \
                    v.index_select(0, kv)
            qg = qg.view(lay.batch, lay.lq, H, Dh).transpose(1, 2)  # [b, H, lq, Dh]
            kg, vg = (x.view(lay.batch, lay.lk, H, Dh).transpose(1, 2) for x in (kg, vg))
            o = F.scaled_dot_product_attention(qg, kg, vg, attn_mask=lay.mask, dropout_p=dropout_p)
            o = o.transpose(1, 2).reshape(lay.batch * lay.lq, H, Dh)
            outs.append(o if lay.rows is None else o.index_select(0, lay.rows))
        if not outs:  # no tokens at all
            return torch.empty_like(q)
        out = outs[0] if len(outs) == 1 else torch.cat(outs)
        return out if plan.inverse is None else out.index_select(0, plan.inverse)
