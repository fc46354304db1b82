"""What the start of a text table says before it is parsed (``Head``): its first line and
line end, a byte-order mark, the columns of codes (digits led by a zero, hexadecimal) that must
stay text, and a sample of how its cells are quoted. Read by ``reading.text_plan``; the names
are importable from ``reading`` as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from encoderkit.data.textfiles import compression, open_text
from encoderkit.errors import DataError

from domains.tabular.compressed import open_stream
from domains.tabular.numcodes import collapsing

# how much of a file's start ``_head`` reads: its first line, line end, and codes
HEAD_BYTES = 1 << 20


@dataclass
class Head:
    first: str = ""  # the first line, without its end
    newline: str = "\n"  # the first line's end
    bom: bool = False  # whether the file starts with a UTF-8 byte-order mark
    codes: list[str] = field(default_factory=list)  # columns with digits led by a zero (02139), hex (0x1F)
    hex: list[str] = field(default_factory=list)  # those of ``codes`` held to be codes by their hex cells alone
    # the first HEAD_BYTES as written (no byte-order mark), whether that is the whole file:
    # how its cells are quoted tells pandas' output from R's (quoting.py, words.py)
    sample: bytes = field(default=b"", repr=False)
    whole: bool = False


def _head(path: str, delimiter: str) -> Head:
    """What the start of a text table says (``Head``); empty where it cannot be read here
    (the reader says what is wrong with the file). ``codes``: the columns whose cells in the
    first ``HEAD_BYTES`` include digits led by a zero (zip codes 02139, FIPS 01001): read as
    numbers they lost the zero, and a fill was written 2139; or hexadecimal codes (``0x1F``),
    which pyarrow reads as the integer 31: observed cells went back as written, fills in
    decimal (``22``, read back as the code 0x22)."""
    import csv
    import io

    try:
        method = compression(path)  # a .zip's member read as it is decompressed, not whole
        # .zst by pyarrow's decoder, as its CSV reader reads it (pandas would need zstandard)
        fh = open_stream(path, method) if method in ("zip", "zstd") else open_text(path, binary=True)
        if fh is None:  # .tar: a pandas-only compression
            return Head()
        with fh:
            raw = fh.read(HEAD_BYTES)
    except (OSError, ValueError, DataError):
        return Head()
    line = raw.split(b"\n", 1)[0]
    bom = raw.startswith(b"\xef\xbb\xbf")
    text = raw[3 if bom else 0:].decode("utf-8", errors="replace")
    head = Head(text.split("\n", 1)[0].rstrip("\r"), "\r\n" if line.endswith(b"\r") else "\n", bom,
                sample=raw[3 if bom else 0:], whole=len(raw) < HEAD_BYTES)
    if len(raw) == HEAD_BYTES:  # a cut last line is no row
        text = text[:text.rfind("\n") + 1]
    if not re.search(rf"(?:^|[{re.escape(delimiter)}\"])\s*[-+]?0[\dxX]", text, re.MULTILINE) and \
            not re.search(r"\d\.\d*0\b", text):  # nor a decimal ending in 0 (3.10: numcodes.py)
        return head  # no cell starts with a zero and a digit: nothing to parse the head for
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error:
        return head
    if not rows:
        return head
    names = rows[0]
    led, hexed = set(), set()
    whole = [row for row in rows[1:] if len(row) == len(names)]
    for row in whole:
        led.update(j for j, cell in enumerate(row) if _LEADING_ZERO.fullmatch(cell.strip()))
        hexed.update(j for j, cell in enumerate(row) if _HEX.fullmatch(cell.strip()))
    for j in range(len(names)):  # 3.1 beside 3.10: codes, not one number (numcodes.py)
        if j not in led and collapsing(row[j] for row in whole) is not None:
            led.add(j)
    head.codes = [names[j] for j in sorted(led | hexed) if names[j].strip()]
    head.hex = [names[j] for j in sorted(hexed - led) if names[j].strip()]
    return head


_LEADING_ZERO = re.compile(r"0\d+")
_HEX = re.compile(r"[-+]?0[xX][0-9a-fA-F]+")  # what pyarrow reads as an integer (0x1F: 31)
