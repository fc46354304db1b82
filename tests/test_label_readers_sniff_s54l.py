"""The labels reader of ``probe`` / ``evaluate`` (``infer.cli._read_labels``) and the
embeddings reader of ``probe`` make the checks finetune's labels reader makes: gzip bytes under
a plain ``.csv`` name, and a header joined by another separator, are one-line data errors
(they were a UnicodeDecodeError and a one-column table)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from encoderkit.errors import DataError
from encoderkit.infer.cli import _read_labels
from encoderkit.infer.probe import read_embeddings


def test_gzip_labels_named_csv_say_the_name_to_use(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_bytes(gzip.compress(b"id,label\n1,a\n"))
    with pytest.raises(DataError, match=r"labels\.csv: holds gzip data .* name it \.csv\.gz"):
        _read_labels(path, None, 1, None)


def test_semicolon_labels_named_csv_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("id;label\n1;a\n")
    with pytest.raises(DataError, match="semicolon-separated"):
        _read_labels(path, None, 1, None)


def test_gzip_embeddings_named_csv_say_the_name_to_use(tmp_path: Path) -> None:
    path = tmp_path / "emb.csv"
    path.write_bytes(gzip.compress(b"a,b\n1,2\n"))
    with pytest.raises(DataError, match=r"holds gzip data .* name it \.csv\.gz"):
        read_embeddings(path)
