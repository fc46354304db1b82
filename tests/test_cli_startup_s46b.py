"""`encoderkit --help` / `--version` import neither torch nor numpy nor pandas (the package's
names are imported on first use, PEP 562), and the package's public names still import."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "numpy", "pandas")


def _modules_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; the heavy modules it imported and what it printed."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    *printed, heavy = done.stdout.strip().splitlines()
    return {"heavy": json.loads(heavy), "printed": printed}


def test_help_and_version_import_no_torch_numpy_or_pandas():
    got = _modules_after(
        "import contextlib, io\n"
        "from encoderkit.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    codes = [main(['--help']), main(['--version'])]\n"
        "print(codes, 'commands:' in out.getvalue(), out.getvalue().splitlines()[-1])")
    assert got["heavy"] == []
    assert got["printed"] == ["[0, 0] True encoderkit 0.1.0"]


def test_importing_the_package_imports_no_torch():
    assert _modules_after("import encoderkit\nprint(encoderkit.__version__)") == {
        "heavy": [], "printed": ["0.1.0"]}


def test_public_names_import_as_before():
    from encoderkit.batch import PackedBatch as batch_class
    from encoderkit.domain import Domain as domain_class
    from encoderkit.domain import Example, HeadOutput, MaskedExample

    import encoderkit
    from encoderkit import Domain, PackedBatch, load

    assert PackedBatch is batch_class and Domain is domain_class
    assert (encoderkit.Example, encoderkit.HeadOutput, encoderkit.MaskedExample) == (
        Example, HeadOutput, MaskedExample)
    assert callable(load) and set(encoderkit.__all__) <= set(dir(encoderkit))
    assert encoderkit.batch.PackedBatch is batch_class  # the submodules imported eagerly before
    try:
        encoderkit.no_such_name
    except AttributeError as e:
        assert "no_such_name" in str(e)
    else:
        raise AssertionError("an unknown attribute of the package must raise AttributeError")
