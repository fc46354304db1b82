"""The thousands-point warning (``27.004`` beside ``809`` in a ``;`` file: German whole
numbers read as decimals). Review r2 of session 52 found it fired on measurements written
with three decimals beside whole ones (``1.125``, ``3``, ``4.500``); session 53 (helper L1)
then asked for evidence decimals cannot show, which silenced German counts such as
``480.123;95;1.204;27.004;650;12.345`` (review R1, helper M1 of session 53): a missed warning
is a silent wrong result, a warning on data that could be either is a question. So the
warning is dropped only where thousands are impossible (a pointed cell led by ``0`` or by 4+
digits, a group not of 3 digits, a whole number of 4+ digits without a point, a negative
zero), and worded as a possibility unless a cell of several groups settles it. The file is
read the same either way (a warning only)."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from domains.tabular.reading import read_table
from encoderkit.data.textforms import thousands_message, thousands_points

MEASURES = ["1.125", "3", "2.375", "5.625", "4", "2.250", "4.500", "12.875"]


@pytest.mark.parametrize("cells", [
    ["0.125"] + MEASURES,                              # led by a zero: no thousands group
    MEASURES + ["1250"],                               # 4 digits without a point: no writer of thousands points
    MEASURES + ["1234.567"],                           # 4 digits before the point
    MEASURES + ["2.5"],                                # a group of one digit
    MEASURES + ["-0"],                                 # a negative zero: a rounded measurement
])
def test_measurements_that_cannot_be_thousands_are_not_said(cells):
    assert thousands_points(cells) is None


@pytest.mark.parametrize("cells, pair", [
    (["480.123", "95", "1.204", "27.004", "650", "12.345"], ("480.123", "95")),  # R1: town populations
    (["809", "27.004", "5.152", "40.724", "912", "0"], ("27.004", "809")),
    (["5", "27.004", "5.152", "40.724"], ("27.004", "5")),
    (["809", "27.004", "5.152", "40.724", "912", "315"], ("27.004", "809")),
    (["-809", "-27.004", "5.152", "40.724"], ("-27.004", "-809")),
    (MEASURES, ("1.125", "3")),                        # could be counts: said as a possibility
    (["101.125", "250", "99.500", "180.375", "120"], ("101.125", "250")),
])
def test_cells_that_can_be_thousands_are_said_as_a_possibility(cells, pair):
    got = thousands_points(cells)
    assert got == pair and got.several is None
    said = thousands_message("n", got)
    count = pair[0].replace(".", "")
    assert f"could be thousands marks ({pair[0]} = {int(count)}" in said and "if so" in said
    assert "\n" not in said


def test_a_cell_of_several_groups_settles_it():
    got = thousands_points(["809", "27.004", "5.152", "", "40.724", "912", "1.204.331"])
    assert got == ("27.004", "809") and got.several == "1.204.331"
    said = thousands_message("n", got)
    assert "'1.204.331' has several groups" in said and "not 27004" in said and "could be" not in said


def test_a_semicolon_file_warns_of_the_counts_column_only_and_reads_both_unchanged(tmp_path):
    kg = ["0.125"] + MEASURES[1:]  # measurements with a value below 1: no counts
    text = "id;kg;n\n" + "".join(f"{i};{k};{n}\n" for i, (k, n) in enumerate(zip(
        kg, ["480.123", "95", "1.204", "27.004", "650", "12.345", "2.003", "650"])))
    path = tmp_path / "m.csv"
    path.write_text(text)
    res = read_table(str(path), ";")
    said = [m for m in res.messages if "thousands" in m]
    assert len(said) == 1 and "column 'n'" in said[0]
    assert "480.123 = 480123" in said[0]
    reference = pd.read_csv(io.StringIO(text), sep=";")  # a decimal point, as before
    pd.testing.assert_frame_equal(res.frame[["kg", "n"]].astype(float), reference[["kg", "n"]].astype(float))
