# Every target does its own set-up: a fresh clone needs only `make demo` or `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Pinned torch: the CPU build installs from local disk; an unpinned torch pulls a multi-GB CUDA build.
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-slow test-floors bench clean gpu-check gpu-wheels

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]" "$(TORCH)"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m domains.genomic.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m slow tests

# The default suite with each dependency at its declared floor (`>=X` in pyproject.toml), in a
# venv of its own (FLOORS_DIR, default /tmp/encoderkit-floors). Needs PyPI; not part of .ci/run.
test-floors:
	PY="$(PY)" TORCH="$(TORCH)" bash scripts/check_floors.sh

bench: $(STAMP)
	$(BIN)/python -m benchmarks.core_throughput

# On a CUDA machine, with its own Python (a CUDA torch; not .venv's CPU build). Under 8 min;
# appends a section to benchmarks/RESULTS.md; non-zero exit when anything failed or is missing.
GPU_PY ?= python3
gpu-check:
	PY="$(GPU_PY)" bash scripts/gpu_check.sh $(GPU_CHECK_ARGS)

# Where pip has network: wheels of the dependencies a stock CUDA image lacks, into .whl/.
gpu-wheels:
	PY="$(PY)" bash scripts/gpu_wheels.sh

clean:
	rm -rf $(VENV) runs outputs multirun
