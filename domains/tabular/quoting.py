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

What a file's quoting shows is said of each column alone: R's ``write.table(quote=FALSE)``
and a sheet typed by hand leave an empty string (or a cell not filled in) empty in one
column and write ``NA`` for a missing cell in another, so an empty cell of one column says
nothing of how another writes its holes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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

    def holes_empty(self, column: int) -> bool:
        """Whether the column at position ``column`` reads as pandas writes a text column
        with holes: some cell written empty (``""`` is R's empty string, not counted), and
        most of its values written bare (R quotes every one)."""
        if column >= len(self.empty):
            return False
        return self.empty[column] > 0 and self.bare[column] > self.quoted[column]


def _patterns(delimiter: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """A row of cells separated by ``delimiter`` up to its line end, and one cell followed by
    the delimiter. A cell is quoted (``"`` ... ``"``, a quote inside doubled, line ends
    allowed) or bare (no delimiter or line end; it may hold a quote past its first
    character, as the csv module and pyarrow read it)."""
    d = re.escape(delimiter)
    cell = rf'"[^"]*(?:""[^"]*)*"|[^"{d}\r\n][^{d}\r\n]*|'
    row = re.compile(rf'(?:{cell})(?:{d}(?:{cell}))*(?=\r\n|\n|\r|\Z)')
    return row, re.compile(rf'({cell}){d}')


def split_rows(text: str, delimiter: str) -> list[list[str]]:
    """The rows of the delimited ``text``, each a list of its cells as written (a quoted cell
    keeps its quotes, so ``""`` is told from an empty cell). A row that is no sequence of
    well-formed cells (a quote left open) is left out: reading goes on at its next line."""
    row, cell = _patterns(delimiter)
    rows: list[list[str]] = []
    pos, end = 0, len(text)
    while pos < end:
        found = row.match(text, pos)
        if found is None:  # a malformed row: on to the next line
            nl = text.find("\n", pos)
            pos = end if nl < 0 else nl + 1
            continue
        # the row matched as a whole, so its cells, each followed by a delimiter, follow on
        rows.append(cell.findall(found.group() + delimiter))
        pos = found.end()
        pos += 2 if text.startswith("\r\n", pos) else 1
    return rows


def sample_quoting(sample: bytes, delimiter: str, columns: int, whole: bool) -> Quoting | None:
    """The ``Quoting`` of ``sample`` (the file's first bytes, header line first, no byte-order
    mark) of a table of ``columns`` columns separated by ``delimiter``; ``whole``: the sample
    is the whole file (else its cut last line is left out). None where no row was read.

    The cells are read as the file's reader reads them (a quoted cell may hold the delimiter
    or a line end), keeping the quotes they are written with; a row of another width than
    the header's is left out."""
    if not whole:
        sample = sample[:sample.rfind(b"\n") + 1]
    text = sample.decode("utf-8", errors="replace")  # a bad byte is the reader's to name
    rows = [r for r in split_rows(text, delimiter)[1:] if len(r) == columns]
    if not rows:
        return None
    words = set(NULL_WORDS) | {"", '""'}
    out = Quoting([0] * columns, [0] * columns, [0] * columns)
    for r in rows:
        for j, cell in enumerate(r):
            if cell == "":
                out.empty[j] += 1
            elif cell.strip() not in words:
                if cell.startswith('"'):
                    out.quoted[j] += 1
                else:
                    out.bare[j] += 1
    return out
