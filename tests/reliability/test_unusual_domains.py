"""Unusual and malformed inputs of the non-tabular domains (genomic, timeseries, sets), as
a user's own files hold them: each test is one input that used to give a silent wrong
result, a crash or a refusal of valid data, checked through the reader / ingest function
or the CLI with tiny synthetic files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import DataError


def _ingest(domain: str, path, tmp_path, **options) -> RecordStore:
    out = tmp_path / f"{path.stem}.zarr"
    report = ingest(domain, [str(path)], str(out), overwrite=True, progress=False, verbose=False,
                    **options)
    store = RecordStore(str(out))
    store.report = report
    return store


def _refused(domain: str, path, tmp_path, *needles: str, **options) -> str:
    """Ingest refuses ``path`` with an error naming the file and ``needles``; no store left."""
    out = tmp_path / "refused.zarr"
    with pytest.raises(DataError) as info:
        ingest(domain, [str(path)], str(out), progress=False, verbose=False, **options)
    text = str(info.value)
    assert path.name in text, text
    for needle in needles:
        assert needle in text, f"{needle!r} not in {text!r}"
    assert not out.exists() and not any(p.name.startswith("refused.zarr") for p in tmp_path.iterdir())
    return text


# ---------------------------------------------------------------- labels and record ids

def test_labels_naming_an_id_held_by_two_records_are_refused(tmp_path):
    """Two FASTA records named 'a' (two assemblies' chr1): a label for 'a' went to the last
    one only and the first was silently unlabelled. Now ingest warns and the join refuses
    the row, naming both records; an unambiguous id still joins."""
    from encoderkit.tasks.labels import align, read_split

    fasta = tmp_path / "dup.fa"
    fasta.write_text(">a\nACGTACGT\n>a\nTTTTGGGG\n>b\nCCCCAAAA\n")
    store = _ingest("genomic", fasta, tmp_path)
    assert any("'a'" in w for w in store.report.warnings)
    ids = np.asarray([r["id"] for r in store], dtype=object)
    assert list(ids) == ["a", "a", "b"]
    ok = align(pd.DataFrame({"id": ["b"], "label": ["x"]}), ids, "labels.csv", False)
    assert list(ok.labelled) == [False, False, True]
    with pytest.raises(DataError, match=r"row 2: id 'a' names 2 records .*records 0, 1"):
        align(pd.DataFrame({"id": ["a", "b"], "label": ["x", "y"]}), ids, "labels.csv", False)
    with pytest.raises(DataError, match="names 2 records"):
        align(pd.DataFrame({"id": ["a"], "position": [0], "label": ["x"]}), ids, "labels.csv", True)
    split = tmp_path / "split.csv"
    split.write_text("id,split\nb,train\na,val\n")
    with pytest.raises(DataError, match="row 3: id 'a' names 2 records"):
        read_split(str(split), ids)
