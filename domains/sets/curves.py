"""Space-filling-curve orderings of point sets (Z-order / Morton and Hilbert).

Used to serialise a point set so that a sliding window over token order covers a
spatial neighbourhood (as Point Transformer V3 serialises points). Coordinates are
quantised on a grid of ``2**bits`` cells per axis spanning the set's bounding box
(the same cell size on every axis, so the grid stays isotropic), then sorted by the
curve index of their cell; ties keep the input order (stable sort).
"""

from __future__ import annotations

import numpy as np

CURVES = ("zorder", "hilbert")


def quantize(coords: np.ndarray, bits: int) -> np.ndarray:
    """[n, D] float coordinates -> [n, D] uint64 grid cells in ``[0, 2**bits)``."""
    coords = np.asarray(coords, dtype=np.float64)
    if coords.shape[0] == 0:
        return np.zeros(coords.shape, dtype=np.uint64)
    low = coords.min(axis=0)
    extent = float((coords.max(axis=0) - low).max())
    cells = (1 << bits)
    if extent <= 0.0:
        return np.zeros(coords.shape, dtype=np.uint64)
    scaled = np.floor((coords - low) / extent * cells)
    return np.clip(scaled, 0, cells - 1).astype(np.uint64)


def zorder_index(cells: np.ndarray, bits: int) -> np.ndarray:
    """Morton index: bits interleaved, most significant first, axis 0 leading."""
    cells = np.asarray(cells, dtype=np.uint64)
    dims = cells.shape[1]
    index = np.zeros(cells.shape[0], dtype=np.uint64)
    for bit in range(bits - 1, -1, -1):
        for axis in range(dims):
            index = (index << np.uint64(1)) | ((cells[:, axis] >> np.uint64(bit)) & np.uint64(1))
    return index


def hilbert_index(cells: np.ndarray, bits: int) -> np.ndarray:
    """Hilbert index of grid cells in any number of dimensions.

    John Skilling, "Programming the Hilbert curve", AIP Conf. Proc. 707 (2004):
    ``AxestoTranspose`` turns the cell into the "transposed" Hilbert index, whose
    bits are then interleaved exactly as for Morton order. Vectorised over points.
    """
    x = [np.asarray(cells[:, i], dtype=np.uint64).copy() for i in range(cells.shape[1])]
    n = len(x)
    one = np.uint64(1)
    q = one << np.uint64(bits - 1)
    # Inverse undo of the excess work.
    while q > one:
        p = q - one
        for i in range(n):
            has = (x[i] & q) != 0
            # bit set: invert the low bits of x[0]; else swap the low bits of x[0] and x[i]
            t = (x[0] ^ x[i]) & p
            x0_new = np.where(has, x[0] ^ p, x[0] ^ t)
            if i > 0:
                x[i] = np.where(has, x[i], x[i] ^ t)
            x[0] = x0_new
        q >>= one
    # Gray encode.
    for i in range(1, n):
        x[i] = x[i] ^ x[i - 1]
    t = np.zeros_like(x[0])
    q = one << np.uint64(bits - 1)
    while q > one:
        t = np.where((x[n - 1] & q) != 0, t ^ (q - one), t)
        q >>= one
    x = [xi ^ t for xi in x]
    return zorder_index(np.stack(x, axis=1), bits)


def curve_order(coords: np.ndarray, curve: str, bits: int) -> np.ndarray:
    """Permutation ``order`` such that ``coords[order]`` follows the curve (stable)."""
    cells = quantize(coords, bits)
    if curve == "zorder":
        key = zorder_index(cells, bits)
    elif curve == "hilbert":
        key = hilbert_index(cells, bits)
    else:
        raise ValueError(f"unknown space-filling curve {curve!r}; choose from {CURVES}")
    return np.argsort(key, kind="stable")
