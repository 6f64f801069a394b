# Two commands on a fresh machine: `make run` (the main job) and `make test` (the test suite).
# Both create .venv/ and install the project with every framework, pinned by ci/constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-other-kernels bench setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml ci/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c ci/constraints.txt -e '.[all,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/convt-oracle selfcheck
	mkdir -p reports
	$(BIN)/convt-oracle run --json reports/run.json  # 1: a discrepancy no known finding explains, or one expired

test: $(STAMP)
	$(BIN)/python -m pytest -n 2

# The framework tests again under the other kernel personality than this CPU's default (ci/other_kernels.py).
test-other-kernels: $(STAMP)
	$(BIN)/python ci/other_kernels.py $(BIN)/python -m pytest -n 2 -m framework

# The golden against torch with one thread, then with the default thread count; fails if either misses a target.
bench: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/bench_golden.py; one=$$?; \
	$(BIN)/python benchmarks/bench_golden.py; default=$$?; \
	test $$one -eq 0 && test $$default -eq 0

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
