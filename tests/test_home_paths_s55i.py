"""Writers given a path under ``~`` write under $HOME, as ``outputs.check_output`` checked it,
and leave no folder named ``~`` in the current one (session 55, review r's side finding:
impute's writer made ``./~``; its siblings wrote the whole file there)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def home(tmp_path, monkeypatch):
    """$HOME in tmp_path/home, the current folder tmp_path/cwd (expected to stay empty)."""
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir(), cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    yield home
    assert os.listdir(cwd) == []  # no folder named ~


def test_atomic_write_under_home(home):
    """The temporary file sits beside the expanded path (it was made in ./~, which had to exist)."""
    from encoderkit.outputs import atomic_write

    atomic_write("~/note.txt", lambda tmp: open(tmp, "w").write("hello"))
    assert (home / "note.txt").read_text() == "hello" and os.listdir(home) == ["note.txt"]


def test_embedding_writer_under_home(home):
    from encoderkit.infer.embed import EmbeddingWriter

    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    w = EmbeddingWriter("~/e.npy", 2, 3, "mean")
    for rid, v in zip(["a", "b"], vectors):
        w.add(rid, v)
    w.close()
    np.testing.assert_array_equal(np.load(home / "e.npy"), vectors)
    assert list(np.load(home / "e.ids.npy")) == ["a", "b"]


def test_predictions_file_under_home(home):
    from encoderkit.tasks.prediction_output import write_frame

    frame = pd.DataFrame({"id": ["a", "b"], "prediction": [0.5, 1.5]})
    write_frame(frame, "~/sub/p.csv")
    pd.testing.assert_frame_equal(pd.read_csv(home / "sub" / "p.csv"), frame)
