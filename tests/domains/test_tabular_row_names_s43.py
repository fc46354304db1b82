"""Rows named as the user reads them: in a file, the 1-based data row (the header line not
counted), as every other reader's message counts; in a DataFrame, its index label."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from domains.tabular import TabularDomain
from encoderkit.errors import DataError


def frame(n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})


def test_an_infinite_value_in_a_file_names_its_data_row(tmp_path):
    path = tmp_path / "t.csv"
    lines = frame().to_csv(index=False).splitlines()
    cells = lines[5].split(",")  # data row 5 (line 6 of the file)
    lines[5] = ",".join(["inf", cells[1]])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"column 'a' holds 1 infinite value\(s\) \(first at data row 5\)"):
        TabularDomain.from_frame(frame()).read_records(str(path))


def test_a_word_in_a_file_names_its_data_row_and_a_frame_its_index_label(tmp_path):
    f = frame()
    f["b"] = f["b"].astype(object)
    f.loc[7, "b"] = "abc"
    path = tmp_path / "w.csv"
    f.to_csv(path, index=False)
    domain = TabularDomain.from_frame(frame())
    with pytest.warns(UserWarning, match=r"such as \['abc'\] \(first at data row 8\)"):
        domain.read_records(str(path))
    labelled = f.set_axis([f"r{i}" for i in range(len(f))])
    with pytest.warns(UserWarning, match=r"such as \['abc'\] \(first at row r7\)"):
        domain.to_records(labelled)
