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
1000 random columns of each size (a share near 8% is known to about +-1.7 points): account
numbers of 20-24 digits (random digits) were modelled as numbers always before, now 7.9% of
the time at 20 values, 4.1% at 30, 1.2% at 50, never at 100; unrounded lognormal amounts
(sigma 2 to 3 in natural log) spread over enough orders to be numbers (``bigints.magnitudes``)
lose that reading 6-8% of the time at 20 values (8.1% at sigma 3, over 4000 columns), 3-5%
at 30, 1-1.5% at 50, at most 0.2% at 100. They are then an identifier or categories, and
said so with the option that models them as numbers (``identifier_override``;
``bigints.big_integer_message``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from encoderkit.overrides import option_word
from domains.tabular.bigints import EVEN_MIN, ROUND_SHARE, ROUND_ZEROS, magnitudes


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


def identifier_override(name: str, s: pd.Series | None = None) -> str:
    """What ingest says (in parentheses) of the option that keeps the column ``name``, left
    out as an identifier, in the model. A column ``s`` of integers beyond int64 that spread
    over orders of magnitude as amounts do and is an identifier by its leading digits alone
    (``spread_ids``) may be amounts misread (module docstring): the option named first is the
    one that models them as numbers; as categories, a fill would be an amount seen elsewhere."""
    keep = f"the ingest option {option_word('columns', {name: 'categorical'})} keeps it in"
    if s is None or not (magnitudes(s) and spread_ids(s)):
        return keep
    return (f"read as ids because their leading digits are spread evenly, as account numbers' are, not "
            f"as amounts' (more 1s than 9s); if they are amounts, the ingest option "
            f"{option_word('columns', {name: 'numeric'})} models them as numbers; "
            f"{option_word('columns', {name: 'categorical'})} "
            f"keeps them in as categories")
