"""Identifiers of several lengths among the integers beyond int64 (``bigints.py``): account,
order or customer numbers whose formats differ in length (20 to 24 digits).

``bigints.magnitudes`` takes a column of such integers spread over several lengths and
orders of magnitude for amounts; ids of several lengths spread so too, and were modelled as
numbers, their fills ids that do not exist. Amounts and such ids differ in how their digits
fall within a length. Quantities that span orders of magnitude follow Benford's law: the
fractional part of ``log10(value)`` is about evenly spread, so 30% of them lead with a 1 and
5% with a 9. An id's digits are drawn evenly, so it leads with a 9 as often as with a 1: the
value is spread evenly between ``10**(k-1)`` and ``10**k`` for its ``k`` digits, and the
fractional part ``m`` has the density ``10**m * ln(10) / 9``. A column is read as ids when
that reading is the likelier one (log-likelihood ratio above 0) over its distinct values.

Only where the evidence of an amount is absent: a written sign (a debit), a value of zero,
or values rounded to a unit (most end in ``bigints.ROUND_ZEROS`` zeros: wei) make amounts,
and so do fewer than ``bigints.EVEN_MIN`` distinct values (too few to tell). Measured on
200 random columns of each size: account numbers of 20-24 digits (random digits) were
modelled as numbers always before, now 7% of the time at 20 values and never at 50 or more;
unrounded lognormal amounts (sigma 2 to 2.5) spread over enough orders to be numbers lose
that reading 4-9% of the time at 20-30 values, under 2% at 50, never at 100 or more (they
are then categories or an identifier, said; ``columns={<name>: numeric}`` chooses numbers).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from domains.tabular.bigints import EVEN_MIN, ROUND_SHARE, ROUND_ZEROS


def spread_ids(s: pd.Series) -> bool:
    """Whether the ``beyond_int64`` column ``s`` (text of digits, or Python ints) holds ids
    drawn evenly within their numbers of digits rather than amounts (module docstring)."""
    text = pd.Series(s.dropna().astype(str).str.strip().unique())
    if len(text) < EVEN_MIN or text.str.match(r"[-+]").any():
        return False
    if float(text.str.endswith("0" * ROUND_ZEROS).mean()) >= ROUND_SHARE:
        return False  # rounded to a unit: amounts
    values = text.astype(np.float64).to_numpy()
    if not (values > 0).all():
        return False
    fraction = np.log10(values) % 1.0  # float64 holds the leading digits of any length
    return float(np.sum(fraction * np.log(10.0) + np.log(np.log(10.0) / 9.0))) > 0.0
