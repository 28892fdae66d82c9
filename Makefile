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

BENCH_SCALE ?= 2.4
DATA     := pipeline/src/egstalker/data

.PHONY: install test lint build build-single verify report publish shell lock pin-bases bench clean

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

lock:  ## re-lock the Python dependencies in the devel base, with hashes (needs an engine)
	dagger call lock export --path=$(DATA)/requirements.lock

pin-bases:  ## pin the base images' tags to their current digests (needs an engine)
	dagger call pin-bases export --path=$(DATA)/base-images.toml

bench: install  ## compile-time and rebuild benchmarks (nvcc, ccache); prints ratios
	$(BIN)/python bench/compile_time.py --scale $(BENCH_SCALE)
	$(BIN)/python bench/rebuild.py --scale $(BENCH_SCALE)

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache
