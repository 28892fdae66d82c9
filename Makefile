# Thin entry points: the pipeline is the Dagger module in pipeline/, driven by its CLI
# (`egstalker`, installed in .venv) or by `dagger call`. `make help` lists the targets.
PYTHON   ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
EXTRAS   ?= test
ARCH     ?= 8.6
OUT      ?= build
GPU      ?=
REGISTRY ?=
TAG      ?= latest
REGISTRY_USER ?=
# make rehearse: which image, with which module options, on which Python 3.10 (the bases').
VARIANT  ?= multistage
PREPROCESSING ?=
PY310    ?= $(shell command -v python3.10)
REHEARSE_FLAGS ?=
# Empty: the benchmarks' own default scale (a few minutes).
BENCH_SCALE ?=
DATA     := pipeline/src/egstalker/data

# A value as one shell word, whatever it holds: 8.0;8.6 -> '8.0;8.6', it's -> 'it'\''s'.
q = '$(subst ','\'',$(1))'
comma := ,
empty :=
space := $(empty) $(empty)
# One stamp per set of extras, so that `make test EXTRAS=test,torch` installs again.
STAMP := $(BIN)/.installed-$(subst $(comma),+,$(subst $(space),,$(EXTRAS)))
# nvcc for the CUDA fixture tests: the one on PATH, else CUDA's compiler from PyPI's wheels in
# VENV/cuda (tools/cuda_toolchain.py: about 100 MB to download, 250 MB on disk).
ifeq ($(shell command -v nvcc),)
  NVCC_SETUP = $(BIN)/python -m tools.cuda_toolchain --compiler-only --prefix $(call q,$(VENV)/cuda)
  NVCC_PATH = PATH=$(call q,$(abspath $(VENV))/cuda/bin):"$$PATH"
endif

.DEFAULT_GOAL := help
.PHONY: help install test lint build build-runtime build-single verify report publish shell \
	lock pin-bases bench rehearse clean

# GPU=1: every target, not only verify, starts dagger's GPU engine. With and without the
# variable the CLI runs different engine containers and removes the other one with its
# cache, so a GPU host keeps it set for every command (any non-empty value counts).
ifneq ($(strip $(GPU)),)
  ifeq ($(strip $(_EXPERIMENTAL_DAGGER_GPU_SUPPORT)),)
    _EXPERIMENTAL_DAGGER_GPU_SUPPORT := 1
  endif
  export _EXPERIMENTAL_DAGGER_GPU_SUPPORT
endif

# Checked before anything runs, so that a push never starts without a place to go.
ifneq ($(filter publish,$(MAKECMDGOALS)),)
  ifeq ($(strip $(REGISTRY)),)
    $(error REGISTRY is empty: name the repository to push to, e.g. make publish REGISTRY=ghcr.io/me/egstalker TAG=1.0)
  endif
  ifneq ($(strip $(REGISTRY_USER)),)
    ifeq ($(value REGISTRY_TOKEN),)
      $(error REGISTRY_USER is set but REGISTRY_TOKEN is not: export REGISTRY_TOKEN=<password or token> (dagger reads it from the environment))
    endif
  else ifneq ($(value REGISTRY_TOKEN),)
    $(error REGISTRY_TOKEN is set but REGISTRY_USER is not: set REGISTRY_USER=<user> to log in with the token, or unset REGISTRY_TOKEN to push with your docker login)
  endif
endif

help:  ## this list
	@echo "make TARGET [ARCH=$(ARCH)] [OUT=$(OUT)] [EXTRAS=$(EXTRAS)] [GPU=1] [REGISTRY=... TAG=$(TAG) REGISTRY_USER=...]"
	@awk -F ':.*## ' '/^[a-z-]+:.*## /{printf "  %-14s %s\n", $$1, $$2}' $(firstword $(MAKEFILE_LIST))

$(STAMP): pipeline/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(if $(filter torch,$(subst $(comma),$(space),$(EXTRAS))),$(BIN)/python -m tools.torch_cpu)
	$(BIN)/pip install --quiet -e $(call q,pipeline[$(EXTRAS)])
	touch $@

install: $(STAMP)  ## the Python environment in .venv: the CLI and pipeline[EXTRAS] (EXTRAS=test,torch adds torch, its CPU build where torch's index answers)

lint: install  ## ruff, lint and format
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint  ## lint, then the offline tests (engine tests skip, with the reason); nvcc from PyPI if none is on PATH
	$(NVCC_SETUP)
	$(NVCC_PATH) $(BIN)/python -m pytest

build: install  ## both images, concurrently: OUT/egstalker-multistage.tar and OUT/egstalker-single-stage.tar
	$(BIN)/egstalker build --variant all --arch $(call q,$(ARCH)) --output $(call q,$(OUT))

build-runtime: install  ## the multi-stage runtime image only: OUT/egstalker-multistage.tar
	$(BIN)/egstalker build --variant multistage --arch $(call q,$(ARCH)) --output $(call q,$(OUT))

build-single: install  ## the single-stage image only: OUT/egstalker-single-stage.tar
	$(BIN)/egstalker build --variant single-stage --arch $(call q,$(ARCH)) --output $(call q,$(OUT))

verify: install  ## verify both images; GPU=1 launches kernels on the GPU (set it for every target on a GPU host)
	$(BIN)/egstalker verify --variant all --arch $(call q,$(ARCH))$(if $(GPU), --gpu)

report: install  ## sizes and build times of both images: OUT/report.txt and OUT/report.json
	$(BIN)/egstalker report --arch $(call q,$(ARCH)) --output $(call q,$(OUT))

publish: install  ## push both images to REGISTRY as TAG and TAG-single-stage; REGISTRY_USER, REGISTRY_TOKEN log in
	@$(BIN)/python -m egstalker.hostcheck dagger-cli
	dagger call --arch $(call q,$(ARCH)) publish --address $(call q,$(REGISTRY)) --tag $(call q,$(TAG))$(if $(strip $(REGISTRY_USER)), --username $(call q,$(REGISTRY_USER)) --password env:REGISTRY_TOKEN)

shell: install  ## a terminal in the builder with the app in place (needs the dagger CLI)
	$(BIN)/egstalker shell --arch $(call q,$(ARCH))

lock: install  ## re-lock the Python dependencies in the devel base, with hashes (needs the dagger CLI)
	@$(BIN)/python -m egstalker.hostcheck dagger-cli
	dagger call lock export --path=$(DATA)

pin-bases: install  ## pin the base images' tags to their current digests (needs the dagger CLI)
	@$(BIN)/python -m egstalker.hostcheck dagger-cli
	dagger call pin-bases export --path=$(DATA)/base-images.toml

rehearse:  ## build an image's root filesystem here, no engine, and run its probe (root, mmdebstrap): VARIANT=multistage|single-stage [PREPROCESSING=all] [PY310=python3.10]
	@test -n $(call q,$(PY310)) || { echo "no python3.10 on PATH: give one with PY310=/path/to/python3.10 (it stands for the bases' Python)"; exit 2; }
	$(MAKE) install EXTRAS=test,rehearse
	$(VENV)/bin/python -m tools.rehearse --variant $(call q,$(VARIANT)) --python $(call q,$(PY310)) --arch $(call q,$(ARCH))$(if $(PREPROCESSING), --preprocessing $(call q,$(PREPROCESSING))) $(REHEARSE_FLAGS)

bench: install  ## the CLI's start, compile-time, rebuild and critical-path benchmarks; prints ratios
	$(BIN)/python bench/cli_startup.py
	$(NVCC_SETUP)
	$(NVCC_PATH) $(BIN)/python bench/compile_time.py$(if $(BENCH_SCALE), --scale $(call q,$(BENCH_SCALE)))
	$(NVCC_PATH) $(BIN)/python bench/rebuild.py$(if $(BENCH_SCALE), --scale $(call q,$(BENCH_SCALE)))
	$(BIN)/python bench/critical_path.py

# What clean deletes: OUT only inside the checkout (OUT=.. or OUT=/ is refused), VENV there or
# where it is a virtual environment.
outside = $(or $(filter-out $(CURDIR)/%,$(abspath $(1))),$(if $(strip $(1)),,nothing))

clean:  ## remove .venv, OUT and the tools' caches
	$(if $(call outside,$(OUT)),$(error OUT=$(OUT) is not a folder inside the checkout ($(CURDIR)): make clean deletes nothing outside it))
	$(if $(and $(call outside,$(VENV)),$(if $(wildcard $(VENV)/pyvenv.cfg),,no)),$(error VENV=$(VENV) is neither inside the checkout nor a virtual environment: make clean leaves it))
	rm -rf $(call q,$(VENV)) $(call q,$(OUT)) .pytest_cache .ruff_cache
