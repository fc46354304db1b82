"""Contrastive views of a set: a random subset of its elements, and a rigid motion of
the coordinates when the set has (used) coordinates.

A subset keeps ``MIN_KEEP``-100% of the elements (at least one), in their original
order. The rigid motion is a rotation in the plane of the first two axes (about z for
3-D sets, the upright axis of most point clouds; the same axis the ``random_rotation``
augmentation uses) by an angle uniform in [-pi, pi), plus a translation by up to the
set's extent; reflections are off by default (chirality is information, e.g. in
molecules) and on with ``reflect_prob``. Rotary positions are relative, so the
translation is invisible to the model; the rotation is not (the rotary encoding is
axis-aligned), which is what makes it a useful view. With a pooling [CLS] element,
the element is rebuilt at the centroid of the view's positions, as ``featurize`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from encoderkit.domain import Example

if TYPE_CHECKING:
    from .domain import SetsDomain

MIN_KEEP = 0.5


def random_subset(example: Example, rng: np.random.Generator, min_keep: float = MIN_KEEP) -> Example:
    """``ceil(min_keep * n) .. n`` elements of a set without [CLS], original order kept."""
    n = len(example)
    if n <= 1:
        return example
    k = int(rng.integers(max(1, int(np.ceil(min_keep * n))), n + 1))
    keep = np.sort(rng.choice(n, size=k, replace=False))
    context = dict(example.context)
    if "elements" in context:
        context["elements"] = np.asarray(context["elements"])[keep]
    return Example(fields={f: v[keep] for f, v in example.fields.items()},
                   positions=example.positions[keep], record=example.record,
                   window=example.window, start=example.start, context=context)


def rigid_matrix(dims: int, angle: float, reflect: bool) -> np.ndarray:
    """``[D, D]`` orthogonal matrix: rotation by ``angle`` in the (axis 0, axis 1) plane,
    then a mirror of axis 0 when ``reflect``; identity for ``D < 2`` (a mirror only)."""
    m = np.eye(dims)
    if dims >= 2:
        c, s = np.cos(angle), np.sin(angle)
        m[:2, :2] = [[c, -s], [s, c]]
    if reflect and dims >= 1:
        m[0] = -m[0]
    return m


def rigid_transform(positions: np.ndarray, rng: np.random.Generator,
                    reflect_prob: float = 0.0) -> np.ndarray:
    """``positions`` [n, D] rotated about their centroid, maybe mirrored, and translated
    by up to the set's extent per axis; float64 result."""
    pos = np.asarray(positions, dtype=np.float64)
    if pos.shape[0] == 0 or pos.shape[1] == 0:
        return pos
    m = rigid_matrix(pos.shape[1], rng.uniform(-np.pi, np.pi), rng.random() < reflect_prob)
    center = pos.mean(axis=0)
    extent = np.ptp(pos, axis=0)
    shift = rng.uniform(-1.0, 1.0, size=pos.shape[1]) * extent
    return (pos - center) @ m.T + center + shift


def relative_positions(positions: np.ndarray) -> np.ndarray:
    """``[n, D]`` float32: ``positions`` minus their centroid, divided by their RMS
    distance to it (zeros for a single point). Free of the coordinate unit, of
    translation and of the set's scale, so one default frequency range suits any data."""
    pos = np.asarray(positions, dtype=np.float64)
    if len(pos) == 0:
        return np.zeros(pos.shape, dtype=np.float32)
    centered = pos - pos.mean(axis=0)
    radius = float(np.sqrt((centered ** 2).sum(axis=1).mean()))
    return (centered / radius if radius > 0 else centered).astype(np.float32)


def sets_views(domain: "SetsDomain", example: Example, rng: np.random.Generator,
               min_keep: float = MIN_KEEP, reflect_prob: float = 0.0) -> tuple[Example, Example]:
    """Two independent (subset, rigid motion) views; [CLS] rebuilt at the new centroid."""
    body = domain._strip_cls(example)
    out = []
    for _ in range(2):
        view = random_subset(body, rng, min_keep)
        if domain.rope_axes:
            moved = rigid_transform(view.positions, rng, reflect_prob)
            view = Example(fields=view.fields, positions=moved.astype(view.positions.dtype),
                           record=view.record, window=view.window, start=view.start,
                           context=view.context)
        view = domain._with_rel_pos(view)  # the subset's own centroid and radius
        out.append(domain._with_cls(view) if example.context.get("cls") else view)
    return out[0], out[1]
