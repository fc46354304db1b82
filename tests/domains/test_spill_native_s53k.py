"""A large table's spill reads nothing of Python's on pyarrow's threads (session 53, helper L2).

pyarrow's streaming CSV reader (``open_csv``, which ``spill.spill_text`` uses for a table too
large to read whole) reads ahead on its I/O threads, on one thread as on several. A .xz or
.zip table reached it as a stream of Python's (``lzma``, ``zipfile``), read there under the
interpreter's lock: a read that failed and an interpreter that exited while that thread still
read ended in SIGABRT (exit 134; 8 of 8 runs of such a read and exit on this machine). The
text is now copied by the calling thread into a zstd file pyarrow reads itself.

References: the cells the plain file spills (the same rows, bytes for bytes), and the type
of every source the reader was given.
"""

from __future__ import annotations

import bz2
import lzma
import zipfile

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from domains.tabular import spill
from domains.tabular.reading import text_plan
from encoderkit.errors import DataError

ROWS = [f"{i * 0.37:.3f},{i % 7},x{i % 3}" for i in range(3000)] + ['"a,b",2,"line\nend"', "1,2,3,4", "5,6,7"]


@pytest.fixture
def sources(monkeypatch) -> list[object]:
    """Every source ``open_csv`` is given."""
    seen: list[object] = []
    real = pacsv.open_csv

    def spy(source, *args, **kwargs):
        seen.append(source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(pacsv, "open_csv", spy)
    monkeypatch.setattr(spill, "BLOCK_BYTES", 1 << 12)  # many blocks
    return seen


def _write(folder, name: str, text: bytes) -> str:
    path = folder / name
    if name.endswith(".xz"):
        path.write_bytes(lzma.compress(text))
    elif name.endswith(".bz2"):
        path.write_bytes(bz2.compress(text))
    elif name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as z:
            z.writestr(name[:-4], text)
    else:
        path.write_bytes(text)
    return str(path)


def _spilled(path: str, folder) -> tuple[list[str], list[list[bytes]], list[int]]:
    folder.mkdir()
    raw = spill.spill_text(path, text_plan(path, None, "auto"), str(folder))
    cells = [[c for chunk in raw.raw(j) for c in chunk.to_pylist()] for j in range(len(raw.names))]
    assert sorted(p.name for p in folder.iterdir()) == ["cells.parquet"]  # the copy removed once read
    return raw.names, cells, raw.rows.bad


@pytest.mark.parametrize("name", ["t.csv.xz", "t.csv.zip", "t.csv.bz2"])
def test_a_spill_gives_pyarrow_only_its_own_streams_and_the_plain_files_cells(tmp_path, sources, name):
    text = ("a,b,c\n" + "\n".join(ROWS) + "\n").encode()
    want = _spilled(_write(tmp_path, "plain.csv", text), tmp_path / "plain")
    sources.clear()
    got = _spilled(_write(tmp_path, name, text), tmp_path / "packed")
    assert got == want
    assert want[2] == [3003]  # the ragged row skipped, by its line, as from the plain file
    assert sources and all(isinstance(s, pa.NativeFile) for s in sources), sources


def test_an_error_inside_an_xz_spill_is_the_plain_files_error(tmp_path, sources):
    text = ("a,b,c\n" + "\n".join(ROWS[:2000]) + "\n1,2," + "y" * 20000 + "\n" + "\n".join(ROWS[:500]) + "\n").encode()
    errors = []
    for name in ("plain.csv", "t.csv.xz"):
        path = _write(tmp_path, name, text)
        (tmp_path / name).with_suffix(".d").mkdir()
        with pytest.raises(DataError) as e:
            spill.spill_text(path, text_plan(path, None, "auto"), str((tmp_path / name).with_suffix(".d")))
        errors.append(str(e.value).replace(path, "<file>"))
    assert errors[0] == errors[1] and "straddling object" in errors[0]
    assert all(isinstance(s, pa.NativeFile) for s in sources), sources
