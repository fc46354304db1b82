"""Contrastive views of a time-series example: crop, jitter, hide patches.

Each view is (1) a random crop along time of whole patches (every channel kept, so
the cross-channel structure survives), (2) Gaussian jitter on the observed samples,
scaled per channel to the spread of that channel's observed samples in the crop, and
(3) a random share of the patches made unobserved through the ``observed`` field,
exactly as missing data looks to the model. A view never turns an unobserved sample
into an observed one, and always keeps at least one observed patch. The recipe is
the TS2Vec / TF-C family's (crops + jitter + masking), on the domain's own tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from encoderkit.domain import Example

if TYPE_CHECKING:
    from .domain import TimeSeriesDomain

MIN_CROP = 0.5  # a view spans 50-100% of the example's patches in time
JITTER = 0.1  # noise std as a fraction of each channel's std (SNR of 20 dB)
MASK_RATE = 0.15  # share of observed patches hidden per view (as BERT's 15%)


def crop_time(domain: "TimeSeriesDomain", example: Example, rng: np.random.Generator,
              min_fraction: float = MIN_CROP, tries: int = 8) -> Example:
    """Whole time steps (all channels) ``s .. s + m - 1``, ``m >= ceil(min_fraction * n)``;
    a crop that would hold no observed sample is redrawn (the whole example after ``tries``)."""
    t = example.context["t_index"]
    t0, n = int(t.min()), int(t.max() - t.min()) + 1
    has_obs = example.fields["observed"].any(axis=1)
    low = max(1, int(np.ceil(min_fraction * n)))
    for _ in range(tries):
        m = int(rng.integers(low, n + 1))
        s = t0 + int(rng.integers(0, n - m + 1))
        keep = (t >= s) & (t < s + m)
        if (keep & has_obs).any():
            if keep.all():
                return example
            return domain._take(example, np.flatnonzero(keep), example.window)
    return example


def jitter(example: Example, rng: np.random.Generator, scale: float = JITTER) -> Example:
    """Add ``N(0, (scale * std_c)^2)`` to every observed sample of channel c, std over the
    observed samples of the example (a channel without spread gets none)."""
    values, observed = example.fields["values"], example.fields["observed"]
    c = example.context["c_index"]
    n_ch = int(c.max()) + 1 if len(c) else 0
    std = np.zeros(n_ch)
    for k in range(n_ch):
        x = values[c == k][observed[c == k]]
        std[k] = float(np.std(x)) if x.size else 0.0
    noise = rng.normal(size=values.shape) * (scale * std[c])[:, None]
    new = np.where(observed, values + noise, values).astype(values.dtype)
    return _replace(example, values=new)


def hide_patches(example: Example, rng: np.random.Generator, rate: float = MASK_RATE) -> Example:
    """Mark about ``rate`` of the patches holding observed samples as unobserved (values 0),
    keeping at least one observed patch."""
    observed = example.fields["observed"]
    candidates = np.flatnonzero(observed.any(axis=1))
    k = min(int(rng.binomial(candidates.size, rate)), candidates.size - 1)
    if k <= 0:
        return example
    hidden = rng.choice(candidates, size=k, replace=False)
    obs = observed.copy()
    obs[hidden] = False
    values = np.where(obs, example.fields["values"], 0.0).astype(example.fields["values"].dtype)
    return _replace(example, values=values, observed=obs)


def _replace(example: Example, **fields: np.ndarray) -> Example:
    return Example(fields={**example.fields, **fields}, positions=example.positions,
                   record=example.record, window=example.window, start=example.start,
                   context=example.context)


def timeseries_views(domain: "TimeSeriesDomain", example: Example, rng: np.random.Generator,
                     min_fraction: float = MIN_CROP, jitter_scale: float = JITTER,
                     mask_rate: float = MASK_RATE) -> tuple[Example, Example]:
    """Two independent crop -> jitter -> hidden-patch views of ``example``."""
    out = []
    for _ in range(2):
        view = crop_time(domain, example, rng, min_fraction)
        view = jitter(view, rng, jitter_scale)
        out.append(hide_patches(view, rng, mask_rate))
    return out[0], out[1]
