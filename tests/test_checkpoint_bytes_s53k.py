"""A checkpoint read by its name's bytes holds the file once (session 53, helper L2).

A safetensors file whose name is not UTF-8 (``lauf_\\xfc`` under ISO-8859-1) cannot be opened
by safetensors by name; ``checkpoint_safetensors.load_tensors`` read its bytes and deserialised
them (``safetensors.torch.load``), holding the file twice: a 200 MB checkpoint raised the peak
resident memory by 393 MB, one so named by UTF-8 by 201 MB. It now opens the file by its bytes
and hands safetensors the descriptor's ASCII name (``/proc/self/fd/<n>``).

References: the tensors saved (bit for bit), the file on disk after the loaded tensors are
updated in place, and the peak memory of a child process against the file's size.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from encoderkit.train.checkpoint_safetensors import load_tensors, utf8_name

# ~48 MB: the second copy (48 MB more) stands well above the allocator's noise
SHAPES = {"a": (3_000_000,), "b": (2_000, 3_000), "c": (0, 4)}


def _named(tmp_path) -> str:
    folder = os.fsdecode(os.fsencode(tmp_path) + b"/lauf_\xfc")
    os.makedirs(folder)
    return os.path.join(folder, "model.safetensors")


def test_tensors_read_by_the_names_bytes_are_the_saved_ones_and_writable_in_memory_only(tmp_path):
    path = _named(tmp_path)
    assert not utf8_name(path)
    torch.manual_seed(0)
    saved = {k: torch.randn(s) for k, s in SHAPES.items()}
    saved["h"] = torch.randn(7, 5).to(torch.bfloat16)
    save_file(saved, path)
    got = load_tensors(path)
    assert got.keys() == saved.keys()
    for k, t in saved.items():
        assert got[k].dtype == t.dtype and got[k].shape == t.shape and torch.equal(got[k], t), k
    got["a"].add_(1.0)  # an optimizer's state is updated in place: in memory, not in the file
    os.symlink(os.path.dirname(path), tmp_path / "ascii")
    assert torch.equal(load_file(str(tmp_path / "ascii" / "model.safetensors"))["a"], saved["a"])


PEAK = """
import os, sys
from encoderkit.train.checkpoint_safetensors import load_tensors

def status(key):
    line = next(x for x in open("/proc/self/status") if x.startswith(key + ":"))
    return int(line.split()[1]) * 1024

path = os.fsdecode(sys.argv[1].encode("latin-1"))
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak (VmHWM) restarts from the memory held now
tensors = load_tensors(path)
total = sum(float(t.sum()) for t in tensors.values())  # every page read
print(status("VmHWM") - before)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="peak memory read from Linux's /proc")
def test_a_checkpoint_read_by_the_names_bytes_is_held_once(tmp_path):
    path = _named(tmp_path)
    save_file({k: torch.ones(s) for k, s in SHAPES.items()}, path)
    size = os.path.getsize(path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    name = os.fsencode(path).decode("latin-1")
    out = subprocess.run([sys.executable, "-c", PEAK, name], capture_output=True, text=True, env=env, check=True)
    grown = int(out.stdout.split()[-1])
    assert grown < 1.4 * size, (grown, size)  # the file once (twice: ~2x)
