# kronlmm: `make run` and `make test` are the two set-up commands of the README.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml setup.cfg
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	@# Optional peers for comparison tests; tests skip cleanly where they are absent.
	-$(PY) -m pip install --quiet glimix-core 2>/dev/null || true
	touch $(STAMP)

run: $(STAMP)
	$(PY) examples/fit_kron2sum.py

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check kronlmm tests examples benchmarks
	$(PY) -m ruff format --check kronlmm tests examples benchmarks

bench: $(STAMP)
	$(PY) benchmarks/bench_kron2sum.py

clean:
	rm -rf $(VENV) .venv-* .pytest_cache
