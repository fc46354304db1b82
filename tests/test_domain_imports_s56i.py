"""Each domain depends on encoderkit, not on another domain (DESIGN.md's layout), and
``encoderkit/data`` on no domain: the text forms of numbers (``encoderkit.data.textforms``)
and the dates Japanese, Chinese and Korean write (``encoderkit.data.cjk_dates``) are shared
from encoderkit. Before session 56 the series reader imported both from the table domain
(``domains.tabular.datetext.cjk_days``, ``domains.tabular.schema._number_advice``)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported(path: Path) -> list[str]:
    """The modules ``path`` imports anywhere (top level or inside a function)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


def test_no_domain_imports_another_domain() -> None:
    domains = sorted(p.name for p in (ROOT / "domains").iterdir() if (p / "__init__.py").exists())
    assert {"tabular", "timeseries"} <= set(domains)
    crossing = []
    for name in domains:
        for path in sorted((ROOT / "domains" / name).rglob("*.py")):
            crossing += [f"{path.relative_to(ROOT)}: {m}" for m in _imported(path)
                         if m.startswith("domains.") and m.split(".")[1] in set(domains) - {name}]
    assert crossing == []


def test_encoderkit_data_imports_no_domain() -> None:
    found = [f"{p.relative_to(ROOT)}: {m}" for p in sorted((ROOT / "encoderkit" / "data").rglob("*.py"))
             for m in _imported(p) if m == "domains" or m.startswith("domains.")]
    assert found == []


def test_series_text_parsing_loads_no_table_module() -> None:
    """At run time too: the series reader's CJK dates and its advice on numbers written for
    people (the two paths that imported the table domain) leave ``domains.tabular`` unloaded,
    with the same answers as before the move."""
    code = """
import sys
import pandas as pd
from domains.timeseries.marks import written_numbers_advice
from domains.timeseries.times import sort_key
key = sort_key(pd.Series(["2024年1月2日", "2024년 1월 3일", "2024年01月04日"]))
assert list(key.dt.day) == [2, 3, 4] and key.dt.tz is None, key
advice = written_numbers_advice(pd.Series(["1,234.5", "2,710.349"]))
assert advice is not None and "thousands" in advice, advice
loaded = sorted(m for m in sys.modules if m.startswith("domains.tabular"))
assert not loaded, loaded
"""
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
