"""Labels for fine-tuning: read a labels file (CSV / TSV / Parquet / .npy), align it with
the records of a store, encode it for a task, split it into train / validation / test.

* With an ``id`` column (any case: ``ID``; a Parquet index), rows join the store's record
  ids (an id the store does not hold is an error naming the file and row; a record with no
  row is unlabelled); without one, there must be one row per record, in store order. How
  files are read: ``label_files.py``.
* An empty / NaN / ``pd.NA`` label means *unlabelled*: the record is neither trained nor
  validated on (CSV words such as ``NA`` too, with a warning).
* Token tasks: a long table ``id, position, label`` (position = token index in the
  featurized record) or a 2-D ``.npy`` ``[records, tokens]`` padded with NaN.
* CSV / TSV cells are read as text: a class label is the text as written (trimmed), so
  ``+0`` and ``-0`` are two classes and so are ``1`` and ``1.0`` (a file written from a
  float column says ``1.0`` on every row, which stays one class); ids are strings.
  Parquet and ``.npy`` keep their types (an integer-valued float class is named ``1``).
  Classes are named by text; the run records what the labels were (``class_kind``), and
  ``predict`` returns them so (ints for int labels and for a CSV's ``0`` / ``1``).
* Multilabel: several 0/1 (or true / false) columns, one per label, or one column of
  ``;``-separated names where ``[]`` (``EMPTY_SET``) is a record with none of the labels;
  an empty cell there is unlabelled, as everywhere, with a warning (``encode_multilabel``).
* Columns: ``task.label_names`` if given, else a ``label`` column if there is one, else
  every column but ``id`` (and ``position``, and the group column): several only for
  multi-target regression and multilabel indicator columns. Evaluating a run, a regression
  run's targets are found by name (``target_columns``), never by position.
* Groups (``task.group_column``): a column of the labels file naming each record's group
  (the gene a window was cut from, the patient a row belongs to); the validation split
  then keeps every group whole on one side (``split_labelled``), so validation measures
  records of groups the model has not trained on.

The labels API, one namespace (``from encoderkit.tasks import labels as L``) over the
modules that hold it, one job each: ``label_files.py`` reads the files, ``label_align.py``
aligns their rows with the records, ``label_encode.py`` encodes them for a task,
``label_splits.py`` splits the labelled records and weighs the classes. Callers reach the
functions through this module (``L.split_labelled``), so a test may replace one here.
"""

from __future__ import annotations

# the file reading lives in label_files; its names stay importable from here
from encoderkit.tasks.label_align import (AMBIGUOUS, ID_MATCH, Labels, align, column_values, find_record,
                                          missing_label_column, record_ids, record_index, use_id_column)
from encoderkit.tasks.label_encode import (CASE_VARIANTS, EMPTY_SET, _class_name, _number, case_variants_said,
                                           class_code, class_coder, class_kind, class_mismatch, class_names,
                                           class_values, encode_classes, encode_multilabel, encode_regression,
                                           target_columns)
from encoderkit.tasks.label_files import (LABEL_SUFFIXES, check_series_file, counts_header, id_texts,
                                          is_missing, missing_words, read_table)
from encoderkit.tasks.label_splits import class_weights, read_groups, read_split, split_labelled

__all__ = [
    # label_files
    "LABEL_SUFFIXES", "check_series_file", "counts_header", "id_texts", "is_missing", "missing_words",
    "read_table",
    # label_align
    "AMBIGUOUS", "ID_MATCH", "Labels", "align", "column_values", "find_record", "missing_label_column",
    "record_ids", "record_index", "use_id_column",
    # label_encode (``_class_name`` and ``_number``: the tests check them directly)
    "CASE_VARIANTS", "EMPTY_SET", "_class_name", "_number", "case_variants_said", "class_code",
    "class_coder", "class_kind", "class_mismatch", "class_names", "class_values", "encode_classes",
    "encode_multilabel", "encode_regression", "target_columns",
    # label_splits
    "class_weights", "read_groups", "read_split", "split_labelled",
]
