# kronlmm: `make run` and `make test` are the two set-up commands of the README.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-kron2sum bench-scan peers clean

$(STAMP): pyproject.toml setup.cfg
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	@# Optional peers for comparison tests; tests skip cleanly where they are absent.
	-$(PY) -m pip install --quiet glimix-core 2>/dev/null || true
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/kronlmm example --out out/example

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check kronlmm tests examples benchmarks
	$(PY) -m ruff format --check kronlmm tests examples benchmarks

# Benchmarks print tables side by side with the peers (see benchmarks/README.md).
# BENCH_ARGS passes flags, e.g. make bench BENCH_ARGS="--threads 1".
bench: bench-kron2sum bench-scan

bench-kron2sum: $(STAMP)
	$(PY) benchmarks/bench_kron2sum.py $(BENCH_ARGS)

bench-scan: $(STAMP) peers
	$(PY) benchmarks/bench_scan.py $(BENCH_ARGS)

# FaST-LMM lives in its own environment so that it cannot change the main one.
peers: .venv-peers/.installed

.venv-peers/.installed:
	$(PYTHON) -m venv .venv-peers
	-.venv-peers/bin/pip install --quiet fastlmm six numpy pandas || true
	touch $@

clean:
	rm -rf $(VENV) .venv-* .pytest_cache
