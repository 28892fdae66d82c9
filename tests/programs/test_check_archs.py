"""check_archs.py against real CUDA libraries compiled here by nvcc, read by the real cuobjdump."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.programs.conftest import load_program

check_archs = load_program("check_archs.py")

KERNEL = """
__global__ void add_one(float* x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += 1.0f;
}
extern "C" void launch(float* x, int n) { add_one<<<(n + 255) / 256, 256>>>(x, n); }
"""
# The same -gencode flags torch's builder derives from TORCH_CUDA_ARCH_LIST.
FIXTURES = {
    "only86": ("8.6", ["arch=compute_86,code=sm_86"]),
    "ampere": ("8.0;8.6", ["arch=compute_80,code=sm_80", "arch=compute_86,code=sm_86"]),
    "ptx86": ("8.6+PTX", ["arch=compute_86,code=sm_86", "arch=compute_86,code=compute_86"]),
}


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        message = f"{name} is needed to build and read the CUDA fixtures"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run these for real
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def cuobjdump() -> str:
    for entry in sys.path:
        for candidate in Path(entry or ".").glob("nvidia/*/bin/cuobjdump"):
            return str(candidate)
    return tool("cuobjdump")


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One importable package per fixture, each holding a _C library built by nvcc."""
    nvcc = tool("nvcc")
    root = tmp_path_factory.mktemp("site")
    source = root / "kernel.cu"
    source.write_text(KERNEL)
    for name, (_, gencodes) in FIXTURES.items():
        (root / name).mkdir()
        (root / name / "__init__.py").write_text("")
        flags = [f"-gencode={g}" for g in gencodes]
        library = root / name / "_C.cpython-310-x86_64-linux-gnu.so"
        subprocess.run(
            [nvcc, "-shared", "-Xcompiler", "-fPIC", *flags, str(source), "-o", str(library)],
            check=True,
        )
    return root


def run(site: Path, cuobjdump: str, *args: str) -> subprocess.CompletedProcess:
    program = Path(check_archs.__file__)
    return subprocess.run(
        [sys.executable, str(program), "--cuobjdump", cuobjdump, *args],
        env=dict(os.environ, PYTHONPATH=str(site)),
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_matching_lists_pass_and_write_the_manifest(
    packages: Path, cuobjdump: str, tmp_path: Path, name: str
) -> None:
    arch_list = FIXTURES[name][0]
    manifest = tmp_path / "manifest.json"
    result = run(
        packages, cuobjdump, "--arch-list", arch_list, "--manifest", str(manifest),
        "--commit", f"{name}=" + "a" * 40, name,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = json.loads(manifest.read_text())
    assert written["arch_list"] == arch_list
    (library,) = written["extensions"][name]["libraries"].values()
    assert library["sass"] == sorted(a.removesuffix("+PTX") for a in arch_list.split(";"))
    assert library["ptx"] == (["8.6"] if name == "ptx86" else [])
    assert written["extensions"][name]["commit"] == "a" * 40
    assert written["versions"]["python"]


SM86 = "machine code [sm_86], PTX [none]"


@pytest.mark.parametrize(
    ("name", "requested", "built_for", "asked_for"),
    [
        ("only86", "9.0", SM86, "machine code [sm_90], PTX [none]"),
        ("only86", "8.0;8.6", SM86, "machine code [sm_80, sm_86], PTX [none]"),
        ("ampere", "8.6", "machine code [sm_80, sm_86], PTX [none]", SM86),
        ("only86", "8.6+PTX", SM86, "machine code [sm_86], PTX [compute_86]"),
        ("ptx86", "8.6", "machine code [sm_86], PTX [compute_86]", SM86),
    ],
)
def test_mismatches_fail_naming_the_file_and_both_lists(
    packages: Path, cuobjdump: str, tmp_path: Path, name: str, requested: str, built_for: str,
    asked_for: str,
) -> None:  # fmt: skip
    manifest = tmp_path / "manifest.json"
    result = run(packages, cuobjdump, "--arch-list", requested, "--manifest", str(manifest), name)
    assert result.returncode == 1
    library = packages / name / "_C.cpython-310-x86_64-linux-gnu.so"
    assert result.stderr.strip() == (
        f"architecture check failed: {library} was built for {built_for}, "
        f"but the architecture list asks for {asked_for}"
    )
    assert not manifest.exists()  # nothing half-done is left behind


def test_a_library_without_gpu_code_fails(packages: Path, cuobjdump: str, tmp_path: Path) -> None:
    (tmp_path / "hostonly").mkdir()
    library = tmp_path / "hostonly" / "_C.so"
    subprocess.run(
        [tool("gcc"), "-shared", "-fPIC", "-x", "c", os.devnull, "-o", str(library)], check=True
    )
    result = run(tmp_path, cuobjdump, "--arch-list", "8.6", "hostonly")
    assert result.returncode == 1
    assert "does not contain device code" in result.stderr


def test_missing_package_and_missing_arch_list(packages: Path, cuobjdump: str) -> None:
    result = run(packages, cuobjdump, "--arch-list", "8.6", "not_installed")
    assert result.returncode == 1
    assert "package 'not_installed' is not installed" in result.stderr
    env_without = {k: v for k, v in os.environ.items() if k != "TORCH_CUDA_ARCH_LIST"}
    result = subprocess.run(
        [sys.executable, check_archs.__file__, "only86"], env=env_without, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "no architecture list" in result.stderr


@pytest.mark.parametrize(
    ("arch_list", "sass", "ptx"),
    [
        ("8.6", {"8.6"}, set()),
        ("8.0;8.6+PTX", {"8.0", "8.6"}, {"8.6"}),
        ("7.5 8.0", {"7.5", "8.0"}, set()),
    ],
)
def test_expected_targets_follow_torch(arch_list: str, sass: set, ptx: set) -> None:
    assert check_archs.expected_targets(arch_list) == check_archs.Targets(
        frozenset(sass), frozenset(ptx)
    )
