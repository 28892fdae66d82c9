"""A CUDA toolkit folder (a CUDA_HOME) made of NVIDIA's wheels from PyPI.

    python -m tools.cuda_toolchain --prefix DIR [--cuda 13.0] [--compiler-only]

DIR gets the layout of an installed toolkit: ``bin/`` (nvcc, ptxas, cudafe++, fatbinary,
nvlink, cuobjdump), ``nvvm/`` (cicc, libdevice), ``include/`` and ``lib64/`` (with the
unversioned ``libcudart.so`` a linker looks for). nvcc finds its parts relative to its own
folder (``bin/nvcc.profile``), so DIR works wherever it lies: put ``DIR/bin`` on PATH, or
set ``CUDA_HOME=DIR`` for torch's extension builder. Everything is one ``pip install`` of
the ``cuda-toolkit`` meta-package's components, so pip's own settings (index, proxy) apply.

PyPI has a complete nvcc from CUDA 13 on only: every ``nvidia-cuda-nvcc-cu12`` wheel (12.0
to 12.9) holds ``ptxas`` and libNVVM but no nvcc, cicc, cudafe++ or fatbinary.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

DEFAULT_CUDA = "13.0"
# The first release whose nvcc wheel is a whole compiler.
FIRST_MAJOR = 13
# cuda-toolkit's extras that nvcc needs to compile and link a kernel library.
COMPILER = ("nvcc", "crt", "nvvm", "cudart")
# ... and what torch's extension builder includes besides: ATen's CUDA headers include
# cuBLAS, cuSPARSE, cuSOLVER, cuRAND, cuFFT and NVTX headers; thrust and cub come with CCCL.
EXTENSIONS = (*COMPILER, "cccl", "cublas", "cusparse", "cusolver", "curand", "cufft", "nvtx")
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
    if major < FIRST_MAJOR:
        raise ToolchainError(
            f"--cuda {cuda}: PyPI has no nvcc for CUDA {major} (its nvidia-cuda-nvcc-cu{major} "
            f"wheels hold ptxas only); choose {FIRST_MAJOR}.0 or newer"
        )
    # cuobjdump reads the cubins of any release; its wheels begin at 13.2, so the newest of
    # the major serves every minor.
    return [f"cuda-toolkit[{','.join(extras)}]=={cuda}.*", f"nvidia-cuda-cuobjdump=={major}.*"]


def lay_out(wheels: Path, home: Path) -> None:
    """Turn pip's ``--target`` folder ``wheels`` into the toolkit folder ``home``.

    CUDA 13's wheels share one tree, ``nvidia/cu13/{bin,include,lib,nvvm}``; a toolkit keeps
    its libraries in ``lib64`` (nvcc.profile's ``-L$(TOP)/lib64``, torch's library path) and
    links against unversioned names, which the wheels leave out.
    """
    (tree,) = (wheels / "nvidia").glob("cu[0-9]*")
    shutil.move(tree, home)
    for stray in home.rglob("__init__.py"):  # the wheels' package markers
        stray.unlink()
    (home / "lib").rename(home / "lib64")
    (home / "lib").symlink_to("lib64")
    for library in (home / "lib64").glob("lib*.so.*"):
        unversioned = library.with_name(library.name.split(".so.")[0] + ".so")
        if not unversioned.exists():
            unversioned.symlink_to(library.name)


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
    parser.add_argument("--cuda", default=DEFAULT_CUDA, help="CUDA release, MAJOR.MINOR (13.0+)")
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
