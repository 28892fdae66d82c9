"""check_archs.py against real CUDA libraries compiled here by nvcc, read by the real cuobjdump."""

from __future__ import annotations

import json
import os
import re
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
# The same -gencode flags torch's builder derives from TORCH_CUDA_ARCH_LIST
# (torch.utils.cpp_extension._get_cuda_arch_flags: "9.0a" -> compute_90a/sm_90a).
FIXTURES = {
    "only86": ("8.6", ["arch=compute_86,code=sm_86"]),
    "ampere": ("8.0;8.6", ["arch=compute_80,code=sm_80", "arch=compute_86,code=sm_86"]),
    "ptx86": ("8.6+PTX", ["arch=compute_86,code=sm_86", "arch=compute_86,code=compute_86"]),
    "hopper": ("9.0", ["arch=compute_90,code=sm_90"]),
    "hopper_a": ("9.0a", ["arch=compute_90a,code=sm_90a"]),
    "hopper_a_ptx": (
        "9.0a+PTX",
        ["arch=compute_90a,code=sm_90a", "arch=compute_90a,code=compute_90a"],
    ),
}
# Family-specific targets need nvcc 12.9 or newer.
FAMILY = {
    "blackwell_f": (
        "10.0f+PTX",
        ["arch=compute_100f,code=sm_100f", "arch=compute_100f,code=compute_100f"],
    )
}
LIBRARY = "_C.cpython-310-x86_64-linux-gnu.so"


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


def build(nvcc: str, root: Path, name: str, gencodes: list[str]) -> None:
    """An importable package ``name`` holding a _C library built by nvcc for ``gencodes``."""
    source = root / "kernel.cu"
    if not source.exists():
        source.write_text(KERNEL)
    (root / name).mkdir()
    (root / name / "__init__.py").write_text("")
    flags = [f"-gencode={g}" for g in gencodes]
    library = root / name / LIBRARY
    subprocess.run(
        [nvcc, "-shared", "-Xcompiler", "-fPIC", *flags, str(source), "-o", str(library)],
        check=True,
    )


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One importable package per fixture, each holding a _C library built by nvcc."""
    nvcc = tool("nvcc")
    root = tmp_path_factory.mktemp("site")
    for name, (_, gencodes) in FIXTURES.items():
        build(nvcc, root, name, gencodes)
    return root


@pytest.fixture(scope="module")
def family_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    nvcc = tool("nvcc")
    version = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
    release = re.search(r"release (\d+)\.(\d+)", version)
    if release is None or (int(release[1]), int(release[2])) < (12, 9):
        pytest.skip(f"family-specific targets (sm_100f) need nvcc 12.9+: {version.strip()}")
    root = tmp_path_factory.mktemp("family")
    for name, (_, gencodes) in FAMILY.items():
        build(nvcc, root, name, gencodes)
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


def sass_of(arch_list: str) -> list[str]:
    return sorted(a.removesuffix("+PTX") for a in arch_list.split(";"))


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
    assert library["sass"] == sass_of(arch_list)
    ptx = [a.removesuffix("+PTX") for a in arch_list.split(";") if a.endswith("+PTX")]
    assert library["ptx"] == ptx
    assert written["extensions"][name]["commit"] == "a" * 40
    assert written["versions"]["python"]


SM86 = "machine code [sm_86], PTX [none]"
SM90 = "machine code [sm_90], PTX [none]"
SM90A = "machine code [sm_90a], PTX [none]"


@pytest.mark.parametrize(
    ("name", "requested", "built_for", "asked_for"),
    [
        ("only86", "9.0", SM86, SM90),
        ("only86", "8.0;8.6", SM86, "machine code [sm_80, sm_86], PTX [none]"),
        ("ampere", "8.6", "machine code [sm_80, sm_86], PTX [none]", SM86),
        ("only86", "8.6+PTX", SM86, "machine code [sm_86], PTX [compute_86]"),
        ("ptx86", "8.6", "machine code [sm_86], PTX [compute_86]", SM86),
        # arch-specific code is not the plain target, in either direction
        ("hopper_a", "9.0", SM90A, SM90),
        ("hopper", "9.0a", SM90, SM90A),
        ("hopper_a_ptx", "9.0a", "machine code [sm_90a], PTX [compute_90a]", SM90A),
        ("hopper_a_ptx", "9.0+PTX", "machine code [sm_90a], PTX [compute_90a]",
         "machine code [sm_90], PTX [compute_90]"),
    ],
)  # fmt: skip
def test_mismatches_fail_naming_the_file_and_both_lists(
    packages: Path, cuobjdump: str, tmp_path: Path, name: str, requested: str, built_for: str,
    asked_for: str,
) -> None:  # fmt: skip
    manifest = tmp_path / "manifest.json"
    result = run(packages, cuobjdump, "--arch-list", requested, "--manifest", str(manifest), name)
    assert result.returncode == 1
    library = packages / name / LIBRARY
    assert result.stderr.strip() == (
        f"architecture check failed: {library} was built for {built_for}, "
        f"but the architecture list asks for {asked_for}"
    )
    assert not manifest.exists()  # nothing half-done is left behind


def test_every_wrong_library_is_named_in_one_run(
    packages: Path, cuobjdump: str, tmp_path: Path
) -> None:
    # an 8.6 build checked against 9.0: both extensions are wrong, not only the first
    manifest = tmp_path / "manifest.json"
    result = run(
        packages, cuobjdump, "--arch-list", "9.0", "--manifest", str(manifest), "only86", "ampere"
    )
    assert result.returncode == 1
    assert result.stderr.startswith("architecture check failed, 2 problems:")
    wrong = {
        "only86": SM86,
        "ampere": "machine code [sm_80, sm_86], PTX [none]",
    }
    problems = result.stderr.splitlines()[1:]
    assert problems == [
        f"  - {packages / name / LIBRARY} was built for {built_for}, "
        f"but the architecture list asks for {SM90}"
        for name, built_for in wrong.items()
    ]
    assert not manifest.exists()


def test_missing_packages_and_unreadable_libraries_are_reported_with_the_rest(
    packages: Path, cuobjdump: str, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    shutil.copytree(packages, site)
    (site / "hostonly").mkdir()
    host_only = site / "hostonly" / "_C.so"
    gcc = tool("gcc")
    subprocess.run(
        [gcc, "-shared", "-fPIC", "-x", "c", os.devnull, "-o", str(host_only)], check=True
    )
    result = run(
        site, cuobjdump, "--arch-list", "8.6", "not_installed", "hostonly", "ampere", "only86"
    )
    assert result.returncode == 1
    problems = [line.strip() for line in result.stderr.splitlines()[1:]]
    assert result.stderr.startswith("architecture check failed, 3 problems:")
    assert len(problems) == 3
    assert problems[0] == "- package 'not_installed' is not installed"
    assert problems[1].startswith(f"- {site / 'hostonly' / '_C.so'}: cuobjdump --list-elf failed")
    assert "does not contain device code" in problems[1]
    assert problems[2].startswith(f"- {site / 'ampere' / LIBRARY} was built for")
    # the library that matches is still checked and reported as fine
    assert f"ok: {site / 'only86' / LIBRARY} has {SM86}" in result.stdout


def test_a_library_without_gpu_code_fails(packages: Path, cuobjdump: str, tmp_path: Path) -> None:
    (tmp_path / "hostonly").mkdir()
    library = tmp_path / "hostonly" / "_C.so"
    subprocess.run(
        [tool("gcc"), "-shared", "-fPIC", "-x", "c", os.devnull, "-o", str(library)], check=True
    )
    result = run(tmp_path, cuobjdump, "--arch-list", "8.6", "hostonly")
    assert result.returncode == 1
    assert "does not contain device code" in result.stderr


def test_family_targets_are_matched_by_their_family(
    family_packages: Path, cuobjdump: str, tmp_path: Path
) -> None:
    arch_list = FAMILY["blackwell_f"][0]
    manifest = tmp_path / "manifest.json"
    result = run(
        family_packages, cuobjdump, "--arch-list", arch_list, "--manifest", str(manifest),
        "blackwell_f",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (library,) = json.loads(manifest.read_text())["extensions"]["blackwell_f"]["libraries"].values()
    assert library["ptx"] == ["10.0f"]
    # PTX for the family is not arch-specific PTX
    result = run(family_packages, cuobjdump, "--arch-list", "10.0a+PTX", "blackwell_f")
    assert result.returncode == 1
    assert "compute_100f" in result.stderr
    assert "asks for machine code [sm_100a], PTX [compute_100a]" in result.stderr


def test_a_missing_package_is_named(packages: Path, cuobjdump: str) -> None:
    result = run(packages, cuobjdump, "--arch-list", "8.6", "not_installed")
    assert result.returncode == 1
    assert "package 'not_installed' is not installed" in result.stderr


# Usage errors come before any library is read: they need neither the fixtures nor cuobjdump.
def test_no_arch_list_is_a_usage_error() -> None:
    env_without = {k: v for k, v in os.environ.items() if k != "TORCH_CUDA_ARCH_LIST"}
    result = subprocess.run(
        [sys.executable, check_archs.__file__, "only86"], env=env_without, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "no architecture list" in result.stderr


@pytest.mark.parametrize(
    ("arch_list", "bad"), [("sm_86", "sm_86"), ("8.6;Ampere", "Ampere"), ("8.6+ptx", "8.6+ptx")]
)
def test_an_unreadable_arch_list_is_a_usage_error(tmp_path: Path, arch_list: str, bad: str) -> None:
    result = run(tmp_path, "no-cuobjdump", "--arch-list", arch_list, "only86")
    assert result.returncode == 2
    assert f"{bad!r} is not understood" in result.stderr
    assert "9.0a" in result.stderr  # says what is allowed


def test_a_commit_without_a_sha_is_a_usage_error(tmp_path: Path) -> None:
    result = run(tmp_path, "no-cuobjdump", "--arch-list", "8.6", "--commit", "only86", "only86")
    assert result.returncode == 2
    assert "invalid --commit 'only86': write PACKAGE=SHA" in result.stderr


@pytest.mark.parametrize(
    ("arch_list", "sass", "ptx"),
    [
        ("8.6", {"8.6"}, set()),
        ("8.0;8.6+PTX", {"8.0", "8.6"}, {"8.6"}),
        ("7.5 8.0", {"7.5", "8.0"}, set()),
        ("8.6, 8.9", {"8.6", "8.9"}, set()),
        ("9.0a", {"9.0a"}, set()),
        ("9.0;9.0a+PTX", {"9.0", "9.0a"}, {"9.0a"}),
        ("10.0f 12.0a", {"10.0f", "12.0a"}, set()),
    ],
)
def test_expected_targets_follow_torch(arch_list: str, sass: set, ptx: set) -> None:
    assert check_archs.expected_targets(arch_list) == check_archs.Targets(
        frozenset(sass), frozenset(ptx)
    )
