"""build_extension.py, run for real: its job sizing, its refusals, and a real pip build."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.programs.conftest import load_program

build_extension = load_program("build_extension.py")
GIB = 1024**3

SETUP_PY = """
import json, os
from setuptools import setup
with open(os.environ["RECORD_TO"], "w") as f:
    json.dump({k: os.environ.get(k) for k in ("MAX_JOBS", "TORCH_CUDA_ARCH_LIST")}, f)
setup(name="fake_extension", version="0.1", py_modules=["fake_extension"])
"""


@pytest.mark.parametrize(
    ("cpus", "memory", "targets", "max_jobs", "settings"),
    [
        (16, 128 * GIB, 1, None, (16, 1)),  # one architecture: one job a core
        (16, 24 * GIB, 1, None, (8, 1)),  # memory-bound: ~3 GB a compile
        (16, 128 * GIB, 5, None, (3, 5)),  # five architectures side by side in each nvcc
        (2, 24 * GIB, 5, None, (1, 2)),  # CI's two cores: both used by nvcc's threads
        (8, 2 * GIB, 5, None, (1, 1)),  # never fewer than one of each
        (16, 128 * GIB, 5, 8, (8, 2)),  # an explicit MAX_JOBS wins; threads fill the rest
        (16, 128 * GIB, 2, 16, (16, 1)),
    ],
)
def test_parallel_settings(
    cpus: int, memory: int, targets: int, max_jobs: int | None, settings: tuple[int, int]
) -> None:
    assert build_extension.parallel_settings(cpus, memory, targets, max_jobs) == settings


@pytest.mark.parametrize(
    ("arch_list", "targets"), [("8.6", 1), ("8.0;8.6", 2), ("8.6+PTX", 2), ("7.5 8.0;8.6+PTX", 4)]
)
def test_code_targets_follow_torch(arch_list: str, targets: int) -> None:
    assert build_extension.code_targets(arch_list) == targets


def test_nvcc_threads_are_passed_as_one_token() -> None:
    env = build_extension.build_environment(
        {"TORCH_CUDA_ARCH_LIST": "7.5;8.0;8.6;8.9;9.0", "NVCC_APPEND_FLAGS": "-lineinfo"},
        cpus=16,
        memory_bytes=128 * GIB,
    )
    assert env["MAX_JOBS"] == "3"
    assert env["NVCC_APPEND_FLAGS"] == "-lineinfo --threads=5"
    one = build_extension.build_environment({"TORCH_CUDA_ARCH_LIST": "8.6"}, 16, 128 * GIB)
    assert "NVCC_APPEND_FLAGS" not in one


def test_available_memory_honours_a_cgroup_limit(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 131072000 kB\nMemAvailable: 104857600 kB\n")
    limit = tmp_path / "memory.max"
    limit.write_text(f"{12 * GIB}\n")
    assert build_extension.available_memory(meminfo, limit) == 12 * GIB
    limit.write_text("max\n")
    assert build_extension.available_memory(meminfo, limit) == 100 * GIB
    assert build_extension.available_memory(meminfo, tmp_path / "absent") == 100 * GIB


def test_an_explicit_max_jobs_wins() -> None:
    env = build_extension.build_environment({"TORCH_CUDA_ARCH_LIST": "8.6", "MAX_JOBS": "3"})
    assert env["MAX_JOBS"] == "3"


def test_ccache_routes_nvcc_through_the_wrapper(tmp_path: Path) -> None:
    if shutil.which("ccache") is None:
        pytest.skip("ccache is not installed")
    env = build_extension.with_ccache(dict(os.environ), tmp_path)
    assert env["CCACHE_DIR"] == str(tmp_path)
    assert env["PYTORCH_NVCC"].endswith("programs/nvcc_ccache.py")
    assert env["EGSTALKER_NVCC"].endswith("nvcc")


def test_ccache_must_be_installed_when_asked_for(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="ccache is not installed"):
        build_extension.with_ccache({"PATH": str(tmp_path)}, tmp_path)


def test_max_jobs_is_chosen_when_missing() -> None:
    env = build_extension.build_environment({"TORCH_CUDA_ARCH_LIST": "8.6"})
    assert int(env["MAX_JOBS"]) >= 1


def run(programs_dir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(programs_dir / "build_extension.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_refuses_to_build_without_an_arch_list(programs_dir: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TORCH_CUDA_ARCH_LIST"}
    result = run(programs_dir, "simple_knn", str(tmp_path), env=env)
    assert result.returncode != 0
    assert "TORCH_CUDA_ARCH_LIST is not set" in result.stderr


def test_usage_error(programs_dir: Path) -> None:
    result = run(programs_dir, env=dict(os.environ))
    assert result.returncode == 2
    assert "usage: build_extension.py [-h] [--ccache-dir CCACHE_DIR] name source" in result.stderr


def test_builds_with_the_image_python_and_passes_the_settings(
    programs_dir: Path, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "setup.py").write_text(SETUP_PY)
    (source / "fake_extension.py").write_text("")
    record = tmp_path / "record.json"
    env = dict(
        os.environ,
        TORCH_CUDA_ARCH_LIST="8.0;8.6",
        RECORD_TO=str(record),
        PIP_TARGET=str(tmp_path / "site"),
    )
    env.pop("MAX_JOBS", None)
    result = run(programs_dir, "fake_extension", str(source), env=env)
    assert result.returncode == 0, result.stderr
    assert "compiling fake_extension for 8.0;8.6 with MAX_JOBS=" in result.stdout
    seen = json.loads(record.read_text())  # what the package's own build saw
    assert seen["TORCH_CUDA_ARCH_LIST"] == "8.0;8.6"
    assert int(seen["MAX_JOBS"]) >= 1
    assert (tmp_path / "site" / "fake_extension.py").exists()


@pytest.mark.parametrize(
    ("log", "says"),
    [
        ("rasterizer_impl.h:15: fatal error: glm/glm.hpp: No such file or directory", "glm"),
        ("nvcc error   : 'cicc' died due to signal 9 (Kill signal)", "lower --max-jobs"),
        ("g++: fatal error: Killed signal terminated program cc1plus", "lower --max-jobs"),
        ('rasterizer_impl.h(24): error: namespace "std" has no member "uintptr_t"', "cstdint"),
        ('spatial.cu(71): error: identifier "FLT_MAX" is undefined', "float.h"),
        ("OSError: CUDA_HOME environment variable is not set.", "-devel base"),
    ],
)
def test_known_failures_get_their_fix(log: str, says: str) -> None:
    (hint,) = build_extension.hints(f"building...\n{log}\nerror: command failed")
    assert says in hint


def test_a_clean_log_gets_no_hint() -> None:
    assert build_extension.hints("Successfully installed simple_knn-1.0.0") == []


def test_a_failed_build_names_the_step_and_the_fix(programs_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "setup.py").write_text(
        "import sys\n"
        "print('cuda_rasterizer/rasterizer_impl.h:15:10: fatal error: glm/glm.hpp: "
        "No such file or directory')\n"
        "sys.exit(1)\n"
    )
    env = dict(os.environ, TORCH_CUDA_ARCH_LIST="8.6", PIP_TARGET=str(tmp_path / "site"))
    result = run(programs_dir, "diff_gaussian_rasterization", str(source), env=env)
    assert result.returncode != 0
    assert "glm/glm.hpp" in result.stdout  # the build's own output is shown as it comes
    assert (
        f"error: step 'compile diff_gaussian_rasterization for 8.6' failed with exit code "
        f"{result.returncode}"
    ) in result.stderr
    assert "hint: the rasterizer's glm headers are missing" in result.stderr
