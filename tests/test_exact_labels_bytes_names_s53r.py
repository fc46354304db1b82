"""Decimal labels named exactly, and Parquet read by a name's bytes (session 53, helper M1).

* A decimal label (a Parquet ``decimal128`` column) was named by ``Decimal.normalize()``, which
  rounds to the decimal context's precision: 28 digits by default, fewer where a host program
  lowers it. Distinct decimal(38,0) labels of 29+ digits, or 1234567.5 and 1234568.4 under a
  context of 6 digits, merged into one class named by a value not in the data ('1234570').
* A Parquet labels file under a name whose bytes are not UTF-8 (``labels_\\xfc``, a Latin-1
  locale's ``labels_ü``) was refused: pyarrow, given the name, opens its UTF-8 spelling. A
  large table streamed under a TMPDIR so named was refused the same way (its spilled cells).

References: the class names written out by hand (digits of the data, exactly); the labels
file's frame read by pandas from an ASCII-named copy; the whole-file reader's frame.
"""

from __future__ import annotations

import decimal
import os
import shutil
import tempfile
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from encoderkit.tasks import labels as L
from encoderkit.tasks.label_files import read_table


def latin(stem: str) -> str:
    """``<stem>_ü`` as ISO-8859-1 names it: ``ü`` is the byte 0xfc, not UTF-8."""
    return os.fsdecode(stem.encode() + b"_\xfc")


def _decimal_labels(tmp_path, values: list[str], precision: int, scale: int):
    ids = [f"r{i}" for i in range(len(values))]
    file = tmp_path / "y.parquet"
    column = pa.array([Decimal(v) for v in values], pa.decimal128(precision, scale))
    pq.write_table(pa.table({"id": ids, "label": column}), file)
    return L.align(L.read_table(file), np.asarray(ids), str(file), False, None)


def test_decimal38_labels_of_29_digits_are_distinct_classes_named_exactly(tmp_path):
    big = ["100000000000000000000000000001", "100000000000000000000000000002",
           "-99999999999999999999999999999999999999", "100000000000000000000000000001"]
    labels = _decimal_labels(tmp_path, big, 38, 0)
    classes = L.class_names(labels, False)
    assert sorted(classes) == sorted(set(big))  # each the data's own digits
    codes = L.encode_classes(labels, classes, False)
    assert [classes[c] for c in codes] == big


def test_a_hosts_lowered_decimal_precision_names_no_label_by_a_rounded_value(tmp_path):
    values = ["1234567.50", "1234568.40", "-0.00", "100.00", "0.01"]
    with decimal.localcontext(decimal.Context(prec=6)):  # a host program's setting
        labels = _decimal_labels(tmp_path, values, 10, 2)
        classes = L.class_names(labels, False)
        codes = L.encode_classes(labels, classes, False)
    assert decimal.getcontext().prec == 28  # given back
    assert classes == ["0", "0.01", "100", "1234567.5", "1234568.4"]
    assert [classes[c] for c in codes] == ["1234567.5", "1234568.4", "0", "100", "0.01"]


def test_a_parquet_labels_file_whose_name_is_not_utf8_is_read(tmp_path):
    frame = pd.DataFrame({"id": ["a", "b", "c"], "label": [1.5, 2.0, None]})
    plain = tmp_path / "labels.parquet"
    frame.to_parquet(plain)
    folder = tmp_path / latin("labels")
    folder.mkdir()
    shutil.copy(plain, folder / "l.parquet")
    got = read_table(str(folder / "l.parquet"))
    pd.testing.assert_frame_equal(got, pd.read_parquet(plain))


def test_a_table_streamed_under_a_tmpdir_whose_name_is_not_utf8_is_read_whole(tmp_path, monkeypatch):
    """The spilled cells (Parquet and Arrow files in the work folder under TMPDIR) are
    written and read by their names' bytes."""
    from domains.tabular import streaming
    from domains.tabular.reading import read_table as read_whole

    src = tmp_path / "t.csv"
    pd.DataFrame({"a": np.arange(40) * 0.5, "b": ["x", "y", "z", "w"] * 10}).to_csv(src, index=False)
    tmp = tmp_path / latin("tmp")
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    folder = tempfile.mkdtemp()
    assert folder.startswith(str(tmp))
    table = streaming._columns(str(src), streaming.check_ingest_options({}), folder)
    got = pd.concat([table.read(j) for j in range(len(table.names))], axis=1)
    pd.testing.assert_frame_equal(got, read_whole(str(src)).frame)


def test_decimal_fills_quantize_whatever_the_context():
    """A decimal(38,18) column's fill of 13 whole digits needs 31 digits: quantized under the
    global context (28) it raised InvalidOperation; under a host's precision 6 it rounded."""
    import decimal
    from decimal import Decimal

    from domains.tabular.cells import like_observed

    observed = [Decimal("1234567890123.450000000000000000"), Decimal("2.000000000000000000")]
    want = Decimal("1234567890124.500000000000000000")
    assert like_observed([1234567890124.5, 3.0], observed) == [want, Decimal("3.000000000000000000")]
    with decimal.localcontext(decimal.Context(prec=6)):
        assert like_observed([1234567890124.5], observed) == [want]
