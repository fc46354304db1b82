"""metrics.jsonl lines as strict JSON.

``json.dumps`` writes a NaN / infinite float as the bare words ``NaN`` / ``Infinity``, which
are not JSON: JavaScript's ``JSON.parse``, Go, and every strict parser refuse the whole line
(a validation split of one class logs ``val_auroc`` NaN). Such a value is written as
``null`` and read back as NaN, so the run's own readers (resume, summary, plot) see what was
logged while any other tool can read the file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def _strict(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def metrics_line(record: dict[str, Any]) -> str:
    """One line of metrics.jsonl (a newline at its end), non-finite numbers as ``null``."""
    return json.dumps(_strict(record), allow_nan=False) + "\n"


def parse_metrics_line(line: str) -> dict[str, Any]:
    """A metrics.jsonl line back as logged: ``null`` (a non-finite number, see above) is NaN;
    a line with a bare ``NaN`` (written before this module) reads as it did."""
    record = json.loads(line)
    return {k: float("nan") if v is None else v for k, v in record.items()}


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Every whole line of a metrics.jsonl (a line cut by a crash is skipped)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(parse_metrics_line(line))
        except (json.JSONDecodeError, AttributeError):  # a cut line; a line that is not an object
            continue
    return out
