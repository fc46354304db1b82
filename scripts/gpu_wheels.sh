#!/usr/bin/env bash
# `make gpu-wheels`: download into .whl/ (ignored by git) the wheels of encoderkit's
# dependencies that a stock CUDA image (torch, transformers, numpy, scikit-learn, einops,
# safetensors, pandas, ...) lacks, for the GPU machine's Python; scripts/gpu_check.sh
# installs them from there with --no-index. Versions: those the CPU suite is tested with.
#
#   GPU_PYVER=3.12 bash scripts/gpu_wheels.sh      (the GPU machine's Python, x86-64 Linux)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3}"
PYVER="${GPU_PYVER:-3.12}"
OUT="${EK_WHEELS:-.whl}"
mkdir -p "$OUT"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d "$OUT" \
  zarr==3.1.6 numcodecs==0.16.6 donfig==0.8.1.post1 google-crc32c==1.9.0 \
  hydra-core==1.3.8 omegaconf==2.3.1
# antlr4-python3-runtime 4.9.3 (hydra's parser) is published as a source archive only:
# build its pure-Python wheel here.
"$PY" -m pip wheel -q --no-deps -w "$OUT" antlr4-python3-runtime==4.9.3
ls -1 "$OUT"/*.whl
du -sh "$OUT"
