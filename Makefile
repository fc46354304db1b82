# Every target does its own set-up: a fresh clone needs only `make demo` or `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Pinned torch: the CPU build installs from local disk; an unpinned torch pulls a multi-GB CUDA build.
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-slow bench clean

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

bench: $(STAMP)
	$(BIN)/python -m benchmarks.core_throughput

clean:
	rm -rf $(VENV) runs outputs multirun
