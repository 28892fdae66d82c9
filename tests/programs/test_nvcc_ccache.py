"""nvcc_ccache.py makes torch's nvcc calls cacheable: shown with the real ccache and nvcc."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.programs.conftest import load_program
from tests.programs.test_check_archs import KERNEL, tool

nvcc_ccache = load_program("nvcc_ccache.py")

# How torch 2.1's ninja rule calls nvcc for each .cu file.
TORCH_STYLE = [
    "--generate-dependencies-with-compile", "--dependency-output", "kernel.o.d",
    "-c", "kernel.cu", "-o", "kernel.o", "-gencode=arch=compute_86,code=sm_86",
    "-Xcompiler", "-fPIC",
]  # fmt: skip


def test_rewrites_the_long_dependency_options() -> None:
    assert nvcc_ccache.rewrite(TORCH_STYLE)[:5] == ["-MD", "-MF", "kernel.o.d", "-c", "kernel.cu"]
    assert nvcc_ccache.rewrite(["--dependency-output=a.d", "-O3"]) == ["-MF", "a.d", "-O3"]
    assert nvcc_ccache.rewrite(["-c", "x.cu"]) == ["-c", "x.cu"]


def stats(env: dict[str, str]) -> dict[str, int]:
    printed = subprocess.run(
        ["ccache", "--print-stats"], env=env, capture_output=True, text=True, check=True
    ).stdout
    return {k: int(v) for k, v in (line.split("\t") for line in printed.splitlines())}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    tool("ccache")
    tool("nvcc")
    (tmp_path / "kernel.cu").write_text(KERNEL)
    return tmp_path


def compile_twice(command: list[str], cwd: Path, env: dict[str, str]) -> dict[str, int]:
    for _ in range(2):
        subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return stats(env)


def test_a_second_compile_is_a_cache_hit(workdir: Path) -> None:
    env = dict(os.environ, CCACHE_DIR=str(workdir / "cache"), EGSTALKER_NVCC=shutil.which("nvcc"))
    got = compile_twice([sys.executable, nvcc_ccache.__file__, *TORCH_STYLE], workdir, env)
    assert got["cache_miss"] == 1
    assert got["direct_cache_hit"] + got["preprocessed_cache_hit"] == 1
    assert (workdir / "kernel.o.d").exists()  # ninja still gets its dependency file


def test_without_it_ccache_never_caches_torchs_calls(workdir: Path) -> None:
    env = dict(os.environ, CCACHE_DIR=str(workdir / "cache"))
    got = compile_twice(["ccache", shutil.which("nvcc"), *TORCH_STYLE], workdir, env)
    # the .d file is taken for a second input (or, before it exists, fails preprocessing)
    assert got["multiple_source_files"] >= 1
    assert got["direct_cache_hit"] + got["preprocessed_cache_hit"] == 0


@pytest.fixture
def fake_nvcc(tmp_path: Path) -> Path:
    """An nvcc that only says how it was called."""
    nvcc = tmp_path / "bin" / "nvcc"
    nvcc.parent.mkdir()
    nvcc.write_text('#!/bin/sh\necho "nvcc called with: $*"\n')
    nvcc.chmod(0o755)
    return nvcc


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_a_lone_help_flag_prints_its_own_usage(tmp_path: Path, fake_nvcc: Path, flag: str) -> None:
    for env in (
        {k: v for k, v in os.environ.items() if k != "EGSTALKER_NVCC"},  # works unconfigured
        dict(os.environ, EGSTALKER_NVCC=str(fake_nvcc), CCACHE_DIR=str(tmp_path / "cache")),
    ):
        result = subprocess.run(
            [sys.executable, nvcc_ccache.__file__, flag], env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("nvcc through ccache")
        assert "Usage: python nvcc_ccache.py NVCC_ARGS..." in result.stdout
        assert "EGSTALKER_NVCC" in result.stdout
        assert "nvcc called with" not in result.stdout


def test_help_among_other_arguments_goes_to_nvcc(tmp_path: Path, fake_nvcc: Path) -> None:
    tool("ccache")
    env = dict(os.environ, EGSTALKER_NVCC=str(fake_nvcc), CCACHE_DIR=str(tmp_path / "cache"))
    result = subprocess.run(
        [sys.executable, nvcc_ccache.__file__, "--help", "--dependency-output=a.d"],
        env=env, capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "nvcc called with: --help -MF a.d\n"


def test_without_the_real_nvcc_it_says_what_to_set() -> None:
    env = {k: v for k, v in os.environ.items() if k != "EGSTALKER_NVCC"}
    result = subprocess.run(
        [sys.executable, nvcc_ccache.__file__, "-c", "x.cu"], env=env, capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode != 0
    assert "EGSTALKER_NVCC (the real nvcc) is not set" in result.stderr
