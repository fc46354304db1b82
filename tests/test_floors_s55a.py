"""The declared dependency floors are versions the suite was seen to pass at
(``scripts/check_floors.sh``, ``make test-floors``): below them the code fails, and the
script installs exactly the floors pyproject.toml declares."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _floors() -> dict[str, tuple[int, ...]]:
    out = {}
    for req in PROJECT["dependencies"]:
        name, _, floor = req.partition(">=")
        out[name.strip().lower()] = tuple(int(x) for x in floor.strip().split("."))
    return out


def test_floors_are_the_versions_the_code_needs():
    floors = _floors()
    # sklearn.utils.validation.validate_data and __sklearn_tags__ (EncoderImputer): 1.6;
    # at 1.4 / 1.5 `import encoderkit.sklearn` is an ImportError
    assert floors["scikit-learn"] >= (1, 6)
    # pandas 2.1 / 2.2: to_datetime of times in several zones gives objects (a TypeError
    # sorting a series CSV), an Arrow column with NA refuses to_numpy (impute of a series CSV)
    assert floors["pandas"] >= (3, 0)
    # pyarrow 15: a CSV naming a column twice failed in to_pandas ("Found non-unique column
    # index"); 16-17: a file whose name is not UTF-8 read its text as object; 18-19: other words;
    # 20: a float16 column built from numpy is refused ("Expected np.float16 instance")
    assert floors["pyarrow"] >= (21,)
    # scipy 1.10: an all-missing row filled alone differed by 1 ulp from the same row in a batch
    assert floors["scipy"] >= (1, 11, 1)
    # zarr opens memory:// (synchronous filesystems) through fsspec's AsyncFileSystemWrapper
    assert floors["fsspec"] >= (2024, 12)
    # zarr 3.0.8 warned on every tabular pretrain / embed ("vlen-utf8 ... not part of the Zarr
    # format 3 specification"); up to 3.1.3 every command printed numcodecs' crc32c notice
    assert floors["zarr"] >= (3, 1, 4)
    assert floors["safetensors"] >= (0, 4, 1)  # transformers (dev) needs 0.4.1


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_check_floors_pins_each_declared_floor_exactly(tmp_path):
    env = dict(os.environ, FLOORS_DIR=str(tmp_path), PY=sys.executable)
    done = subprocess.run(["bash", str(ROOT / "scripts" / "check_floors.sh"), "--pins"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    pins = (tmp_path / "floors.txt").read_text().split()
    expected = sorted(f"{name}=={'.'.join(map(str, v))}" for name, v in _floors().items() if name != "torch")
    assert sorted(pins) == expected  # torch comes from $TORCH (a CPU build), not PyPI's default
    dev = (tmp_path / "dev.txt").read_text().split()
    assert "pytest>=8" in dev and not any(d.startswith(("s3fs", "moto")) for d in dev)
