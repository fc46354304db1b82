"""The words pyarrow reads as a missing cell (``NA``, ``N/A``, ``null``, ``NULL``, ``nan``,
``#N/A``, ...) in the text columns of a table file: missing, or a value.

Why: in a column of numbers such a word is a hole (R and pandas exports write ``NA``), but in
a column of text it may be a value: ``NA`` is North America, Namibia's ISO code, "not
applicable". Read as missing, a category ``NA`` was overwritten by ``impute`` ("region 19
filled"), replaced by ``infill`` and dropped as a class by ``task.label_column``, without a
word. The rule, column by column for the text columns only (a number column's words stay
missing):

- a word given in the ingest option ``keep_words`` is a value; one given in ``missing_value``
  is missing;
- otherwise ``NA``, ``N/A`` and ``n/a`` (``VALUE_WORDS``, words that are codes or answers) are
  values when the file shows how it writes a missing cell and that is not the word, and no
  column of numbers (any column not read as text) holds any such word (R's ``write.csv``
  writes ``NA`` there, so its ``NA`` stays missing). It shows it by some cell of a column of
  numbers that is empty (or ``?`` / blank: pandas' ``to_csv`` writes a missing number so),
  or, where they show nothing, by the quoting of the column that holds the word
  (``quoting.py``): some of its own holes written empty and most of its text bare (pandas
  quotes a cell only when it must). An empty cell of another text column is no evidence:
  R's ``write.table(quote=FALSE)`` and a sheet typed by hand leave an empty string (or a
  cell not filled in) empty there and write ``NA`` for a missing cell here. R writes an
  empty string ``""`` and every text quoted, readr writes ``""`` and a missing cell ``NA``:
  neither shows a bare empty text cell, so their ``NA`` stays missing; so does that of a
  file that shows nothing (no hole but the words; only the file's first
  ``reading.HEAD_BYTES`` are looked at for quoting). ``null`` / ``NULL`` /
  ``nan`` / ``NaN`` and the ``#N/A`` family stay missing: they are what a hole becomes when
  serialised (SQL, JSON, ``astype(str)``, Excel errors), rarely a value;
- every other such word is missing.

Each column is said: "19 cell(s) 'NA' read as missing ... keep_words=[NA] keeps them as a
value", or "kept as a value ... missing_value=NA reads them as missing". The words kept are
recorded in the schema's ingest options (``keep_words``), so a run reads new files the same
way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from encoderkit.overrides import option_word

if TYPE_CHECKING:
    from domains.tabular.quoting import Quoting

# pyarrow's default missing-value words (``ConvertOptions().null_values`` less the empty cell)
NULL_WORDS = ("#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
              "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null")
# the words kept as a value on the file's evidence alone (module docstring)
VALUE_WORDS = frozenset({"NA", "N/A", "n/a"})


@dataclass
class ColumnWords:
    """What one column's missing cells were, as written: ``words`` (word -> cells), and
    ``empty`` (cells empty, blank or ``?``); ``text`` whether the column was read as text."""
    name: str
    text: bool
    words: dict[str, int] = field(default_factory=dict)
    empty: int = 0


def is_text(typ: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(typ) or pa.types.is_large_string(typ))


def column_words(name: str, typed: Any, raw: Any) -> ColumnWords:
    """``ColumnWords`` of a column read as ``typed`` (a ChunkedArray) whose cells as written
    are the strings ``raw`` (no missing cell: pyarrow with ``strings_can_be_null=False``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    found = ColumnWords(name, is_text(typed.type))
    if not typed.null_count:
        return found
    cells = pc.filter(raw, pc.is_null(typed))
    hit = pc.is_in(cells, value_set=pa.array(NULL_WORDS))
    words = pc.filter(cells, hit)
    found.words = {str(d["values"]): int(d["counts"]) for d in pc.value_counts(words).to_pylist()}
    found.empty = len(cells) - len(words)
    return found


def listed(value: Any) -> list[str]:
    """An option's words as a list of text (``missing_value`` may be one value or a list)."""
    if value is None:
        return []
    values = list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig" else [value]
    return [str(v).strip() for v in values]


@dataclass
class Decision:
    """Which words each text column keeps as values (by position), what to say, and every
    word kept anywhere (recorded as ``keep_words``). ``kept_said``: the messages (also in
    ``messages``) of the words kept on the file's evidence; a later read of the file sees
    them recorded and says nothing, so ingest warns them (``impute`` prints only warnings)."""
    kept: dict[int, list[str]] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    kept_said: list[str] = field(default_factory=list)


def decide(columns: Mapping[int, ColumnWords], keep_words: Any, missing_value: Any,
           quoting: Callable[[], Quoting | None] | None = None) -> Decision:
    """The rule of the module docstring over the columns surveyed (``column_words``, keyed by
    their position in the header). ``quoting``: how the file quotes its cells
    (``quoting.sample_quoting``), asked only when the columns of numbers show nothing, and
    read for each column that holds such a word alone."""
    keep, missing = set(listed(keep_words)), set(listed(missing_value))
    numbers = [c for c in columns.values() if not c.text]
    clean = not any(c.words for c in numbers)
    # the columns whose words are values: every text column where the numbers show it
    evidence = {j for j, c in columns.items() if c.text} if clean and any(c.empty for c in numbers) else set()
    why = "the file's columns of numbers leave their missing cells empty and hold no such word"
    asked = [j for j, c in columns.items() if c.text and any(w in VALUE_WORDS and w not in keep | missing
                                                             for w in c.words)]
    if not evidence and asked and quoting is not None and clean:
        written = quoting()
        # each column by its own cells: an empty cell elsewhere may be an empty string
        evidence = {j for j in asked if written is not None and written.holes_empty(j)}
        why = ("the column leaves its own missing cells empty and writes its text unquoted, as pandas' "
               "to_csv does, and the file's columns of numbers hold no such word")
    out = Decision()
    for j, col in columns.items():
        if not col.text:
            continue
        for word, count in sorted(col.words.items()):
            if word in keep:
                out.kept.setdefault(j, []).append(word)
            elif word in missing:  # given as missing_value: nothing to say
                continue
            elif word in VALUE_WORDS and j in evidence:
                out.kept.setdefault(j, []).append(word)
                out.kept_said.append(
                    f"column {col.name!r}: {count} cell(s) {word!r} kept as a value ({why}); "
                    f"{option_word('missing_value', word)} reads them as missing")
                out.messages.append(out.kept_said[-1])
            else:
                out.messages.append(
                    f"column {col.name!r}: {count} cell(s) {word!r} read as missing (a word that "
                    f"stands for a missing cell); {option_word('keep_words', [word])} keeps them as a value")
    out.words = sorted({w for ws in out.kept.values() for w in ws})
    return out


def restored(typed: Any, raw: Any, words: Sequence[str]) -> Any:
    """The column ``typed`` with its missing cells that were one of ``words`` (as written in
    ``raw``) back as that text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    back = pc.and_(pc.is_null(typed), pc.is_in(raw, value_set=pa.array(list(words))))
    return pc.if_else(back, raw.cast(typed.type), typed)


def check_keep_words(value: Any, missing_value: Any) -> list[str]:
    """The ingest option ``keep_words`` as a list of words: each one of ``NULL_WORDS`` (any
    other word is read as written already), none also given as ``missing_value``."""
    words = listed(value)
    if value is not None and not isinstance(value, (list, tuple, str)) and \
            type(value).__name__ != "ListConfig":
        raise ValueError(f"The 'keep_words' option must be a list of words (such as [NA]). "
                         f"Got {value!r} instead.")
    odd = [w for w in words if w not in NULL_WORDS]
    if odd:
        raise ValueError(f"The 'keep_words' option names {odd}, which are read as values already; "
                         f"it takes words read as a missing cell: {list(NULL_WORDS)}")
    both = sorted(set(words) & set(listed(missing_value)))
    if both:
        raise ValueError(f"The options 'keep_words' and 'missing_value' both name {both}: a word is "
                         f"either a value or a missing cell")
    return sorted(set(words))
