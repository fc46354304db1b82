"""`encoderkit <command> --help` imports no torch (s47d): the packages ``encoderkit.infer``,
``encoderkit.train`` and ``encoderkit.interop`` import their public names on first use
(PEP 562), and every public import path still gives what it gave before."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from encoderkit.cli import COMMANDS

# Commands whose help path still imports torch: none since s48 (the built-in domains import
# their torch modules where a model is built: `embedder()` / `head()`; TableLayout is numpy-only
# in domains/tabular/layout.py). Kept as the place to name one, with why, if it comes back.
STILL_TORCH: dict[str, str] = {}


def _fresh(code: str) -> list:
    """Run ``code`` in a fresh interpreter; the JSON list it prints last."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _help_case(command: str):
    marks = [pytest.mark.xfail(reason=STILL_TORCH[command], strict=True)] if command in STILL_TORCH else []
    return pytest.param(command, marks=marks, id=command)


@pytest.mark.parametrize("command", [_help_case(c) for c in COMMANDS])
def test_command_help_imports_no_torch(command):
    code, printed, torch_loaded = _fresh(
        "import contextlib, io, json, sys\n"
        "from encoderkit.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    code = main([{command!r}, '--help'])\n"
        "print(json.dumps([code, out.getvalue(), 'torch' in sys.modules]))")
    assert code == 0 and f"encoderkit {command}" in printed
    assert not torch_loaded, f"`encoderkit {command} --help` imported torch"


@pytest.mark.parametrize("package", ["encoderkit.infer", "encoderkit.train", "encoderkit.interop"])
def test_importing_the_package_imports_no_torch(package):
    assert _fresh(f"import json, sys, {package}\nprint(json.dumps(['torch' in sys.modules]))") == [False]


def test_public_names_are_what_their_modules_define():
    from encoderkit.infer.load import load as load_function
    from encoderkit.infer.pretrained import Pretrained as pretrained_class
    from encoderkit.interop import hf
    from encoderkit.train import optim, schedule

    import encoderkit.infer
    import encoderkit.interop
    import encoderkit.train
    from encoderkit.infer import Pretrained, embed, load
    from encoderkit.interop import config_from_hf, export_hf, init_from_hf
    from encoderkit.train import WSD, BatchWarmup, StableAdamW, param_groups, pretrain

    assert load is load_function and Pretrained is pretrained_class
    assert embed.__name__ == "encoderkit.infer.embed"  # a submodule, as before
    assert (export_hf, init_from_hf, config_from_hf) == (hf.export_hf, hf.init_from_hf, hf.config_from_hf)
    assert (StableAdamW, param_groups) == (optim.StableAdamW, optim.param_groups)
    assert (WSD, BatchWarmup) == (schedule.WSD, schedule.BatchWarmup)
    assert callable(pretrain)
    # the submodules the packages imported eagerly before are still their attributes
    assert encoderkit.train.optim is optim and encoderkit.interop.hf is hf
    assert encoderkit.infer.pretrained.Pretrained is pretrained_class
    for package in (encoderkit.infer, encoderkit.train, encoderkit.interop):
        assert set(package.__all__) <= set(dir(package))
        with pytest.raises(AttributeError, match="no_such_name"):
            package.no_such_name


@pytest.mark.parametrize("first", [
    "from encoderkit.infer.load import resolve_checkpoint",  # the submodule loaded first
    "import encoderkit.infer.cli",  # the package alone, as `encoderkit embed` imports it
])
@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_infer_load_stays_the_function_whatever_was_imported_first(first):
    """The submodule ``encoderkit.infer.load`` and the function share a name; loading the
    submodule binds it to the package's attribute, which must stay the function."""
    got = _fresh(f"{first}\nimport json, types\nimport encoderkit.infer\nfrom encoderkit.infer import load\n"
                 "from encoderkit.infer.load import load as f\n"
                 "print(json.dumps([isinstance(load, types.FunctionType), load is f, encoderkit.infer.load is f]))")
    assert got == [True, True, True]
