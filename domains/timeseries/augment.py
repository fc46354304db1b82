"""Training augmentation of time-series windows: a random phase of the patch grid.

A window's patch grid always starts at the same sample of the series (``featurize`` cuts
the series at multiples of the patch), so a model trained on one long series, or on a few,
sees each stretch of it on one grid only, and a gap that falls across a patch boundary at
infill is input it never met (benchmarks/RESULTS.md: grid-shifted infill passes ruined
airline and co2, whose models saw one grid). ``shift_grid`` drops the first ``s`` samples
of the window (``s`` uniform in ``0 .. patch - 1``) and cuts the rest into patches again:
the same data, another phase; the window never gains a token, so it still fits the
batch it was packed for.
"""

from __future__ import annotations

import math

import numpy as np

from encoderkit.domain import Example


def shift_grid(example: Example, patch: int, channel_independent: bool,
               rng: np.random.Generator) -> Example:
    """The window re-cut after dropping a random ``0 .. patch - 1`` leading samples (see the
    module docstring); the example itself when the draw is 0, the patch is 1, or nothing
    observed would remain."""
    if patch <= 1:
        return example
    s = int(rng.integers(0, patch))
    if s == 0:
        return example
    ctx = example.context
    t, c = np.asarray(ctx["t_index"]), np.asarray(ctx["c_index"])
    t0, n_t = int(t.min()), int(t.max() - t.min()) + 1
    chans = np.unique(c)
    row = np.searchsorted(chans, c)
    grid = np.full((len(chans), n_t * patch), np.nan)
    cols = (t - t0)[:, None] * patch + np.arange(patch)[None, :]  # [T, p] sample of each value
    values, observed = example.fields["values"], example.fields["observed"]
    grid[row[:, None], cols] = np.where(observed, values, np.nan)
    grid = grid[:, s:]
    if not np.isfinite(grid).any():
        return example
    n = max(1, math.ceil(grid.shape[1] / patch))
    padded = np.full((len(chans), n * patch), np.nan)
    padded[:, :grid.shape[1]] = grid
    patches = padded.reshape(len(chans), n, patch)
    if channel_independent:  # channel-major, as featurize cuts it
        tok = patches.reshape(-1, patch)
        t_new, c_row = np.tile(np.arange(n), len(chans)), np.repeat(np.arange(len(chans)), n)
        positions = t_new[:, None].astype(np.int32)
    else:  # time-major over the window's channels
        tok = patches.transpose(1, 0, 2).reshape(-1, patch)
        t_new, c_row = np.repeat(np.arange(n), len(chans)), np.tile(np.arange(len(chans)), n)
        positions = np.stack([t_new, chans[c_row]], axis=1).astype(np.int32)
    if n > 1 and (t0 + n - 1) * patch + s >= int(ctx["length"]):  # a last step past the series end
        keep = t_new < n - 1
        tok, t_new, c_row, positions = tok[keep], t_new[keep], c_row[keep], positions[keep]
    obs = np.isfinite(tok)
    fields = {"values": np.where(obs, tok, 0.0).astype(values.dtype), "observed": obs}
    context = {**ctx, "t_index": t0 + t_new, "c_index": chans[c_row]}
    return Example(fields=fields, positions=positions, record=example.record, window=example.window,
                   start=example.start, context=context)
