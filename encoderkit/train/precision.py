"""Whether this CPU computes bf16 natively, which is when ``run.precision=bf16`` pays on CPU.

With AVX512-BF16 or AMX, bf16 matmuls run several times faster than fp32 ones and a
CPU training step under bf16 autocast about 1.6x faster (benchmarks/RESULTS.md, "bf16
autocast on CPU"); without them bf16 is emulated through fp32 conversions, which is not
expected to be faster (not measured: no such CPU was at hand).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@cache
def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True when the CPU flags (Linux ``/proc/cpuinfo``) list AVX512-BF16 or AMX-BF16;
    False elsewhere, including where the flags cannot be read."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return any(f in flags for f in NATIVE_BF16_FLAGS)
    return False
