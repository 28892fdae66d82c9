"""Check the GPU code of compiled extensions against the requested architectures.

Runs in the devel builder after the extensions are installed:

    python check_archs.py --arch-list "8.0;8.6+PTX" --manifest /opt/egstalker/manifest.json \
        --commit simple_knn=<sha> simple_knn diff_gaussian_rasterization

For each package it lists the machine code (``cuobjdump --list-elf``) and PTX
(``--list-ptx``) of every shared library, and fails, naming the file and both lists, when
they differ from what ``TORCH_CUDA_ARCH_LIST`` asked for. On success it writes the build
manifest: the architecture list, each extension's architectures, the commits and the
torch, CUDA and Python versions. Standard library only: it also runs where torch is absent.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_TARGET = re.compile(r"\.sm_(\d+)[a-z]?\.(cubin|ptx)\b")


@dataclass(frozen=True)
class Targets:
    """The GPU code in one library: machine code and PTX, as capability strings like '8.6'."""

    sass: frozenset[str]
    ptx: frozenset[str]

    def describe(self) -> str:
        sass = ", ".join(f"sm_{c.replace('.', '')}" for c in sorted(self.sass)) or "none"
        ptx = ", ".join(f"compute_{c.replace('.', '')}" for c in sorted(self.ptx)) or "none"
        return f"machine code [{sass}], PTX [{ptx}]"


class ArchMismatch(Exception):
    """The compiled code differs from the requested architectures."""


def expected_targets(arch_list: str) -> Targets:
    """What torch's builder emits for a TORCH_CUDA_ARCH_LIST: sm for each, PTX for '+PTX'."""
    entries = [e for e in re.split(r"[;\s]+", arch_list.strip()) if e]
    sass = frozenset(e.removesuffix("+PTX") for e in entries)
    ptx = frozenset(e.removesuffix("+PTX") for e in entries if e.endswith("+PTX"))
    return Targets(sass, ptx)


def _capability(sm: str) -> str:
    return f"{sm[:-1]}.{sm[-1]}"


def parse_listing(listing: str, kind: str) -> frozenset[str]:
    """Capabilities named by ``cuobjdump --list-elf`` (kind 'cubin') or ``--list-ptx`` ('ptx')."""
    return frozenset(_capability(m[1]) for m in _TARGET.finditer(listing) if m[2] == kind)


def list_targets(cuobjdump: str, library: Path) -> Targets:
    """Run cuobjdump on one library; a library without device code is an error."""
    listings = {}
    for flag in ("--list-elf", "--list-ptx"):
        result = subprocess.run(
            [cuobjdump, flag, str(library)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            reason = (result.stderr or result.stdout).strip()
            raise ArchMismatch(f"{library}: cuobjdump {flag} failed: {reason}")
        listings[flag] = result.stdout
    return Targets(
        parse_listing(listings["--list-elf"], "cubin"),
        parse_listing(listings["--list-ptx"], "ptx"),
    )


def compare(library: Path, expected: Targets, found: Targets) -> None:
    if found != expected:
        raise ArchMismatch(
            f"{library} was built for {found.describe()}, "
            f"but the architecture list asks for {expected.describe()}"
        )


def package_libraries(package: str) -> list[Path]:
    """The shared libraries inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ArchMismatch(f"package {package!r} is not installed")
    libraries = sorted(
        p for folder in spec.submodule_search_locations for p in Path(folder).rglob("*.so")
    )
    if not libraries:
        raise ArchMismatch(f"package {package!r} holds no compiled library")
    return libraries


def find_cuobjdump(explicit: str | None) -> str:
    candidates = [explicit] if explicit else ["cuobjdump"]
    if not explicit and os.environ.get("CUDA_HOME"):
        candidates.append(str(Path(os.environ["CUDA_HOME"], "bin", "cuobjdump")))
    candidates.append("/usr/local/cuda/bin/cuobjdump")
    for candidate in candidates:
        if found := shutil.which(candidate):
            return found
    raise ArchMismatch(f"cuobjdump not found (looked for {', '.join(candidates)})")


def runtime_versions() -> dict[str, str | None]:
    """torch's own version and CUDA, and Python's; torch is absent only outside the images."""
    try:
        import torch  # only the images have it
    except ImportError:
        return {"torch": None, "cuda": None, "python": platform.python_version()}
    return {
        "torch": importlib.metadata.version("torch"),
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
    }


def build_manifest(
    arch_list: str,
    extensions: dict[str, dict[str, Targets]],
    commits: dict[str, str],
    versions: dict[str, str | None],
) -> dict:
    return {
        "arch_list": arch_list,
        "extensions": {
            package: {
                "commit": commits.get(package),
                "libraries": {
                    name: {"sass": sorted(t.sass), "ptx": sorted(t.ptx)}
                    for name, t in libraries.items()
                },
            }
            for package, libraries in extensions.items()
        },
        "versions": versions,
    }


def check(arch_list: str, packages: list[str], cuobjdump: str) -> dict[str, dict[str, Targets]]:
    """Every library of every package, checked; returns what was found."""
    expected = expected_targets(arch_list)
    found: dict[str, dict[str, Targets]] = {}
    for package in packages:
        found[package] = {}
        for library in package_libraries(package):
            targets = list_targets(cuobjdump, library)
            compare(library, expected, targets)
            found[package][library.name] = targets
            print(f"ok: {library} has {targets.describe()}", flush=True)
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="+", help="installed packages to check")
    parser.add_argument(
        "--arch-list",
        default=os.environ.get("TORCH_CUDA_ARCH_LIST", ""),
        help="expected architectures (default: $TORCH_CUDA_ARCH_LIST)",
    )
    parser.add_argument("--manifest", type=Path, help="where to write the build manifest")
    parser.add_argument(
        "--commit", action="append", default=[], metavar="PACKAGE=SHA", help="source commits"
    )
    parser.add_argument("--cuobjdump", help="cuobjdump to use (default: from PATH or CUDA)")
    args = parser.parse_args(argv)
    if not args.arch_list.strip():
        parser.error("no architecture list: pass --arch-list or set TORCH_CUDA_ARCH_LIST")
    commits = dict(c.split("=", 1) for c in args.commit)
    try:
        found = check(args.arch_list, args.packages, find_cuobjdump(args.cuobjdump))
    except ArchMismatch as err:
        print(f"architecture check failed: {err}", file=sys.stderr)
        return 1
    if args.manifest:
        manifest = build_manifest(args.arch_list, found, commits, runtime_versions())
        args.manifest.parent.mkdir(parents=True, exist_ok=True)
        args.manifest.write_text(json.dumps(manifest, indent=2) + "\n")
        print(f"manifest written to {args.manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
