"""Output names the file system takes but whose temporary's would not (session 53, helper p).

A 246-character name + ``.csv`` (250 bytes; a name may hold 255) was refused "File name too
long": its temporary ``.<name>.tmp-<pid>`` passed 255 bytes. Temporaries of such names are now
shortened by a hash of the name, in the same directory, and still renamed into place.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from encoderkit.outputs import (NAME_MAX, atomic_write, remove_dead_temporaries, short_name, sibling,
                                sibling_prefix, write_text_atomic)
from encoderkit.tasks.prediction_output import write_frame

LONG = "p" * 246 + ".csv"


def _fits(tmp_path) -> None:
    try:  # the file system itself takes the name (the premise)
        (tmp_path / LONG).write_text("")
        (tmp_path / LONG).unlink()
    except OSError as e:
        pytest.skip(f"this file system refuses a 250-byte name: {e}")


def test_text_and_frames_under_a_long_name_are_written_atomically(tmp_path):
    _fits(tmp_path)
    write_text_atomic(tmp_path / LONG, "a,b\n1,2\n")
    assert (tmp_path / LONG).read_text() == "a,b\n1,2\n"
    atomic_write(tmp_path / LONG, lambda t: pd.DataFrame({"x": [3]}).to_csv(t, index=False))
    assert pd.read_csv(tmp_path / LONG)["x"].tolist() == [3]
    frame = pd.DataFrame({"id": ["a", "b"], "prediction": [0.5, 1.5]})
    out = tmp_path / ("q" * 246 + ".csv")
    write_frame(frame, out)
    pd.testing.assert_frame_equal(pd.read_csv(out), frame)
    assert sorted(os.listdir(tmp_path)) == sorted([LONG, out.name])  # no temporary left


def test_a_long_names_temporary_is_short_stable_and_keeps_the_suffix(tmp_path):
    name = "é" * 120 + ".csv.gz"  # 247 bytes in UTF-8: a multi-byte character is never split
    prefix = sibling_prefix(name, "tmp")
    assert len(os.fsencode(prefix)) + 10 <= NAME_MAX and prefix == sibling_prefix(name, "tmp")
    assert prefix.endswith(".csv.gz.tmp-") and prefix.startswith(".é")
    assert sibling_prefix("short.csv", "tmp") == ".short.csv.tmp-"  # short names as before
    assert short_name("x" * 300, 40) != short_name("x" * 301, 40)  # by a hash of the whole name
    # a dead writer's temporary is found by the same prefix and removed
    dead = tmp_path / f"{sibling_prefix(LONG, 'tmp')}999999999"
    dead.write_text("")
    remove_dead_temporaries(tmp_path, sibling_prefix(LONG, "tmp"))
    assert not dead.exists()
    assert sibling(tmp_path / LONG, "tmp").name == f"{sibling_prefix(LONG, 'tmp')}{os.getpid()}"


def test_a_store_under_a_long_name_is_ingested(tmp_path):
    from encoderkit.data.ingest import ingest
    from encoderkit.data.store import RecordStore

    _fits(tmp_path)
    csv = tmp_path / "t.csv"
    pd.DataFrame({"a": np.arange(8.0), "b": list("xyxyxyxy")}).to_csv(csv, index=False)
    store = tmp_path / ("s" * 245 + ".zarr")
    ingest("tabular", [str(csv)], str(store), progress=False, verbose=False)
    assert len(RecordStore(str(store))) == 8
    ingest("tabular", [str(csv)], str(store), progress=False, verbose=False, overwrite=True)
    assert len(RecordStore(str(store))) == 8
