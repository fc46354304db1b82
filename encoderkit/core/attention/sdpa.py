"""``sdpa``: PyTorch ``scaled_dot_product_attention`` per document (trains on CPU).

Calling SDPA once per sequence costs a Python round trip per sequence per layer;
padding the whole batch to ``max_seqlen`` wastes quadratic work on short
sequences. The plan sorts sequences by length and groups those of similar
length (a few tokens of padding at most, see ``_join``), so one SDPA call runs
a whole group. Groups of equal-length sequences that sit next to each other in
the packed axis are plain views (no copy, no mask). The plan is built once per
batch from one host read of ``cu_seqlens``; the gather indices and the masks
(key padding, band for local layers) are shared by every layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from encoderkit.core.attention.base import AttentionBackend


def _join(group_max: int, length: int) -> bool:
    """Whether a sequence of ``length`` may be padded up to ``group_max`` (sorted descending).

    Padding costs quadratic work; a separate SDPA call costs a fixed overhead that
    dominates for short sequences, hence the absolute slack.
    """
    return group_max - length <= max(0.15 * group_max, 16)


@dataclass
class _Group:
    n: int  # sequences
    L: int  # padded length
    start: int | None  # first token when the group is a contiguous run of equal lengths
    gather: Tensor | None  # [n * L] token index; pad slots repeat their sequence's last token
    lengths: Tensor | None  # [n] long, None when all lengths equal L
    rows: Tensor | None  # [real tokens] index into the n * L padded rows


@dataclass
class SdpaPlan:
    groups: list[_Group]
    inverse: Tensor | None  # restores packed token order after the groups; None if identity
    device: torch.device
    masks: dict[tuple[int, int | None], Tensor | None] = field(default_factory=dict)

    def mask(self, g: int, window: int | None) -> Tensor | None:
        """Bool mask (True = attend) for group ``g``, cached for all layers of the batch."""
        key = (g, window)
        if key not in self.masks:
            self.masks[key] = self._build(self.groups[g], window)
        return self.masks[key]

    def _build(self, g: _Group, window: int | None) -> Tensor | None:
        idx = torch.arange(g.L, device=self.device)
        band = None
        if window is not None and window // 2 < g.L - 1:
            band = (idx[:, None] - idx[None, :]).abs() <= window // 2  # [L, L]
        if g.lengths is None:
            return None if band is None else band[None, None]  # [1, 1, L, L]
        valid = idx[None, :] < g.lengths[:, None]  # [n, L]
        m = valid[:, None, None, :]  # [n, 1, 1, L] key padding
        if band is not None:
            m = m & band[None, None]
        # Pad query rows see every slot: they are discarded, and a fully masked row
        # would give NaN (whose zero upstream gradient still poisons the backward).
        return m | ~valid[:, None, :, None]


class SdpaBackend(AttentionBackend):
    name = "sdpa"
    trains_on_cpu = True

    @classmethod
    def is_available(cls, device: torch.device) -> bool:
        return True

    def plan(self, cu_seqlens: Tensor, max_seqlen: int) -> SdpaPlan:
        device = cu_seqlens.device
        cu = np.asarray(cu_seqlens.tolist(), dtype=np.int64)  # the one host read per batch
        lengths = np.diff(cu)
        order = [int(i) for i in np.argsort(-lengths, kind="stable") if lengths[i] > 0]
        groups: list[list[int]] = []
        for i in order:
            if groups and _join(int(lengths[groups[-1][0]]), int(lengths[i])):
                groups[-1].append(i)
            else:
                groups.append([i])

        out: list[_Group] = []
        perm: list[np.ndarray] = []
        for ids in groups:
            ids_a = np.asarray(ids)
            lens = lengths[ids_a]
            n, L = len(ids), int(lens[0])
            equal = bool((lens == L).all())
            perm.append(np.concatenate([np.arange(cu[i], cu[i + 1]) for i in ids]))
            if equal and (np.diff(ids_a) == 1).all():
                out.append(_Group(n, L, int(cu[ids[0]]), None, None, None))
                continue
            ar = np.arange(L)
            gather = cu[ids_a][:, None] + np.minimum(ar[None, :], lens[:, None] - 1)  # [n, L]
            rows = None if equal else np.flatnonzero(ar[None, :] < lens[:, None])
            out.append(_Group(
                n, L, None, _to(gather.reshape(-1), device),
                None if equal else _to(lens, device), None if rows is None else _to(rows, device)))
        full = np.concatenate(perm) if perm else np.zeros(0, dtype=np.int64)
        inverse = None
        if not np.array_equal(full, np.arange(len(full))):
            inv = np.empty_like(full)
            inv[full] = np.arange(len(full))
            inverse = _to(inv, device)
        return SdpaPlan(out, inverse, device)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, plan: SdpaPlan, window: int | None,
               dropout_p: float = 0.0) -> Tensor:
        H, Dh = q.shape[1], q.shape[2]
        outs = []
        for gi, g in enumerate(plan.groups):
            if g.start is not None:
                s, e = g.start, g.start + g.n * g.L
                qg, kg, vg = q[s:e], k[s:e], v[s:e]
            else:
                qg, kg, vg = q.index_select(0, g.gather), k.index_select(0, g.gather), \
                    v.index_select(0, g.gather)
            qg, kg, vg = (x.view(g.n, g.L, H, Dh).transpose(1, 2) for x in (qg, kg, vg))
            o = F.scaled_dot_product_attention(qg, kg, vg, attn_mask=plan.mask(gi, window),
                                               dropout_p=dropout_p)  # [n, H, L, Dh]
            o = o.transpose(1, 2).reshape(g.n * g.L, H, Dh)
            outs.append(o if g.rows is None else o.index_select(0, g.rows))
        if not outs:  # no tokens at all
            return torch.empty_like(q)
        out = outs[0] if len(outs) == 1 else torch.cat(outs)
        return out if plan.inverse is None else out.index_select(0, plan.inverse)


def _to(a: np.ndarray, device: torch.device) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)).to(device, non_blocking=True)
