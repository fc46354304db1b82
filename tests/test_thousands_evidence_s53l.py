"""The thousands-point warning (``27.004`` beside ``809`` in a ``;`` file: German whole
numbers read as decimals) fired on measurements written with three decimals beside whole
ones (``1.125``, ``3``, ``4.500``), review r2 of session 52. It now needs what decimals
cannot show: a cell of two point groups or more, or every whole number above every pointed
one read as a decimal (two heaps). The file is read the same either way (a warning only)."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from domains.tabular.reading import read_table
from domains.tabular.textforms import thousands_points

MEASURES = ["1.125", "3", "2.375", "5.625", "4", "2.250", "4.500", "12.875"]


@pytest.mark.parametrize("cells", [
    MEASURES,                                          # shortest and fixed decimals around whole ones
    ["1.125", "3", "2.375", "5.625", "4"],             # no trailing zero anywhere
    ["101.125", "250", "99.500", "180.375", "120"],    # wholes among the decimals, larger values
])
def test_three_decimal_measurements_beside_whole_ones_are_not_thousands(cells):
    assert thousands_points(cells) is None


@pytest.mark.parametrize("cells, pair", [
    (["809", "27.004", "5.152", "", "40.724", "912", "1.204.331"], ("27.004", "809")),  # two groups
    (["809", "27.004", "5.152", "40.724", "912", "315"], ("27.004", "809")),  # two heaps: 315..912 vs 5..41
    (["-809", "-27.004", "5.152", "40.724"], ("-27.004", "-809")),
])
def test_german_whole_numbers_are_still_said(cells, pair):
    assert thousands_points(cells) == pair


def test_a_semicolon_file_warns_of_the_counts_column_only_and_reads_both_unchanged(tmp_path):
    text = "id;kg;n\n" + "".join(f"{i};{kg};{n}\n" for i, (kg, n) in enumerate(zip(
        MEASURES, ["809", "27.004", "5.152", "40.724", "912", "1.204", "2.003", "650"])))
    path = tmp_path / "m.csv"
    path.write_text(text)
    res = read_table(str(path), ";")
    said = [m for m in res.messages if "thousands" in m]
    assert len(said) == 1 and "column 'n'" in said[0]
    reference = pd.read_csv(io.StringIO(text), sep=";")  # a decimal point, as before
    pd.testing.assert_frame_equal(res.frame[["kg", "n"]].astype(float), reference[["kg", "n"]].astype(float))
