"""tools.cuda_toolchain: what it refuses, and the toolkit layout it makes of the wheels' tree.

The real install (pip, nvcc) runs wherever the tests find no nvcc: `.ci/run` and `make test`
put its toolkit on PATH for the CUDA fixture tests, which compile with it.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.tools.command import run_tool
from tools.cuda_toolchain import (
    COMPILER,
    DEBIAN_PARTS,
    EXTENSIONS,
    MARKER,
    DebianPart,
    ToolchainError,
    add_debian_parts,
    install,
    lay_out,
    requirements,
)


def run(*args: str) -> subprocess.CompletedProcess:
    return run_tool("tools.cuda_toolchain", *args)


def test_a_cuda_12_without_a_debian_nvcc_is_refused_with_the_reason(tmp_path: Path) -> None:
    result = run("--prefix", str(tmp_path / "cuda"), "--cuda", "12.1")
    assert result.returncode == 2
    assert result.stderr == (
        "error: --cuda 12.1: PyPI has no nvcc for CUDA 12 (its nvidia-cuda-nvcc-cu12 wheels "
        "hold ptxas only); choose 12.4 (nvcc from Debian) or 13.0 or newer\n"
    )
    assert not (tmp_path / "cuda").exists()


def test_cuda_12_4_takes_the_wheels_but_cccl_and_nvcc_from_debian() -> None:
    assert requirements("12.4", EXTENSIONS) == [
        "cuda-toolkit[nvcc,cudart,cublas,cusparse,cusolver,curand,cufft,nvtx]==12.4.*"
    ]
    parts = DEBIAN_PARTS["12.4"]
    places = {place for part in parts for _, place in part.files}
    assert {"bin/nvcc", "nvvm/bin/cicc", "bin/fatbinary", "bin/cuobjdump", "include"} <= places
    assert all(part.url.startswith("http://deb.debian.org/debian/pool/") for part in parts)


def deb(members: dict[str, bytes]) -> bytes:
    """A Debian package: an ar archive holding debian-binary and a data.tar.xz."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    archive = b"!<arch>\n"
    for name, content in (("debian-binary", b"2.0\n"), ("data.tar.xz", data.getvalue())):
        archive += f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(content):<10}`\n".encode()
        archive += content + b"\n" * (len(content) % 2)
    return archive


def test_a_debian_part_is_checked_then_placed(tmp_path: Path) -> None:
    package = tmp_path / "tool.deb"
    package.write_bytes(deb({"./usr/bin/fatbinary": b"binary", "./usr/include/cub/cub.cuh": b"h"}))
    digest = hashlib.sha256(package.read_bytes()).hexdigest()
    files = (("./usr/bin/fatbinary", "bin/fatbinary"), ("./usr/include", "include"))
    home = tmp_path / "home"
    (home / "include").mkdir(parents=True)
    (home / "include" / "cuda_runtime.h").write_text("from the wheels")

    add_debian_parts(home, [DebianPart(package.as_uri(), digest, files)])

    assert (home / "bin" / "fatbinary").read_bytes() == b"binary"
    assert (home / "include" / "cub" / "cub.cuh").read_bytes() == b"h"
    assert (home / "include" / "cuda_runtime.h").read_text() == "from the wheels"
    with pytest.raises(ToolchainError, match=f"sha256 {digest}, expected {'0' * 64}"):
        add_debian_parts(home, [DebianPart(package.as_uri(), "0" * 64, files)])


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
