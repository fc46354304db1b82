"""bf16 autocast on CPU (``run.precision=bf16``): the matmuls run in bf16, the attention in fp32.

The CPU flash-attention kernel is slower in bf16 than in fp32, so ``SdpaBackend`` upcasts
under CPU autocast (benchmarks/RESULTS.md, "bf16 autocast on CPU").
"""

from __future__ import annotations


import torch

import testdomain as td
from encoderkit.core.attention import attend
from encoderkit.train import pretrain
from tests.core.test_attention import LENGTHS, packed, reference


def test_cpu_bf16_attention_runs_in_fp32():
    q, k, v, cu = packed(LENGTHS, 2, 32, seed=3, dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = attend(q, k, v, cu, max(LENGTHS), 24, backend="sdpa")
    assert out.dtype == torch.bfloat16
    # exactly the fp32 computation on the same (bf16) inputs, rounded once at the end
    fp32 = attend(q.float(), k.float(), v.float(), cu, max(LENGTHS), 24, backend="sdpa")
    assert torch.equal(out, fp32.to(torch.bfloat16))
    torch.testing.assert_close(out.double(), reference(q, k, v, cu, 24), atol=1e-2, rtol=1e-2)



def test_cpu_bf16_pretraining_tracks_fp32(tmp_path):
    store = td.write_store(tmp_path / "store.zarr", n=64)
    common = {"train.eval_every": 0, "train.checkpoint_every": 6}
    fp32 = td.train_losses(pretrain(td.tiny_overrides(store, str(tmp_path / "fp32"), steps=6, **common)))
    bf16 = td.train_losses(pretrain(td.tiny_overrides(store, str(tmp_path / "bf16"), steps=6,
                                              **{**common, "run.precision": "bf16"})))
    assert len(bf16) == len(fp32) == 6
    assert bf16 != fp32  # autocast is on: bf16 matmuls round differently
    torch.testing.assert_close(torch.tensor(bf16), torch.tensor(fp32), rtol=2e-2, atol=0)


def test_native_bf16_read_from_cpu_flags(tmp_path):
    from encoderkit.train.precision import cpu_has_native_bf16

    def flags(line: str) -> str:
        f = tmp_path / f"cpuinfo{abs(hash(line))}"
        f.write_text(f"processor\t: 0\nmodel name\t: x\n{line}\n\nprocessor\t: 1\n{line}\n")
        return str(f)

    assert cpu_has_native_bf16(flags("flags\t\t: fpu avx512f avx512_bf16 avx512_vnni"))
    assert cpu_has_native_bf16(flags("flags\t\t: fpu amx_bf16 amx_tile"))
    assert not cpu_has_native_bf16(flags("flags\t\t: fpu avx512f avx512bw"))  # AVX512 alone: emulated
    assert not cpu_has_native_bf16(str(tmp_path / "missing"))
