"""A CUDA toolkit folder (a CUDA_HOME) made of NVIDIA's wheels from PyPI.

    python -m tools.cuda_toolchain --prefix DIR [--cuda 13.0] [--compiler-only]

DIR gets the layout of an installed toolkit: ``bin/`` (nvcc, ptxas, cudafe++, fatbinary,
nvlink, cuobjdump), ``nvvm/`` (cicc, libdevice), ``include/`` and ``lib64/`` (with the
unversioned ``libcudart.so`` a linker looks for). nvcc finds its parts relative to its own
folder (``bin/nvcc.profile``), so DIR works wherever it lies: put ``DIR/bin`` on PATH, or
set ``CUDA_HOME=DIR`` for torch's extension builder. Everything is one ``pip install`` of
the ``cuda-toolkit`` meta-package's components, so pip's own settings (index, proxy) apply.

PyPI has a complete nvcc from CUDA 13 on only: every ``nvidia-cuda-nvcc-cu12`` wheel (12.0
to 12.9) holds ``ptxas``, libNVVM and nvcc's headers but no nvcc, cicc, cudafe++ or
fatbinary. For CUDA 12.4 (what a torch built with CUDA 12 needs: its extension builder
wants nvcc's major version) those programs come from Debian's package of that release
(non-free ``nvidia-cuda-toolkit``), and CCCL's headers from Debian's ``cccl`` 2.3.2 (the
12.4 wheel of CCCL lacks libcu++'s ``cuda/__cccl_config``); each file is checked against
its sha256 here.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CUDA = "13.0"
# The first release whose nvcc wheel is a whole compiler.
FIRST_MAJOR = 13
# cuda-toolkit's extras that nvcc needs to compile and link a kernel library.
COMPILER = ("nvcc", "crt", "nvvm", "cudart")
# ... and what torch's extension builder includes besides: ATen's CUDA headers include
# cuBLAS, cuSPARSE, cuSOLVER, cuRAND, cuFFT and NVTX headers; thrust and cub come with CCCL.
EXTENSIONS = (*COMPILER, "cccl", "cublas", "cusparse", "cusolver", "curand", "cufft", "nvtx")
# CUDA 12's wheels name their extras without crt and nvvm (the nvcc wheel holds both); CCCL
# comes from Debian (see above).
EXTRAS_12 = {"crt": (), "nvvm": (), "cccl": ()}


@dataclass(frozen=True)
class DebianPart:
    """Files of one Debian package (its data archive) placed in the toolkit folder."""

    url: str
    sha256: str
    files: tuple[tuple[str, str], ...]  # member (a file, or a folder's contents) -> place


_POOL = "http://deb.debian.org/debian/pool"
_CUDA_BIN = "./usr/lib/nvidia-cuda-toolkit/bin"
# Debian trixie's packages of CUDA 12.4.1 and of CCCL 2.3.2 (the CCCL of CUDA 12.4).
DEBIAN_PARTS: dict[str, tuple[DebianPart, ...]] = {
    "12.4": (
        DebianPart(
            f"{_POOL}/non-free/n/nvidia-cuda-toolkit/nvidia-cuda-toolkit_12.4.131~12.4.1-2_amd64.deb",
            "cd5fe85aee38d108b315f408a688641478f2402622a10c677478eb7a6c4e5319",
            (
                (f"{_CUDA_BIN}/nvcc", "bin/nvcc"),
                (f"{_CUDA_BIN}/cicc", "nvvm/bin/cicc"),
                (f"{_CUDA_BIN}/crt", "bin/crt"),
                *(
                    (f"./usr/bin/{tool}", f"bin/{tool}")
                    for tool in (
                        "cudafe++",
                        "fatbinary",
                        "nvlink",
                        "bin2c",
                        "cuobjdump",
                        "nvdisasm",
                        "nvprune",
                    )
                ),
            ),
        ),
        *(
            DebianPart(
                f"{_POOL}/main/c/cccl/{name}_2.3.2-2_all.deb",
                digest,
                (("./usr/include", "include"),),
            )
            for name, digest in (
                ("libcu++-dev", "30e911c1909265591b5ea793df0e49e56bed631238b68b3e75c97590c4985686"),
                ("libcub-dev", "4a7e7c24ef2994140e47dba59507db60e281f968f17c18cf1cadc9c27c17c26b"),
                (
                    "libthrust-dev",
                    "61fe44b65834efad9b079452ebec7396d4b37712d251421f4218b3bc652a3147",
                ),
            )
        ),
    ),
}
# nvcc reads the folders of its parts from nvcc.profile beside it (CUDA 13's wheel has one;
# the parts assembled for CUDA 12 get this one, a standard toolkit's).
NVCC_PROFILE = """
TOP              = $(_HERE_)/..
NVVMIR_LIBRARY_DIR = $(TOP)/nvvm/libdevice
LD_LIBRARY_PATH += $(TOP)/lib64:
PATH            += $(TOP)/nvvm/bin:$(_HERE_):
INCLUDES        +=  "-I$(TOP)/include" $(_SPACE_)
LIBRARIES        =+ $(_SPACE_) "-L$(TOP)/lib64/stubs" "-L$(TOP)/lib64"
CUDAFE_FLAGS    +=
PTXAS_FLAGS     +=
"""
# The file that says what a prefix holds: a prefix with the same contents is left as it is.
MARKER = ".cuda-toolchain"


class ToolchainError(Exception):
    """A request that cannot give a toolkit: the message says why and what would."""


def requirements(cuda: str, extras: Sequence[str]) -> list[str]:
    """What pip installs for CUDA ``cuda`` (MAJOR.MINOR): the newest patch release of it."""
    match = re.fullmatch(r"(\d+)\.(\d+)", cuda)
    if match is None:
        raise ToolchainError(f"--cuda {cuda!r}: give a CUDA release as MAJOR.MINOR, e.g. 13.0")
    major = int(match.group(1))
    if cuda in DEBIAN_PARTS:
        wheels = [e for e in extras if e not in EXTRAS_12]
        return [f"cuda-toolkit[{','.join(wheels)}]=={cuda}.*"]
    if major < FIRST_MAJOR:
        raise ToolchainError(
            f"--cuda {cuda}: PyPI has no nvcc for CUDA {major} (its nvidia-cuda-nvcc-cu{major} "
            f"wheels hold ptxas only); choose {', '.join(DEBIAN_PARTS)} (nvcc from Debian) "
            f"or {FIRST_MAJOR}.0 or newer"
        )
    # cuobjdump reads the cubins of any release; its wheels begin at 13.2, so the newest of
    # the major serves every minor.
    return [f"cuda-toolkit[{','.join(extras)}]=={cuda}.*", f"nvidia-cuda-cuobjdump=={major}.*"]


def lay_out(wheels: Path, home: Path) -> None:
    """Turn pip's ``--target`` folder ``wheels`` into the toolkit folder ``home``.

    CUDA 13's wheels share one tree, ``nvidia/cu13/{bin,include,lib,nvvm}``; CUDA 12's have
    one per component (``nvidia/cublas/{include,lib}``), merged here. A toolkit keeps its
    libraries in ``lib64`` (nvcc.profile's ``-L$(TOP)/lib64``, torch's library path) and
    links against unversioned names, which the wheels leave out.
    """
    trees = list((wheels / "nvidia").glob("cu[0-9]*"))
    if len(trees) == 1:
        shutil.move(trees[0], home)
    else:
        home.mkdir()
        for component in sorted((wheels / "nvidia").iterdir()):
            for part in ("bin", "include", "lib", "nvvm"):
                if (component / part).is_dir():
                    shutil.copytree(component / part, home / part, dirs_exist_ok=True)
        (home / "bin").mkdir(exist_ok=True)
        (home / "bin" / "nvcc.profile").write_text(NVCC_PROFILE)
    for stray in home.rglob("__init__.py"):  # the wheels' package markers
        stray.unlink()
    (home / "lib").rename(home / "lib64")
    (home / "lib").symlink_to("lib64")
    for library in (home / "lib64").glob("lib*.so.*"):
        unversioned = library.with_name(library.name.split(".so.")[0] + ".so")
        if not unversioned.exists():
            unversioned.symlink_to(library.name)


def _data_members(deb: bytes) -> tarfile.TarFile:
    """The data archive of a Debian package (an ar archive of tar files)."""
    if not deb.startswith(b"!<arch>\n"):
        raise ToolchainError("not a Debian package")
    offset = 8
    while offset < len(deb):
        header = deb[offset : offset + 60]
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
        if name.startswith("data.tar"):
            data = deb[offset + 60 : offset + 60 + size]
            return tarfile.open(fileobj=io.BytesIO(data))
        offset += 60 + size + size % 2
    raise ToolchainError("a Debian package without data.tar")


def add_debian_parts(home: Path, parts: Sequence[DebianPart]) -> None:
    """Download each package, check its sha256, and place the files it gives."""
    for part in parts:
        with urllib.request.urlopen(part.url, timeout=60) as response:
            deb = response.read()
        if (digest := hashlib.sha256(deb).hexdigest()) != part.sha256:
            raise ToolchainError(f"{part.url}: sha256 {digest}, expected {part.sha256}")
        with tempfile.TemporaryDirectory() as unpacked, _data_members(deb) as data:
            # the archive's sha256 is checked; Pythons before 3.11.4 have no filters
            safe = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
            data.extractall(unpacked, **safe)
            for member, place in part.files:
                source, target = Path(unpacked) / member, home / place
                target.parent.mkdir(parents=True, exist_ok=True)
                if source.is_dir():  # merged into what the wheels gave
                    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
                else:
                    shutil.copy2(source, target)


def install(prefix: Path, cuda: str = DEFAULT_CUDA, *, extras: Sequence[str] = EXTENSIONS) -> Path:
    """Make ``prefix`` a CUDA toolkit of release ``cuda`` and return it (the CUDA_HOME).

    A prefix that already holds the same toolkit is left as it is; one that holds another
    is replaced; any other non-empty folder is refused. The toolkit is assembled beside
    ``prefix`` and moved into place at the end, so a failure leaves no half-made toolkit.
    """
    wanted = requirements(cuda, extras)
    prefix = prefix.absolute()
    marker = prefix / MARKER
    if marker.is_file() and marker.read_text().splitlines() == wanted:
        return prefix
    if prefix.exists() and not marker.is_file() and any(prefix.iterdir()):
        raise ToolchainError(f"--prefix {prefix}: not empty and not a toolkit made here")
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=prefix.parent, prefix=f".{prefix.name}.") as work:
        wheels, home = Path(work) / "wheels", Path(work) / "home"
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        command = [*pip, "--only-binary=:all:", "--no-compile", "--target", str(wheels), *wanted]
        if subprocess.run(command).returncode != 0:
            raise ToolchainError(f"pip could not install {' '.join(wanted)} (its message above)")
        lay_out(wheels, home)
        add_debian_parts(home, DEBIAN_PARTS.get(cuda, ()))
        check(home)
        (home / MARKER).write_text("\n".join(wanted) + "\n")
        if prefix.exists():
            shutil.rmtree(prefix)
        home.rename(prefix)
    return prefix


def check(home: Path) -> None:
    """nvcc in ``home`` runs: the layout is whole."""
    nvcc = home / "bin" / "nvcc"
    result = subprocess.run([nvcc, "--version"], capture_output=True, text=True)
    if result.returncode != 0:
        raise ToolchainError(f"{nvcc} --version failed: {result.stderr.strip()}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.cuda_toolchain",
        description="Install a CUDA toolkit (nvcc, headers, libraries) from PyPI into a folder.",
    )
    parser.add_argument("--prefix", type=Path, required=True, help="the folder: the CUDA_HOME")
    parser.add_argument(
        "--cuda", default=DEFAULT_CUDA, help="CUDA release, MAJOR.MINOR (12.4, or 13.0+)"
    )
    parser.add_argument(
        "--compiler-only",
        action="store_true",
        help="nvcc, the CUDA runtime and cuobjdump only (no cuBLAS and friends, no CCCL)",
    )
    args = parser.parse_args(argv)
    try:
        home = install(
            args.prefix, args.cuda, extras=COMPILER if args.compiler_only else EXTENSIONS
        )
    except ToolchainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
