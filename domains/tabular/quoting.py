"""How a text table quotes its cells, read from the start of the file the reader sniffs
(``reading.Head.sample``): the one thing that tells pandas' ``to_csv`` from R's
``write.csv`` where their cells' text agrees (``words.py``).

R's ``write.csv`` quotes every text cell (an empty string as ``""``) and writes a missing
one ``NA``, bare. pandas' ``to_csv`` (as data.table's ``fwrite`` and a spreadsheet) quotes a
cell only when it must (it holds the delimiter, a quote or a line end) and leaves a missing
one empty: there a bare ``NA`` is the text ``NA``. readr's ``write_csv`` quotes only when it
must too, but writes a missing cell ``NA`` and an empty string ``""``. pyarrow reads ``""``, an
empty cell and ``NA`` all as missing, so the parsed table cannot tell them apart; the cells
as written can.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Sequence

from domains.tabular.words import NULL_WORDS


@dataclass
class Quoting:
    """What the sampled rows hold, per column position (the header's order): ``empty``
    cells with nothing between their delimiters (a hole written empty, not ``""``), and the
    text cells that hold a value (neither empty nor a missing-value word) written ``bare`` or
    ``quoted``."""
    empty: list[int]
    bare: list[int]
    quoted: list[int]

    def holes_empty(self, text: Sequence[int]) -> bool:
        """Whether the text columns ``text`` (positions) read as pandas writes them: some hole
        written empty, and most values written bare (R quotes every one)."""
        def total(counts: list[int]) -> int:
            return sum(counts[j] for j in text if j < len(counts))
        return total(self.empty) > 0 and total(self.bare) > total(self.quoted)


def sample_quoting(sample: bytes, delimiter: str, columns: int, whole: bool) -> Quoting | None:
    """The ``Quoting`` of ``sample`` (the file's first bytes, header line first, no byte-order
    mark) of a table of ``columns`` columns separated by ``delimiter``; ``whole``: the sample
    is the whole file (else its cut last line is left out). None where nothing could be read.

    The rows are split with quotes read as characters, so a cell keeps the quotes it is
    written with; a row whose quoted cell holds the delimiter or a line end splits into the
    wrong number of cells and is left out (the others show how the file writes its cells)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    if not whole:
        sample = sample[:sample.rfind(b"\n") + 1]
    names = [f"c{j}" for j in range(columns)]
    text = sample.decode("utf-8", errors="replace").encode("utf-8")  # a bad byte is the reader's to name
    try:
        table = pacsv.read_csv(
            io.BytesIO(text), read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False,
                                             invalid_row_handler=lambda row: "skip"),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False))
    except (pa.ArrowInvalid, ValueError):  # no row, or none of the header's width
        return None
    words = pa.array(list(NULL_WORDS) + [""])
    out = Quoting([], [], [])
    for j in range(columns):
        cells = table.column(j)
        quoted = pc.starts_with(cells, '"')
        value = pc.invert(pc.or_(pc.is_in(pc.utf8_trim_whitespace(cells), value_set=words),
                                 pc.is_in(cells, value_set=pa.array(['""']))))
        out.empty.append(int(pc.sum(pc.equal(cells, "")).as_py() or 0))
        out.bare.append(int(pc.sum(pc.and_(value, pc.invert(quoted))).as_py() or 0))
        out.quoted.append(int(pc.sum(pc.and_(value, quoted)).as_py() or 0))
    return out
