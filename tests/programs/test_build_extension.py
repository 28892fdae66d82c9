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


# Peak memory of one architecture in one nvcc, measured on the real rasterizer's
# rasterize_points.cu and simple_knn's spatial.cu (cicc over torch's headers):
# 13.2 GiB for five side by side, 2.6 GiB for one (docs/performance.md).
MEASURED_PER_THREAD = 13.2 / 5 * GIB


@pytest.mark.parametrize(
    ("cpus", "memory", "targets", "max_jobs", "settings"),
    [
        # one architecture: a job per core, as many as 3 GB each allow
        (16, 128 * GIB, 1, None, (16, 1)),
        (2, 24 * GIB, 1, None, (2, 1)),
        (16, 24 * GIB, 1, None, (8, 1)),
        # five architectures side by side in every nvcc, and a job per core up to memory:
        # 8 jobs of 15 GB, more than the rasterizer's five files, so all start at once
        (16, 128 * GIB, 5, None, (8, 5)),
        # a 2-core, 24 GB builder: two jobs, each nvcc two architectures at a time
        # (one thread per core); 12 GB at most
        (2, 24 * GIB, 5, None, (2, 2)),
        (4, 24 * GIB, 5, None, (2, 4)),
        # many cores: memory, not the cores, bounds the jobs
        (64, 512 * GIB, 5, None, (34, 5)),
        # memory for one nvcc of all five only: the threads are kept, the jobs cut
        (16, 24 * GIB, 5, None, (1, 5)),
        # too little memory for all five in one nvcc: the threads are cut too
        (16, 8 * GIB, 5, None, (1, 2)),
        # never fewer than one of each
        (8, 2 * GIB, 5, None, (1, 1)),
        # an explicit MAX_JOBS wins; each job takes the threads its memory share holds
        (16, 128 * GIB, 5, 8, (8, 5)),
        (16, 24 * GIB, 5, 4, (4, 2)),
        (16, 128 * GIB, 2, 16, (16, 2)),
    ],
)
def test_parallel_settings(
    cpus: int, memory: int, targets: int, max_jobs: int | None, settings: tuple[int, int]
) -> None:
    assert build_extension.parallel_settings(cpus, memory, targets, max_jobs) == settings


@pytest.mark.parametrize("cpus", [1, 2, 4, 16, 64, 128])
@pytest.mark.parametrize("memory_gib", [4, 8, 16, 24, 32, 64, 128, 512])
@pytest.mark.parametrize("targets", [1, 2, 5, 6])
def test_the_chosen_settings_fit_the_measured_memory(
    cpus: int, memory_gib: int, targets: int
) -> None:
    """Even with every job at its peak at once, the measured peaks fit in memory."""
    jobs, threads = build_extension.parallel_settings(cpus, memory_gib * GIB, targets)
    assert jobs * threads * MEASURED_PER_THREAD <= memory_gib * GIB
    assert 1 <= jobs <= cpus
    assert 1 <= threads <= min(targets, cpus)
    if memory_gib * GIB >= targets * 3 * GIB:  # room for one nvcc of every target
        assert threads == min(targets, cpus)


@pytest.mark.parametrize("concurrent", [2, 3])
@pytest.mark.parametrize("cpus", [2, 4, 16, 64])
@pytest.mark.parametrize("memory_gib", [8, 16, 24, 32, 128, 512])
@pytest.mark.parametrize("arch_list", ["8.6", "8.0;8.6", "7.5;8.0;8.6;8.9;9.0"])
def test_compiles_side_by_side_fit_the_measured_memory_together(
    concurrent: int, cpus: int, memory_gib: int, arch_list: str
) -> None:
    """Compiles that run at once, each sized for its share, fit together at their peak."""
    env = build_extension.build_environment(
        {"TORCH_CUDA_ARCH_LIST": arch_list}, cpus, memory_gib * GIB, concurrent
    )
    jobs = int(env["MAX_JOBS"])
    threads = int(env.get("NVCC_APPEND_FLAGS", "--threads=1").split("=")[1])
    if memory_gib * GIB >= concurrent * MEASURED_PER_THREAD:  # room for one job of each
        assert concurrent * jobs * threads * MEASURED_PER_THREAD <= memory_gib * GIB
    assert 1 <= jobs <= cpus  # the cores are shared, not divided


def test_a_2_core_24_gb_builder_side_by_side() -> None:
    """The smallest supported builder: the two extensions and pytorch3d at once."""
    one = build_extension.build_environment({"TORCH_CUDA_ARCH_LIST": "8.6"}, 2, 24 * GIB, 3)
    assert one["MAX_JOBS"] == "2"  # 3 compiles x 2 jobs x 3 GiB = 18 GiB
    five = {"TORCH_CUDA_ARCH_LIST": "7.5;8.0;8.6;8.9;9.0"}
    portable = build_extension.build_environment(five, 2, 24 * GIB, 3)
    assert (portable["MAX_JOBS"], portable["NVCC_APPEND_FLAGS"]) == ("1", "--threads=2")


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
    assert env["MAX_JOBS"] == "8"
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


@pytest.mark.parametrize("value", ["0", "-2", "four", "1.5"])
def test_a_bad_max_jobs_is_refused(value: str) -> None:
    with pytest.raises(SystemExit, match=f"invalid MAX_JOBS '{value}': give a whole number"):
        build_extension.build_environment({"TORCH_CUDA_ARCH_LIST": "8.6", "MAX_JOBS": value})


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
    usage = " ".join(result.stderr.split("build_extension.py: error")[0].split())
    assert usage == (
        "usage: build_extension.py [-h] [--ccache-dir CCACHE_DIR] [--concurrent-builds N]"
        " name source"
    )


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_a_bad_concurrent_builds_is_refused(programs_dir: Path, value: str) -> None:
    env = dict(os.environ, TORCH_CUDA_ARCH_LIST="8.6")
    result = run(programs_dir, "simple_knn", ".", f"--concurrent-builds={value}", env=env)
    assert result.returncode == 2
    assert f"invalid value '{value}': give a whole number of at least 1" in result.stderr


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


def test_an_early_error_in_a_long_log_gets_its_fix(programs_dir: Path, tmp_path: Path) -> None:
    """gcc 13's uintptr_t error near the start, then over a thousand lines of other jobs."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "setup.py").write_text(
        "import sys\n"
        "for i in range(25):\n"
        "    print(f'[{i}/5] c++ -c ext.cpp -o ext.o')\n"
        'print(\'cuda_rasterizer/rasterizer_impl.h(24): error: namespace "std" has no member '
        '"uintptr_t"\')\n'
        "for i in range(1500):\n"
        "    print(f'/usr/include/torch/csrc/api.h({i}): warning: a long build goes on')\n"
        "sys.exit(1)\n"
    )
    env = dict(os.environ, TORCH_CUDA_ARCH_LIST="8.6", PIP_TARGET=str(tmp_path / "site"))
    result = run(programs_dir, "diff_gaussian_rasterization", str(source), env=env)
    assert result.returncode != 0
    shown = result.stdout.splitlines()
    error = next(n for n, line in enumerate(shown) if 'no member "uintptr_t"' in line)
    assert len(shown) - error > 1000  # the error is far from the end of the output
    assert "hint: this gcc is newer than the extension expects" in result.stderr
    assert 'error: namespace "std" has no member "uintptr_t"' in result.stderr  # where it was
