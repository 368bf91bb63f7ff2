# The course's two commands (see README.md):
#   make reproduce   run every notebook (quick profile, synthetic data) into build/
#   make test        run the library tests and every notebook (quick profile)
# Both create or reuse .venv and install the pinned dependencies first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= quick

.PHONY: reproduce test data benchmarks clean-build
.DEFAULT_GOAL := help

help:
	@echo "make reproduce   execute all notebooks ($(PROFILE) profile) into build/"
	@echo "make test        run the tests, notebooks included"
	@echo "make data        generate the synthetic cohort only"
	@echo "make benchmarks  print the speed figures of benchmarks/"

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

reproduce: $(STAMP)
	$(BIN)/refacing notebooks --profile $(PROFILE) --out build

test: $(STAMP)
	$(BIN)/python -m pytest

data: $(STAMP)
	$(BIN)/refacing synth

benchmarks: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean-build:
	rm -rf build
