# kronlmm: `make run` and `make test` are the two set-up commands of the README.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-fast glimix-suite lint docs bench bench-traits bench-kron2sum bench-scan bench-distributed bench-features bench-features-lmm bench-pipeline bench-loco peers clean

$(STAMP): pyproject.toml setup.cfg
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# setuptools' PEP 660 editable install warns "Editable installation." (a banner of
	@# advice for flat layouts); that one message is silenced, nothing else.
	PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install --quiet -e ".[test]"
	@# Optional peers for comparison tests; tests skip cleanly where they are absent.
	-$(PY) -m pip install --quiet glimix-core 2>/dev/null || true
	-$(PY) -m pip install --quiet pylimma==0.2.0 2>/dev/null || true
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/kronlmm example --out out/example

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# The quick lane while developing (under 90 s on 2 cores): everything but the tests marked
# slow, sweep or peer, glimix-core's suite, the narrative docs' examples and the end-to-end
# files (command line in subprocesses, Dask clusters, example scripts, benchmark smoke test).
FAST_IGNORE := tests/glimix_suite tests/test_cli_faults.py tests/test_distributed.py \
	tests/test_examples.py tests/test_bench_pipeline.py tests/test_cli_inputs.py tests/test_genabel_example.py
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not sweep and not peer" tests kronlmm \
		$(addprefix --ignore=,$(FAST_IGNORE)) $(PYTEST_ARGS)

# glimix-core's own tests run against kronlmm (tests/glimix_suite/README.md); part of
# `make test` too, skipped where glimix-core is not installed.
glimix-suite: $(STAMP)
	$(PY) -m pytest tests/glimix_suite -rs $(PYTEST_ARGS)

# Sphinx, warnings as errors; -E re-reads every page so no warning is skipped.
DOCS_STAMP := $(VENV)/.docs-installed

$(DOCS_STAMP): $(STAMP) pyproject.toml
	PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(PY) -m sphinx -E -W --keep-going -b html docs docs/_build/html

lint: $(STAMP)
	$(PY) -m ruff check kronlmm tests examples benchmarks docs/conf.py conftest.py
	$(PY) -m ruff format --check kronlmm tests examples benchmarks docs/conf.py conftest.py
	$(PY) -m mypy

# Benchmarks print tables side by side with the peers (see benchmarks/README.md).
# BENCH_ARGS passes flags, e.g. make bench BENCH_ARGS="--threads 1".
bench: bench-kron2sum bench-scan bench-distributed bench-features

bench-kron2sum: $(STAMP)
	$(PY) benchmarks/bench_kron2sum.py $(BENCH_ARGS)

# Factor-analytic and diagonal trait covariances at p = 24 and p = 100 (n = 5000).
bench-traits: $(STAMP)
	$(PY) benchmarks/bench_trait_covariances.py $(BENCH_ARGS)

bench-scan: $(STAMP) peers
	$(PY) benchmarks/bench_scan.py $(BENCH_ARGS)

bench-distributed: $(STAMP)
	$(PY) benchmarks/bench_distributed.py $(BENCH_ARGS)

# The whole `kronlmm scan` per phase (read, GRM, eigh, fit, scan, write) against each phase's
# floor, at 1 and all threads, side by side with GEMMA's mvLMM (/usr/bin/gemma, when
# installed). Simulated PLINK sets go to $$TMPDIR/kronlmm-bench-pipeline (BENCH_ARGS="--workdir
# DIR" to change); the default cases take tens of minutes on 2 cores.
bench-pipeline: $(STAMP)
	$(PY) benchmarks/bench_pipeline.py $(BENCH_ARGS)

# Leave-one-chromosome-out against the genome-wide kinship, whole GWAS by phase (issue #15):
# n = 2000, 8800 variants over 22 chromosomes by default (BENCH_ARGS="--m 88000 --threads 1").
bench-loco: $(STAMP)
	$(PY) benchmarks/bench_loco.py $(BENCH_ARGS)

# lm_fit + e_bayes side by side with pylimma (installed by $(STAMP) where available) and
# R limma (when Rscript with limma is present).
bench-features: $(STAMP)
	$(PY) benchmarks/bench_features.py $(BENCH_ARGS)

# FLASHMM (R) is used when R finds it, e.g. in a private library: R_LIBS_USER=/work/rlib.
bench-features-lmm: $(STAMP)
	$(PY) benchmarks/bench_features_lmm.py $(BENCH_ARGS)

# FaST-LMM lives in its own environment so that it cannot change the main one.
peers: .venv-peers/.installed

.venv-peers/.installed:
	$(PYTHON) -m venv .venv-peers
	-.venv-peers/bin/pip install --quiet fastlmm six numpy pandas || true
	touch $@

clean:
	rm -rf $(VENV) .venv-* .pytest_cache docs/_build docs/api docs/_generated
