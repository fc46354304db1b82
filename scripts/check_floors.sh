#!/usr/bin/env bash
# `make test-floors`: the default test suite with every dependency at the lowest version
# pyproject.toml declares (`name>=X` in [project] dependencies installed as `name==X`), in a
# venv of its own, against a copy of this checkout (tracked and untracked, not ignored, files:
# the repository's own egg-info and .venv stay untouched). Needs PyPI; not part of .ci/run.
# A new `>=` floor in pyproject.toml is picked up here with no list to keep in step.
#
#   bash scripts/check_floors.sh              (FLOORS_DIR=/tmp/encoderkit-floors, kept for reruns)
#   bash scripts/check_floors.sh tests/x.py   (pytest arguments instead of the whole suite)
#   bash scripts/check_floors.sh --pins       (only print the pins it would install)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3.11}"
# torch: the CPU build installs from local disk; its floor (>=2.7) needs a CUDA-free source
TORCH="${TORCH:-torch==2.13.0}"
DIR="${FLOORS_DIR:-${TMPDIR:-/tmp}/encoderkit-floors}"
VENV="$DIR/venv" TREE="$DIR/tree"
mkdir -p "$DIR"

# "name==X" for each "name>=X" of [project] dependencies (torch left to $TORCH), and the dev
# extra less s3fs and moto (s3fs pins fsspec to its own release; with moto's boto3 pins, pip
# backtracked for over 5 minutes under the floors): tests/data/test_s3.py skips.
"$PY" - "$DIR" <<'EOF'
import re, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
floors, dev = [], []
for req in project["dependencies"]:
    m = re.fullmatch(r"\s*([A-Za-z0-9_.\-\[\]]+)\s*>=\s*([^,;\s]+)\s*", req)
    if m is None:
        sys.exit(f"pyproject.toml: dependency {req!r} has no plain '>=' floor to test")
    if m.group(1) != "torch":
        floors.append(f"{m.group(1)}=={m.group(2)}")
for req in project["optional-dependencies"]["dev"]:
    if re.match(r"\s*(s3fs|moto)\b", req) is None:
        dev.append(req)
open(f"{sys.argv[1]}/floors.txt", "w").write("\n".join(floors) + "\n")
open(f"{sys.argv[1]}/dev.txt", "w").write("\n".join(dev) + "\n")
EOF
echo "floors: $(tr '\n' ' ' < "$DIR/floors.txt")"
if [ "${1:-}" = "--pins" ]; then
  echo "dev: $(tr '\n' ' ' < "$DIR/dev.txt")"
  exit 0
fi

test -x "$VENV/bin/python" || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q)
"${PIP[@]}" --upgrade pip
"${PIP[@]}" "$TORCH"
"${PIP[@]}" -r "$DIR/floors.txt" "$TORCH"
# Dev tools one at a time, each held to the floors (-c): one with no release that fits them
# (transformers wants safetensors>=0.4.1) is left out and named; its tests skip or fail.
while read -r req; do
  timeout 600 "${PIP[@]}" -c "$DIR/floors.txt" "$req" "$TORCH" </dev/null \
    || echo "check_floors: $req left out: no release fits the floors" >&2
done < "$DIR/dev.txt"
"$VENV/bin/python" -m pip check || true  # shows which installed tools want more than a floor

rm -rf "$TREE" && mkdir -p "$TREE"
# files deleted but not yet committed are left out (tar would stop at them)
git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do
  if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
done | tar --null -T - -cf - | tar -xf - -C "$TREE"
"$VENV/bin/python" -m pip install -q --no-deps -e "$TREE"
"$VENV/bin/python" -m pip list 2>/dev/null | grep -iE "^($(sed 's/==.*//' "$DIR/floors.txt" | paste -sd'|')|torch) " || true

cd "$TREE"
start=$(date +%s)
rc=0
OMP_NUM_THREADS=1 "$VENV/bin/python" -m pytest -q -n 2 --dist loadfile -rfE "${@:-tests}" || rc=$?
echo "floor suite: exit $rc in $(( $(date +%s) - start )) s (venv $VENV)"
exit "$rc"
