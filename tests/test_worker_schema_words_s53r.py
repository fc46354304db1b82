"""``ingest workers=2`` never explains two files' schemas with nothing (session 53, helper M1).

Two tables that differ only in a categorical column's frequencies (``u`` 30 times and ``v``
20 in one file, the other way round in the other), or in a key of a column's entry that the
tabular words did not compare (a numeric column's ``zoned`` / ``datetime``), were refused as
"the schemas ... differ (a.csv and b.csv: )". Now the frequencies are named, every key of a
column's entry is compared, and where a domain's words find nothing, where the JSON differs.

References: the schemas written by hand, and the difference they were built with.
"""

from __future__ import annotations

import pandas as pd
import pytest

from domains.tabular.schema_match import schema_differences
from encoderkit.data.ingest import ingest
from encoderkit.data.ingest_scale import merge_schemas
from encoderkit.errors import DataError


def test_files_differing_only_in_a_categorys_frequencies_say_so(tmp_path):
    """R1's case (wk2.py)."""
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    pd.DataFrame({"k": ["u"] * 30 + ["v"] * 20, "g": ["p", "q"] * 25}).to_csv(a, index=False)
    pd.DataFrame({"k": ["u"] * 20 + ["v"] * 30, "g": ["p", "q"] * 25}).to_csv(b, index=False)
    with pytest.raises(DataError) as e:
        ingest("tabular", [str(a), str(b)], str(tmp_path / "s.zarr"), workers=2, progress=False, verbose=False)
    said = str(e.value)
    assert f"({a} and {b}: column 'k' has other category frequencies)" in said
    assert "'g'" not in said


def _numeric(**extra) -> dict:
    return {"name": "t", "kind": "numeric", "dtype": "str", "mean": 1.0, "std": 2.0, "edges": [0.0, 1.0],
            "quantiles": [0.0, 1.0], "integer": True, "datetime": True, **extra}


def _categorical(categories, frequencies) -> dict:
    return {"name": "k", "kind": "categorical", "dtype": "str", "categories": categories,
            "frequencies": frequencies}


def test_every_key_of_a_columns_entry_is_compared():
    a = {"columns": [_numeric(zoned=True), _categorical(["u", "v"], [0.6, 0.4])], "num_bins": 8}
    b = {"columns": [_numeric(zoned=False), _categorical(["u", "v"], [0.6, 0.4])], "num_bins": 8}
    assert schema_differences(a, b) == ["column 't' has zoned True in the first, False in the second"]
    b = {"columns": [_numeric(), _categorical(["u", "v"], [0.6, 0.4])], "num_bins": 8}  # a key only in one
    assert schema_differences(a, b) == ["column 't' has zoned True in the first, None in the second"]
    b = {"columns": [_numeric(zoned=True, datetime=False), _categorical(["v", "u"], [0.4, 0.6])], "num_bins": 8}
    assert schema_differences(a, b) == ["column 't' has datetime True in the first, False in the second",
                                        "column 'k' has the same categories in another order"]
    # a numeric column's statistics stay one line for all the columns, not a line per key
    b = {"columns": [_numeric(zoned=True, mean=5.0, std=3.0), _categorical(["u", "v"], [0.5, 0.5])], "num_bins": 8}
    assert schema_differences(a, b) == ["column 'k' has other category frequencies",
                                        "numeric column 't' has other statistics (mean, std, quantile edges: "
                                        "each file's own)"]
    assert schema_differences(a, a) == []


class _Quiet:
    """A domain whose words compare one key only."""
    name = "quiet"

    @staticmethod
    def schema_differences(a, b):
        return [] if a.get("k") == b.get("k") else ["k differs"]


def test_a_domain_whose_words_find_nothing_gets_where_the_json_differs():
    with pytest.raises(DataError) as e:
        merge_schemas(_Quiet, [{"k": 1, "depth": [1, 2]}, {"k": 1, "depth": [1, 3]}], "2 input files",
                      ["a.txt", "b.txt"])
    assert "(a.txt and b.txt: depth[1]: 2 vs 3)" in str(e.value)
    with pytest.raises(DataError) as e:
        merge_schemas(_Quiet, [{"k": 1}, {"k": 2}], "2 input files", ["a.txt", "b.txt"])
    assert "(a.txt and b.txt: k differs)" in str(e.value)
