"""Decimal labels (a Parquet ``decimal128`` column) are numbers (session 53, helper L2).

A decimal(10,2) label column (1.50, 2.25, as Spark, DuckDB or a database export writes money
and measurements) became the text classes '1.50', '2.25', '3.00' (kind ``str``: predict
returned text), and labels of the same values from a decimal(10,3) column (1.500) were refused
by predict / evaluate as no class of the model. A decimal is now named by its value, as a
float label is ('1.5', '3'), and its classes are numbers (kind ``float``).

References: the class names and codes written out by hand; the regression targets against
the float64 of each decimal's text.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from encoderkit.tasks import labels as L
from encoderkit.tasks.label_encode import class_code, class_values

IDS = np.array(["a", "b", "c", "d", "e", "f"])


def _labels(tmp_path, values, scale: int, name: str = "y.parquet"):
    file = tmp_path / name
    column = pa.array([None if v is None else Decimal(v) for v in values], pa.decimal128(10, scale))
    pq.write_table(pa.table({"id": list(IDS[:len(values)]), "label": column}), file)
    return L.align(L.read_table(file), IDS[:len(values)], str(file), False, None)


def test_decimal_classes_are_named_by_value_and_are_numbers(tmp_path):
    labels = _labels(tmp_path, ["1.50", "2.25", "1.50", "3.00", None, "-0.00"], 2)
    classes = L.class_names(labels, False)
    assert classes == ["0", "1.5", "2.25", "3"]
    kind = L.class_kind(labels, classes, False)
    assert kind == "float"
    np.testing.assert_array_equal(class_values(classes, kind), [0.0, 1.5, 2.25, 3.0])
    np.testing.assert_array_equal(L.encode_classes(labels, classes, False), [1, 2, 1, 3, -1, 0])


def test_a_decimal_of_another_scale_is_the_same_class(tmp_path):
    train = _labels(tmp_path, ["1.50", "2.25", "3.00"], 2)
    classes = L.class_names(train, False)
    kind = L.class_kind(train, classes, False)
    index = {c: i for i, c in enumerate(classes)}
    later = _labels(tmp_path, ["1.500", "2.250", "3.000", "2.251"], 3, "later.parquet")  # predict / evaluate
    assert [class_code(index, v, kind) for v in later.values] == [0, 1, 2, None]
    # the same values as a CSV writes them, or as floats
    assert [class_code(index, v, kind) for v in ("1.5", "3.0", 2.25, 3)] == [0, 2, 1, 2]


def test_a_run_whose_decimal_classes_were_text_still_reads_them():
    """A run fine-tuned before: its classes '1.50', '2.25' of kind ``str``."""
    index = {"1.50": 0, "2.25": 1}
    assert [class_code(index, Decimal(v), "str") for v in ("1.50", "2.25", "9.99")] == [0, 1, None]


def test_decimal_regression_targets_are_their_numbers(tmp_path):
    values = ["1.50", "2.25", "-7.10", None, "12345678.91"]
    labels = _labels(tmp_path, values, 2)
    y = L.encode_regression(labels, IDS[:len(values)], False)
    want = [[float(v) if v is not None else np.nan] for v in values]
    np.testing.assert_array_equal(y, np.asarray(want, dtype=np.float64))
