#!/usr/bin/env bash
# `make gpu-check`: run benchmarks/gpu_check.py with a CUDA build of torch, on a machine
# without network access if need be.
#
#   PY=python3 bash scripts/gpu_check.sh [gpu_check options]    (PY: a Python with CUDA torch)
#
# encoderkit needs a few packages that a stock CUDA image may lack (zarr, hydra-core, ...).
# When any is missing they are installed from wheels in .whl/ (made by `make gpu-wheels`
# on a machine with network, then copied or carried along) into a private folder that
# goes on PYTHONPATH: nothing is downloaded and the machine's own environment is untouched.
# Set EK_GPU_EXPECT=flash,xformers when those are installed (see benchmarks/gpu_check.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3}"
WHEELS="${EK_WHEELS:-.whl}"
SITE="${EK_SITE:-${TMPDIR:-/tmp}/encoderkit-gpu-site}"

missing() {
  "$PY" - <<'PYEOF'
import importlib.util
mods = ["torch", "numpy", "zarr", "numcodecs", "hydra", "omegaconf", "yaml", "einops", "sklearn",
        "safetensors", "tqdm", "matplotlib", "pandas", "pyarrow", "transformers", "pytest"]
print(" ".join(m for m in mods if importlib.util.find_spec(m) is None))
PYEOF
}

need="$(missing)"
if [ -n "$need" ] && compgen -G "$WHEELS/*.whl" >/dev/null; then
  echo "gpu-check: installing wheels from $WHEELS into $SITE (missing: $need)"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "$WHEELS"/*.whl
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
  need="$(missing)"
fi
if [ -n "$need" ]; then
  echo "gpu-check: CANNOT RUN: Python packages missing for $PY: $need." >&2
  echo "  With network: $PY -m pip install -e '.[dev]' (keeping the CUDA torch)." >&2
  echo "  Without: run 'make gpu-wheels' where pip works, bring .whl/ here, run again." >&2
  exit 2
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
exec "$PY" -m benchmarks.gpu_check "$@"
