"""A CUDA toolkit folder (a CUDA_HOME) made of NVIDIA's wheels from PyPI (CUDA 12: Debian's).

    python -m tools.cuda_toolchain --prefix DIR [--cuda 13.0] [--compiler-only]

DIR gets the layout of an installed toolkit: ``bin/`` (nvcc, ptxas, cudafe++, fatbinary,
nvlink, cuobjdump), ``nvvm/`` (cicc, libdevice), ``include/`` and ``lib64/`` (with the
unversioned ``libcudart.so`` a linker looks for). nvcc finds its parts relative to its own
folder (``bin/nvcc.profile``), so DIR works wherever it lies: put ``DIR/bin`` on PATH, or
set ``CUDA_HOME=DIR`` for torch's extension builder. Everything is one ``pip install`` of
the ``cuda-toolkit`` meta-package's components, so pip's own settings (index, proxy) apply.

PyPI has a complete nvcc from CUDA 13 on only: every ``nvidia-cuda-nvcc-cu12`` wheel (12.0
to 12.9) holds ``ptxas`` and libNVVM but no nvcc, cicc, cudafe++ or fatbinary. For a CUDA 12
toolkit (torch builds of CUDA 12 refuse a CUDA 13 nvcc), ``--cuda 12.4`` takes Debian's
packages of it instead (trixie's non-free ``nvidia-cuda-toolkit``, about 1 GB to download):
``apt-get download`` with a sources list of its own, unpacked with ``dpkg-deb``, nothing
installed on the system.
"""

from __future__ import annotations

import argparse
import os
import pwd
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
# CUDA 12 from Debian: the release, its suite, and what a CUDA_HOME needs of it (nvcc and
# the tools; headers and libraries; cicc's libNVVM; the runtime; CCCL's headers).
DEBIAN_CUDA = "12.4"
DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
DEBIAN_SOURCE = (
    f"deb [signed-by={DEBIAN_KEYRING}] http://deb.debian.org/debian trixie main non-free"
)
DEBIAN_PACKAGES = (
    "nvidia-cuda-toolkit", "nvidia-cuda-dev", "libnvvm4", "libcudart12",
    "libcub-dev", "libthrust-dev", "libcu++-dev",
)  # fmt: skip
# nvcc's settings for a toolkit laid out as NVIDIA's own: everything relative to nvcc.
NVCC_PROFILE = """\
TOP              = $(_HERE_)/..
NVVMIR_LIBRARY_DIR = $(TOP)/nvvm/libdevice
LD_LIBRARY_PATH += $(TOP)/lib64:
PATH            += $(TOP)/nvvm/bin:$(_HERE_):
INCLUDES        +=  "-I$(TOP)/include" $(_SPACE_)
LIBRARIES        =+ $(_SPACE_) "-L$(TOP)/lib64/stubs" "-L$(TOP)/lib64"
"""


class ToolchainError(Exception):
    """A request that cannot give a toolkit: the message says why and what would."""


def requirements(cuda: str, extras: Sequence[str]) -> list[str]:
    """What makes CUDA ``cuda`` (MAJOR.MINOR): pip's requirements (the newest patch release of
    it), or for Debian's 12.4 its source and packages (``extras`` do not apply: one package
    holds every header and library)."""
    match = re.fullmatch(r"(\d+)\.(\d+)", cuda)
    if match is None:
        raise ToolchainError(f"--cuda {cuda!r}: give a CUDA release as MAJOR.MINOR, e.g. 13.0")
    if cuda == DEBIAN_CUDA:
        return [DEBIAN_SOURCE, *DEBIAN_PACKAGES]
    major = int(match.group(1))
    if major < FIRST_MAJOR:
        raise ToolchainError(
            f"--cuda {cuda}: PyPI has no nvcc for CUDA {major} (its nvidia-cuda-nvcc-cu{major} "
            f"wheels hold ptxas only); choose {FIRST_MAJOR}.0 or newer, or {DEBIAN_CUDA} "
            "(Debian's packages)"
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


def lay_out_debian(root: Path, home: Path) -> None:
    """Turn the unpacked Debian packages under ``root`` into the toolkit folder ``home``.

    Debian spreads the toolkit over /usr (nvcc and cicc in /usr/lib/nvidia-cuda-toolkit/bin,
    the other tools in /usr/bin, headers in /usr/include, libraries in
    /usr/lib/x86_64-linux-gnu) and points nvcc there by absolute paths (/etc/nvcc.profile):
    the folders move into NVIDIA's layout, and nvcc gets a profile relative to itself.
    """
    toolkit = root / "usr" / "lib" / "nvidia-cuda-toolkit"
    (home / "nvvm" / "bin").mkdir(parents=True)
    shutil.move(toolkit / "bin" / "cicc", home / "nvvm" / "bin")
    shutil.move(toolkit / "libdevice", home / "nvvm")
    (home / "bin").mkdir()
    for name in ("nvcc", "crt"):
        shutil.move(toolkit / "bin" / name, home / "bin")
    for tool in (root / "usr" / "bin").iterdir():  # the ELF tools; /usr/bin/nvcc is a script
        with tool.open("rb") as head:
            if head.read(4) == b"\x7fELF":
                shutil.move(tool, home / "bin")
    (home / "bin" / "nvcc.profile").write_text(NVCC_PROFILE)
    shutil.move(root / "usr" / "include", home / "include")
    shutil.move(root / "usr" / "lib" / "x86_64-linux-gnu", home / "lib64")
    (home / "lib").symlink_to("lib64")


def fetch_debian(work: Path, home: Path) -> None:
    """Download Debian's CUDA packages with apt-get and unpack them into ``home``."""
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise ToolchainError(f"--cuda {DEBIAN_CUDA} needs {tool} (Debian's packages)")
    if not Path(DEBIAN_KEYRING).is_file():
        raise ToolchainError(f"--cuda {DEBIAN_CUDA} needs Debian's archive keys, {DEBIAN_KEYRING}")
    apt = work / "apt"
    for folder in ("lists/partial", "cache/archives/partial", "debs", "root"):
        (apt / folder).mkdir(parents=True)
    (apt / "sources.list").write_text(DEBIAN_SOURCE + "\n")
    settings = [
        f"-oDir::Etc::sourcelist={apt / 'sources.list'}", "-oDir::Etc::sourceparts=/dev/null",
        f"-oDir::State::Lists={apt / 'lists'}", f"-oDir::Cache={apt / 'cache'}",
        # apt's download user (_apt) cannot reach a folder of ours: download as ourselves
        f"-oAPT::Sandbox::User={pwd.getpwuid(os.getuid()).pw_name}",
    ]  # fmt: skip
    for command in (["update", "-qq"], ["download", "-qq", *DEBIAN_PACKAGES]):
        if subprocess.run(["apt-get", *settings, *command], cwd=apt / "debs").returncode != 0:
            raise ToolchainError(f"apt-get {command[0]} failed for {DEBIAN_SOURCE}")
    for package in sorted((apt / "debs").glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(package), str(apt / "root")], check=True)
    lay_out_debian(apt / "root", home)


def fetch_pypi(work: Path, home: Path, wanted: Sequence[str]) -> None:
    """pip-install the wheels into a folder of ``work`` and lay them out in ``home``."""
    wheels = work / "wheels"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command = [*pip, "--only-binary=:all:", "--no-compile", "--target", str(wheels), *wanted]
    if subprocess.run(command).returncode != 0:
        raise ToolchainError(f"pip could not install {' '.join(wanted)} (its message above)")
    lay_out(wheels, home)


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
        home = Path(work) / "home"
        if cuda == DEBIAN_CUDA:
            fetch_debian(Path(work), home)
        else:
            fetch_pypi(Path(work), home, wanted)
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
        description="Install a CUDA toolkit (nvcc, headers, libraries) into a folder.",
    )
    parser.add_argument("--prefix", type=Path, required=True, help="the folder: the CUDA_HOME")
    parser.add_argument(
        "--cuda",
        default=DEFAULT_CUDA,
        help=f"CUDA release, MAJOR.MINOR: 13.0 or newer from PyPI, or {DEBIAN_CUDA} from Debian",
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
