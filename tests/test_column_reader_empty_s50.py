"""A large table read a column at a time says which of the model's columns hold no value,
as the whole-file reader says it (session 50). ``records_by_column`` passed ``_check_columns``
a frame of column names and no rows, so an all-empty column of a large file went unsaid while
the same file read whole warned of it. Reference: the warnings of the whole-file path."""

from __future__ import annotations

import pytest

from tests.test_big_tables_s47b import domain, said, same_records  # noqa: F401  (fixture)


def empty_grade_text(rows: int) -> str:
    lines = ["grade,x,region,n"]
    for i in range(rows):
        lines.append(f",{i * 0.5:.2f},{['NA', 'EU', 'AS'][i % 3]},{i % 11}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("rows", [40, 1])
def test_an_empty_column_is_said_alike_read_whole_and_by_column(domain, tmp_path, monkeypatch, rows):  # noqa: F811
    from domains.tabular import columnrecords, streaming

    path = tmp_path / "new.csv"
    path.write_text(empty_grade_text(rows))
    whole, whole_said = said(lambda: domain.to_records(domain.read_input(str(path)), source=str(path)))
    empty_said = [m for m in whole_said if "hold no value" in m]
    if rows >= 2:
        assert len(empty_said) == 1 and "'grade'" in empty_said[0] and f"{rows} rows" in empty_said[0]
    else:  # one row's empty cell is a missing value, not an empty column
        assert empty_said == []

    by_column = []
    made = columnrecords.records_by_column
    monkeypatch.setattr(streaming, "STREAM_BYTES", 16)  # this file is "large"
    monkeypatch.setattr("domains.tabular.domain.records_by_column",
                        lambda *a: by_column.append(1) or made(*a))
    records, records_said = said(lambda: domain.read_records(str(path)))
    assert by_column == [1]
    same_records(records, whole)
    assert records_said == whole_said
