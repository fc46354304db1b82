"""Two leftovers of the drift fixes (s49j): a UTF-32 file is named as such (its little-endian
byte-order mark starts with UTF-16's, so it was called UTF-16, and big-endian UTF-32 was not
told at all); a column the run drops (a fine-tuned run's label) draws no warning about its
values when a table is read for the run (evaluate on a file whose labels read Yes / No warned
of an "unknown category" in an input the model never reads)."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from encoderkit.data.textfiles import check_text
from encoderkit.errors import DataError


@pytest.mark.parametrize("encoding,name", [("utf-32-le", "UTF-32"), ("utf-32-be", "UTF-32"),
                                           ("utf-16-le", "UTF-16"), ("utf-16-be", "UTF-16")])
def test_unicode_files_are_named_by_their_encoding(tmp_path, encoding, name):
    path = tmp_path / "t.csv"
    bom = {"utf-32-le": b"\xff\xfe\x00\x00", "utf-32-be": b"\x00\x00\xfe\xff",
           "utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}[encoding]
    path.write_bytes(bom + "a,b\n1,2\n".encode(encoding))
    with pytest.raises(DataError, match=rf"is {name} text .*save it as UTF-8"):
        check_text(path)


def test_utf8_text_passes(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")
    check_text(path)


def test_a_dropped_column_draws_no_category_warning(tmp_path):
    from domains.tabular import TabularDomain
    from encoderkit.data.ingest import ingest
    from encoderkit.data.store import RecordStore

    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0] * 5, "g": ["a", "b"] * 10, "label": ["0", "1"] * 10})
    frame.to_csv(tmp_path / "t.csv", index=False)
    ingest("tabular", [str(tmp_path / "t.csv")], str(tmp_path / "t.zarr"), progress=False, verbose=False)
    schema = RecordStore(str(tmp_path / "t.zarr")).schema
    drifted = frame.assign(label=["No", "Yes"] * 10)
    with pytest.warns(UserWarning, match="label"):  # the reference: read as an input, it is warned of
        TabularDomain(schema).to_records(drifted)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TabularDomain(schema, drop_columns=["label"]).to_records(drifted)
