# The course's two commands (see README.md):
#   make reproduce   run every notebook (quick profile, synthetic data) into build/,
#                    with the results table of notebook 06 in build/results/
#   make test        ruff, then the library tests and every notebook (quick profile)
#   make lab         JupyterLab with the course's set-up (jupyter/): notebooks/*.py open as notebooks
# For instructors: make reproduce-full (the paper's four experiments on IXI, GPU; resumable).
# Both create or reuse .venv and install the pinned dependencies first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= quick

.PHONY: reproduce reproduce-full test lab data benchmarks clean-build
.DEFAULT_GOAL := help

help:
	@echo "make reproduce   execute all notebooks ($(PROFILE) profile) into build/"
	@echo "make reproduce-full  the paper's experiments on IXI (full profile, GPU) into build/full"
	@echo "make test        run the tests, notebooks included"
	@echo "make lab         start JupyterLab with the course's set-up"
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

reproduce-full: $(STAMP)
	$(BIN)/refacing reproduce --profile full --out build/full/results
	$(BIN)/refacing notebooks --profile full --out build/full

# ruff (the settings in pyproject.toml), then two pytest-xdist workers (TEST_JOBS=0: one process), a test file each at a time; one of them
# runs the course files (the browser, notebook, pretrained-model and solution tests, the only
# ones that start Jupyter kernels) one after the other (tests/conftest.py).
TEST_JOBS ?= 2
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder

# jupyter/ holds the course's Jupyter set-up; binder/start puts it on the same paths on Binder.
lab: $(STAMP)
	JUPYTER_PATH=$(CURDIR)/jupyter JUPYTER_CONFIG_PATH=$(CURDIR)/jupyter $(BIN)/jupyter lab

data: $(STAMP)
	$(BIN)/refacing synth

benchmarks: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean-build:
	rm -rf build
