"""A numeric column that seems to come in other units than in training (years given in months,
euros in cents, a fraction as a percentage): the model reads every number in the training
units, so such a column moves the predictions with values it never saw, without a word.

What the schema keeps of a numeric column: its training ``mean`` and ``std`` (the values are
standardised by them) and ``quantiles``, the standardised values at probabilities 0, 1/B, ..,
1 (so the first and last are the training minimum and maximum). A change of units multiplies
the values by a factor k: they move out of the training range AND spread k times as widely.
New data that drifted (a later period of a trending series: GDP, prices, a year column) moves
out of the range too, but keeps about its spread. Both are required, so that ordinary drift
stays silent:

- most values (more than half) lie further than FAR_MARGIN training ranges outside the
  training range [min, max], and
- the spread between their 10% and 90% quantiles is at least SPREAD_RATIO times the training
  one (read off the stored quantiles).

Measured in session 49: silent on every column of wine, diabetes and breast_cancer split in
random halves (20 seeds each) and on time-ordered splits of 11 statsmodels tables
(macrodata's first 150 rows and the rest, first 50 / 70 / 80 % and the rest; the largest
spread ratio among the columns that left the range was 3.5, copper's INCOMEINDEX from 12
training rows); fires on 54 of 56 columns multiplied by 12 and on all of them by 60, 100 or
1000. Not caught: values divided by k (they shrink into the training range, as a subset of
ordinary rows may), an offset change (Celsius to Fahrenheit keeps the spread within 2x), and
columns of fewer than MIN_VALUES values, whose spread says little.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

FAR_MARGIN = 0.25  # training ranges beyond [min, max]
SPREAD_RATIO = 4.0  # the given values' 10-90% spread over the training one
MIN_VALUES = 10


def units_message(col: Mapping[str, Any], values: np.ndarray) -> str | None:
    """What to say of the numeric column ``col`` (its schema entry) whose non-missing
    ``values`` (in the column's units) look like other units than in training, or None."""
    q = col.get("quantiles")
    if q is None or len(q) < 2 or col.get("datetime") or values.size < MIN_VALUES:
        return None  # a schema without quantiles (older stores): no training spread to compare
    q = np.asarray(q, dtype=np.float64)
    lo, hi = float(q[0]), float(q[-1])
    span = hi - lo
    if not span > 0:
        return None  # a constant column: any other value would seem far
    z = (np.asarray(values, dtype=np.float64) - col["mean"]) / col["std"]
    far = (z < lo - FAR_MARGIN * span) | (z > hi + FAR_MARGIN * span)
    if 2 * int(far.sum()) <= z.size:
        return None
    p10, p90 = np.interp([0.1, 0.9], np.linspace(0.0, 1.0, q.size), q)
    trained = p90 - p10 if p90 > p10 else span  # a column of mostly one value: its whole range
    given = float(np.subtract(*np.quantile(z, [0.9, 0.1])))
    if given < SPREAD_RATIO * trained:
        return None
    low, high = lo * col["std"] + col["mean"], hi * col["std"] + col["mean"]
    return (f"column {col['name']!r}: {int(far.sum())} of its {z.size} values lie far outside the "
            f"range the model was trained on ({low:.4g} to {high:.4g}) and spread "
            f"{given / trained:.0f} times as widely: are they in other units than in training "
            f"(months for years, cents, thousands, a percentage for a fraction)? The model reads "
            f"them in the training units, so its predictions rest on values it never saw; "
            f"convert the column back")
