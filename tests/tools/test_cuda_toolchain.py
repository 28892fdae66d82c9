"""tools.cuda_toolchain: what it refuses, and the toolkit layout it makes of the wheels' tree.

The real install (pip, nvcc) runs wherever the tests find no nvcc: `.ci/run` and `make test`
put its toolkit on PATH for the CUDA fixture tests, which compile with it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools.cuda_toolchain import COMPILER, MARKER, install, lay_out, requirements

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.cuda_toolchain", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_cuda_12_is_refused_with_the_reason(tmp_path: Path) -> None:
    result = run("--prefix", str(tmp_path / "cuda"), "--cuda", "12.1")
    assert result.returncode == 2
    assert result.stderr == (
        "error: --cuda 12.1: PyPI has no nvcc for CUDA 12 (its nvidia-cuda-nvcc-cu12 wheels "
        "hold ptxas only); choose 13.0 or newer\n"
    )
    assert not (tmp_path / "cuda").exists()


@pytest.mark.parametrize("cuda", ["13", "13.0.2", "thirteen", "13.0;rm"])
def test_a_release_is_major_dot_minor(tmp_path: Path, cuda: str) -> None:
    result = run("--prefix", str(tmp_path / "cuda"), "--cuda", cuda)
    assert result.returncode == 2
    assert f"--cuda {cuda!r}: give a CUDA release as MAJOR.MINOR, e.g. 13.0" in result.stderr


def test_a_folder_of_other_files_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = run("--prefix", str(tmp_path))
    assert result.returncode == 2
    assert "not empty and not a toolkit made here" in result.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


def test_the_same_toolkit_is_not_installed_twice(tmp_path: Path) -> None:
    (tmp_path / MARKER).write_text("\n".join(requirements("13.0", COMPILER)) + "\n")
    (tmp_path / "bin").mkdir()
    assert install(tmp_path, "13.0", extras=COMPILER) == tmp_path
    assert (tmp_path / "bin").is_dir()  # not replaced


def test_the_wheels_tree_becomes_a_toolkit(tmp_path: Path) -> None:
    tree = tmp_path / "wheels" / "nvidia" / "cu13"
    for name in ("bin/nvcc", "include/cuda_runtime.h", "nvvm/bin/cicc", "lib/__init__.py"):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text("")
    for name in ("libcudart.so.13", "libcublas.so.13", "libcudart_static.a"):
        (tree / "lib" / name).write_text(name)
    home = tmp_path / "home"

    lay_out(tmp_path / "wheels", home)

    assert (home / "bin" / "nvcc").is_file()
    assert (home / "nvvm" / "bin" / "cicc").is_file()
    assert (home / "include" / "cuda_runtime.h").is_file()
    assert (home / "lib").resolve() == (home / "lib64").resolve()
    assert (home / "lib64" / "libcudart.so").read_text() == "libcudart.so.13"
    assert (home / "lib64" / "libcublas.so").read_text() == "libcublas.so.13"
    assert not (home / "lib64" / "__init__.py").exists()
