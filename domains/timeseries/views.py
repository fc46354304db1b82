"""Contrastive views of a time-series example: crop, jitter, hide patches.

Each view is (1) a random crop along time of whole patches (every channel kept, so
the cross-channel structure survives), (2) Gaussian jitter on the observed samples,
scaled per channel to the spread of that channel's observed samples in the crop, and
(3) a random share of the patches made unobserved through the ``observed`` field,
exactly as missing data looks to the model. A view never turns an unobserved sample
into an observed one, and always keeps at least one observed patch. The recipe is
the TS2Vec / TF-C family's (crops + jitter + masking), on the domain's own tokens.

The jitter is drawn with the view but added when the view is masked (``ViewJitter``,
``SeriesMasking._masked``): with the masked-LM loss kept (``task.mlm_weight``) a channel
with samples hidden for it gets noise scaled to the spread of its samples left visible,
so a hidden value never moves the visible inputs (scaled by the crop's spread, a hidden
1e6 moved the visible values by 1e5). Unmasked views are the numbers they always were.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class ViewJitter:
    """A view's jitter noise, drawn with the view (``draw_jitter``) and added to its observed
    samples when it is masked (``add``), once the samples hidden for training are known."""

    draws: np.ndarray  # [T, p] N(0, 1), one per sample
    std: np.ndarray  # [C] noise std: scale * spread of the channel's observed samples in the view
    scale: float  # noise std as a fraction of a channel's spread

    def add(self, values: np.ndarray, observed: np.ndarray, hide: np.ndarray,
            channel: np.ndarray) -> np.ndarray:
        """``values`` [T, p] with the noise on every ``observed`` sample. A channel with a
        sample in ``hide`` (the masked-LM targets) gets ``scale`` times the spread of its
        samples left visible, not of all of them: the hidden values must not set the size of
        the noise on the visible ones. Nothing hidden: the view's own ``std``."""
        std = self.std
        hit = np.bincount(channel, weights=hide.sum(axis=1), minlength=len(std)) > 0  # [C]
        if hit.any():
            std = std.copy()
            visible = observed & ~hide
            for k in np.flatnonzero(hit):
                x = values[channel == k][visible[channel == k]]
                std[k] = self.scale * float(np.std(x)) if x.size else 0.0
        noise = self.draws * std[channel][:, None]
        return np.where(observed, values + noise, values).astype(values.dtype)


def draw_jitter(example: Example, rng: np.random.Generator, scale: float = JITTER) -> Example:
    """``example`` with its ``ViewJitter`` in ``context["jitter"]`` (values untouched): noise
    ``N(0, (scale * std_c)^2)`` per observed sample of channel c, std over the observed samples
    of the example (a channel without spread gets none)."""
    values, observed = example.fields["values"], example.fields["observed"]
    c = example.context["c_index"]
    n_ch = int(c.max()) + 1 if len(c) else 0
    std = np.zeros(n_ch)
    for k in range(n_ch):
        x = values[c == k][observed[c == k]]
        std[k] = float(np.std(x)) if x.size else 0.0
    drawn = ViewJitter(draws=rng.normal(size=values.shape), std=scale * std, scale=scale)
    return Example(fields=example.fields, positions=example.positions, record=example.record,
                   window=example.window, start=example.start,
                   context={**example.context, "jitter": drawn})


def jitter(example: Example, rng: np.random.Generator, scale: float = JITTER) -> Example:
    """``draw_jitter``'s noise added now, on every observed sample (nothing hidden)."""
    noise: ViewJitter = draw_jitter(example, rng, scale).context["jitter"]
    observed = example.fields["observed"]
    return _replace(example, values=noise.add(example.fields["values"], observed,
                                              np.zeros_like(observed), example.context["c_index"]))


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
    """Two independent crop -> jitter -> hidden-patch views of ``example`` (the jitter
    drawn here, added when the view is masked: ``ViewJitter``)."""
    out = []
    for _ in range(2):
        view = crop_time(domain, example, rng, min_fraction)
        view = draw_jitter(view, rng, jitter_scale)
        out.append(hide_patches(view, rng, mask_rate))
    return out[0], out[1]
