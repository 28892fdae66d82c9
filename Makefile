# Thin entry points; the pipeline itself is the Dagger module in pipeline/.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
ARCH   ?= 8.6
OUT    ?= build

.PHONY: install test lint build build-single clean

$(BIN)/.installed: pipeline/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e 'pipeline[test]'
	touch $@

install: $(BIN)/.installed  ## Python environment for the tests and the CLI

lint: install  ## ruff, lint and format
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint  ## the offline test suite (engine tests skip without an engine)
	$(BIN)/python -m pytest

build:  ## the multi-stage runtime image, exported as a tarball
	mkdir -p $(OUT)
	dagger call --arch "$(ARCH)" build-multistage export --path=$(OUT)/egstalker-runtime.tar

build-single:  ## the single-stage image, exported as a tarball
	mkdir -p $(OUT)
	dagger call --arch "$(ARCH)" build-single-stage export --path=$(OUT)/egstalker-single-stage.tar

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache
