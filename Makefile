# Thin entry points: the pipeline is the Dagger module in pipeline/, driven by its CLI
# (`egstalker`, installed in .venv) or by `dagger call`.
PYTHON   ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
ARCH     ?= 8.6
OUT      ?= build
GPU      ?=
REGISTRY ?=
TAG      ?= latest
REGISTRY_USER ?=

.PHONY: install test lint build build-single verify report publish shell clean

$(BIN)/.installed: pipeline/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e 'pipeline[test]'
	touch $@

install: $(BIN)/.installed  ## Python environment: the CLI and the test tools

lint: install  ## ruff, lint and format
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint  ## the offline test suite (engine tests skip, with the reason, without an engine)
	$(BIN)/python -m pytest

build: install  ## the multi-stage runtime image, as $(OUT)/egstalker-multistage.tar
	$(BIN)/egstalker build --variant multistage --arch "$(ARCH)" --output "$(OUT)"

build-single: install  ## the single-stage image, as $(OUT)/egstalker-single-stage.tar
	$(BIN)/egstalker build --variant single-stage --arch "$(ARCH)" --output "$(OUT)"

verify: install  ## verify both images; GPU=1 launches kernels on the GPU
	$(BIN)/egstalker verify --variant all --arch "$(ARCH)" $(if $(GPU),--gpu)

report: install  ## sizes and build times of both images, in $(OUT)/report.{txt,json}
	$(BIN)/egstalker report --arch "$(ARCH)" --output "$(OUT)"

publish:  ## push both images to REGISTRY (a repository) with TAG; token in $$REGISTRY_TOKEN
	dagger call --arch "$(ARCH)" publish --address "$(REGISTRY)" --tag "$(TAG)" --username "$(REGISTRY_USER)" --password env:REGISTRY_TOKEN

shell: install  ## a terminal in the builder with the app in place
	$(BIN)/egstalker shell --arch "$(ARCH)"

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache
