"""``sdpa``: PyTorch ``scaled_dot_product_attention`` per document (trains on CPU).

The plan (built once per batch from one host read of ``cu_seqlens``) cuts the
packed axis into *units*, each one SDPA call per layer:

- a sequence of at least ``SHORT`` tokens, or a run of adjacent equal-length
  sequences, is a slice of the packed tensors: a view, no copy, no mask for
  global layers. Local layers on a sequence much longer than the window run
  *blocked*: queries in blocks of ``B >= window // 2`` tokens attend to the three
  blocks around them (pad + unfold, still no gather), ``3 B`` keys per query
  instead of ``L``.
- shorter sequences are sorted by length and grouped with similar lengths (a few
  pad tokens at most, see ``_join``), padded into one call, so a batch of many
  tiny sequences does not pay a Python round trip per sequence.

The packed tensors are cut with ``split`` and the outputs joined with one
``cat``: no index gather/scatter per piece, whose backward would zero-fill and
accumulate a full gradient per piece; a group is padded and unpadded with one
gather each way (``_Unit.gather``). Masks are additive float tensors, built once
per (lengths, window, dtype, device): kept by the plan, so every layer of the batch
(and a checkpointed layer's recompute) shares them, and in a small LRU cache shared
by later batches (``mask_cache.MaskCache``), bounded by bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from encoderkit.core.attention.base import AttentionBackend
from encoderkit.core.attention.mask_cache import MaskCache

SHORT = 64  # sequences below this are padded together in groups; longer ones are slices
MIN_BLOCK = 32  # smaller blocks make matmuls too small to pay for the blocking
BLOCKED_FROM = 4  # run a local layer blocked when L >= BLOCKED_FROM * block
# Masks depend only on (lengths, window, dtype, device): reused by later batches. A
# group's key holds its members' lengths, which ragged inputs (a service embedding sets of
# every size) practically never repeat: capped by count alone the cache held ~330 MB of such
# masks at a ~0% hit rate, so it is capped by bytes too (mask_cache.py).
_MASKS = MaskCache(max_entries=256, max_bytes=32 << 20)


def _join(group_max: int, length: int) -> bool:
    """Whether a sequence of ``length`` may be padded up to ``group_max`` (sorted descending).

    Padding costs quadratic work; a separate SDPA call costs a fixed overhead that
    dominates for short sequences, hence the absolute slack.
    """
    return group_max - length <= max(0.15 * group_max, 16)


@dataclass
class _Unit:
    segments: list[int]  # indices into the plan's segments: one slice, or a group's members
    lens: np.ndarray  # [n] sequence lengths (one per segment for groups, descending)
    grouped: bool  # short sequences padded together (else one slice of n equal lengths)

    @property
    def n(self) -> int:
        return len(self.lens)

    @property
    def L(self) -> int:
        return int(self.lens[0])

    def gather(self, device: torch.device) -> tuple[Tensor, Tensor]:
        """A group's two index vectors (cached): ``pad`` ``[n * L]`` picks each padded slot
        from the members' tokens laid end to end (a slot past a member's length picks the
        zero row appended after them), ``valid`` ``[sum(lens)]`` picks the members' real
        slots back out of the ``[n * L]`` rows. One gather each way keeps the backward one
        op: padding or unpadding member by member recorded a copy per member, and each one's
        backward zero-filled the whole group's gradient (quadratic in the group size: 80% of a
        contrastive step on 900 short views was ``fill_``)."""
        cached = getattr(self, "_gather", None)
        if cached is None or cached[0].device != device:
            lens = self.lens.astype(np.int64)
            starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
            t = np.arange(self.L)
            real = t[None, :] < lens[:, None]  # [n, L]
            pad = np.where(real, starts[:, None] + t[None, :], int(lens.sum()))
            valid = np.flatnonzero(real.reshape(-1))
            cached = (torch.from_numpy(pad.reshape(-1)).to(device), torch.from_numpy(valid).to(device))
            self._gather = cached
        return cached


@dataclass
class SdpaPlan:
    segments: list[int]  # token counts cutting the packed axis, in packed order
    units: list[_Unit]
    device: torch.device
    # this batch's masks, by (unit, window, dtype, blocked): every layer shares them whatever
    # the shared cache keeps (a batch whose masks outgrow it would rebuild them per layer)
    masks: dict[tuple, Tensor | None] = field(default_factory=dict, repr=False)

    def mask(self, u: int, window: int | None, dtype: torch.dtype, blocked: int | None) -> Tensor | None:
        own = (u, window, dtype, blocked)
        if own in self.masks:
            return self.masks[own]
        unit = self.units[u]
        shape = tuple(unit.lens.tolist()) if unit.grouped else (unit.L, unit.n)
        key = (shape, unit.grouped, window, dtype, self.device, blocked)
        found, mask = _MASKS.get(key)
        if not found:
            allowed = self._allowed(unit, window, blocked)
            mask = None if allowed is None else torch.zeros(
                allowed.shape, dtype=dtype, device=self.device).masked_fill_(~allowed, float("-inf"))
            _MASKS.put(key, mask)
        self.masks[own] = mask
        return mask

    def _allowed(self, unit: _Unit, window: int | None, blocked: int | None) -> Tensor | None:
        d = self.device
        if blocked is not None:  # a slice unit, run in blocks of `blocked` tokens
            B, L, half = blocked, unit.L, window // 2
            nb = math.ceil(L / B)
            q = torch.arange(nb * B, device=d).view(nb, B)  # [nb, B]
            k = (torch.arange(nb, device=d)[:, None] - 1) * B + torch.arange(3 * B, device=d)
            ok = ((q[:, :, None] - k[:, None, :]).abs() <= half) & (k[:, None, :] >= 0) \
                & (k[:, None, :] < L)  # [nb, B, 3B]
            # Pad query rows see every slot: a fully masked row gives NaN, which poisons
            # the backward even though the row itself is discarded.
            ok = (ok | (q >= L)[:, :, None])[:, None]  # [nb, 1, B, 3B]
            return ok.repeat(unit.n, 1, 1, 1)  # [n * nb, 1, B, 3B]
        idx = torch.arange(unit.L, device=d)
        band = None
        if window is not None and window // 2 < unit.L - 1:
            band = (idx[:, None] - idx[None, :]).abs() <= window // 2  # [L, L]
        if not unit.grouped or (unit.lens == unit.L).all():
            return None if band is None else band[None, None]
        valid = idx[None, :] < torch.from_numpy(unit.lens).to(d)[:, None]  # [n, L]
        ok = valid[:, None, None, :]  # [n, 1, 1, L] key padding
        if band is not None:
            ok = ok & band
        return ok | ~valid[:, None, :, None]


def blocked_size(L: int, window: int | None) -> int | None:
    """Block size when a local layer on length ``L`` should run blocked, else None."""
    if window is None:
        return None
    block = max(window // 2, MIN_BLOCK)
    return block if L >= BLOCKED_FROM * block else None


class SdpaBackend(AttentionBackend):
    name = "sdpa"
    trains_on_cpu = True

    @classmethod
    def is_available(cls, device: torch.device) -> bool:
        return True

    def plan(self, cu_seqlens: Tensor, max_seqlen: int,
             cu_seqlens_host: Tensor | None = None) -> SdpaPlan:
        # The one host read per batch; none at all when the batch carries a host copy.
        cu = np.asarray((cu_seqlens_host if cu_seqlens_host is not None else cu_seqlens).tolist(),
                        dtype=np.int64)
        lengths = np.diff(cu)
        segments: list[int] = []
        units: list[_Unit] = []
        short: list[tuple[int, int]] = []  # (length, segment)
        i = 0
        while i < len(lengths):
            L = int(lengths[i])
            j = i + 1
            while j < len(lengths) and lengths[j] == L:
                j += 1  # a run of equal lengths: one batched slice
            if L == 0:
                i = j
                continue
            if L >= SHORT or j - i > 1:
                units.append(_Unit([len(segments)], lengths[i:j].copy(), grouped=False))
                segments.append(L * (j - i))
            else:
                short.append((L, len(segments)))
                segments.append(L)
            i = j
        # Short sequences: longest first, similar lengths padded into one call.
        short.sort(key=lambda t: -t[0])
        groups: list[list[tuple[int, int]]] = []
        for item in short:
            if groups and _join(groups[-1][0][0], item[0]):
                groups[-1].append(item)
            else:
                groups.append([item])
        for members in groups:
            units.append(_Unit([m[1] for m in members], np.array([m[0] for m in members]),
                               grouped=True))
        return SdpaPlan(segments, units, cu_seqlens.device)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, plan: SdpaPlan, window: int | None,
               dropout_p: float = 0.0) -> Tensor:
        if q.device.type == "cpu" and q.dtype == torch.bfloat16:
            # bf16 autocast on CPU: torch's CPU flash kernel is slower in bf16 than in fp32
            # while the matmuls around it gain (benchmarks/RESULTS.md, "bf16 autocast on
            # CPU"), so attention alone runs in fp32.
            with torch.autocast("cpu", enabled=False):
                return self.attend(q.float(), k.float(), v.float(), plan, window,
                                   dropout_p).to(torch.bfloat16)
        H, Dh = q.shape[1], q.shape[2]
        if not plan.segments:  # no tokens at all
            return torch.empty_like(q)
        qs, ks, vs = (x.split(plan.segments) for x in (q, k, v))
        outs: list[Tensor | None] = [None] * len(plan.segments)
        for ui, u in enumerate(plan.units):
            n, L = u.n, u.L
            if u.grouped:
                pad, valid = u.gather(q.device)
                qu, ku, vu = (torch.cat([*(xs[i] for i in u.segments), x.new_zeros(1, H, Dh)])
                              .index_select(0, pad).view(n, L, H, Dh).transpose(1, 2)
                              for xs, x in ((qs, q), (ks, k), (vs, v)))  # [n, H, L, Dh]
                o = F.scaled_dot_product_attention(
                    qu, ku, vu, attn_mask=plan.mask(ui, window, q.dtype, None), dropout_p=dropout_p)
                o = o.transpose(1, 2).reshape(n * L, H, Dh).index_select(0, valid)
                for seg, piece in zip(u.segments, o.split(u.lens.tolist())):
                    outs[seg] = piece
                continue
            seg = u.segments[0]
            qu, ku, vu = (xs[seg].view(n, L, H, Dh) for xs in (qs, ks, vs))
            block = blocked_size(L, window)
            if block is None:
                o = F.scaled_dot_product_attention(
                    qu.transpose(1, 2), ku.transpose(1, 2), vu.transpose(1, 2),
                    attn_mask=plan.mask(ui, window, q.dtype, None), dropout_p=dropout_p)
                outs[seg] = o.transpose(1, 2).reshape(n * L, H, Dh)
            else:
                outs[seg] = self._blocked(qu, ku, vu, block, plan.mask(ui, window, q.dtype, block),
                                          dropout_p).reshape(n * L, H, Dh)
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    @staticmethod
    def _blocked(q: Tensor, k: Tensor, v: Tensor, B: int, mask: Tensor, dropout_p: float) -> Tensor:
        """Local attention on ``[n, L, H, Dh]`` in blocks of ``B``: keys of 3 blocks per query block."""
        n, L, H, Dh = q.shape
        nb = math.ceil(L / B)
        qb = F.pad(q, (0, 0, 0, 0, 0, nb * B - L)).view(n * nb, B, H, Dh).transpose(1, 2)
        # Keys/values padded by a block in front and up to a block multiple behind, then
        # the 3B-wide windows with stride B: [n, nb, H, Dh, 3B] -> [n * nb, H, 3B, Dh].
        kb, vb = (F.pad(x, (0, 0, 0, 0, B, (nb + 1) * B - L)).unfold(1, 3 * B, B)
                  .permute(0, 1, 2, 4, 3).reshape(n * nb, H, 3 * B, Dh) for x in (k, v))
        o = F.scaled_dot_product_attention(qb, kb, vb, attn_mask=mask, dropout_p=dropout_p)
        return o.transpose(1, 2).reshape(n, nb * B, H, Dh)[:, :L]

