"""Check the GPU code of compiled extensions against the requested architectures.

Runs in the devel builder after the extensions are installed:

    python check_archs.py --arch-list "8.0;8.6+PTX" --manifest /opt/egstalker/manifest.json \
        --commit simple_knn=<sha> simple_knn diff_gaussian_rasterization

For each package it lists the machine code (``cuobjdump --list-elf``) and PTX
(``--list-ptx``) of every shared library and compares them exactly with what
``TORCH_CUDA_ARCH_LIST`` asked for (sm_90, sm_90a and compute_90a are three different
targets). Every library of every package is checked; then it fails once, naming each
wrong library with both lists, each library cuobjdump cannot read and each missing
package. An unreadable architecture list is exit code 2. On success it writes the build
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

# "ELF file    1: name.1.sm_90a.cubin" / "PTX file    1: name.1.sm_86.ptx"
_TARGET = re.compile(r"\.sm_(\d+)([a-z]?)\.(cubin|ptx)\b")
# One TORCH_CUDA_ARCH_LIST entry: 8.6, 9.0a (arch-specific), 10.0f (family), each maybe +PTX.
_ENTRY = re.compile(r"(\d+)\.(\d)([af]?)(\+PTX)?")
_SEPARATORS = re.compile(r"[;,\s]+")
ALLOWED = (
    "entries like 8.6, 9.0a or 10.0f, each optionally with +PTX, separated by ';', ',' or spaces"
)


class BadArchList(ValueError):
    """An architecture list this check cannot read."""


@dataclass(frozen=True)
class Targets:
    """The GPU code in one library, as capability strings like '8.6' or '9.0a'.

    ``sass`` is the machine code (sm_XY[a|f]), ``ptx`` the PTX (compute_XY[a|f]).
    """

    sass: frozenset[str]
    ptx: frozenset[str]

    def describe(self) -> str:
        sass = ", ".join(sm(c) for c in sorted(self.sass, key=_order)) or "none"
        ptx = ", ".join(compute(c) for c in sorted(self.ptx, key=_order)) or "none"
        return f"machine code [{sass}], PTX [{ptx}]"

    def as_listed(self) -> Targets:
        """The names cuobjdump shows: it lists family machine code (sm_100f) as sm_100."""
        return Targets(frozenset(c.removesuffix("f") for c in self.sass), self.ptx)


def _order(capability: str) -> tuple[int, int, str]:
    major, _, rest = capability.partition(".")
    return int(major), int(rest[0]), rest[1:]


def sm(capability: str) -> str:
    """'9.0a' -> 'sm_90a'."""
    return "sm_" + capability.replace(".", "")


def compute(capability: str) -> str:
    """'9.0a' -> 'compute_90a'."""
    return "compute_" + capability.replace(".", "")


class ArchMismatch(Exception):
    """The compiled code differs from the requested architectures."""


def split_arch_list(arch_list: str) -> list[str]:
    """The entries of an architecture list; ';', ',' and whitespace all separate."""
    return [e for e in _SEPARATORS.split(arch_list.strip()) if e]


def expected_targets(arch_list: str) -> Targets:
    """What torch's builder emits for a TORCH_CUDA_ARCH_LIST.

    Each entry X.Y[a|f] gives ``-gencode arch=compute_XY[a|f],code=sm_XY[a|f]``; with
    ``+PTX`` also ``code=compute_XY[a|f]``. The suffix is kept: sm_90a code runs only on
    9.0 GPUs and is not sm_90 code.
    """
    entries = split_arch_list(arch_list)
    if not entries:
        raise BadArchList(f"the architecture list {arch_list!r} is empty; write {ALLOWED}")
    sass: set[str] = set()
    ptx: set[str] = set()
    for entry in entries:
        match = _ENTRY.fullmatch(entry)
        if match is None:
            raise BadArchList(
                f"invalid architecture list {arch_list!r}: {entry!r} is not understood; "
                f"write {ALLOWED}"
            )
        capability = f"{match[1]}.{match[2]}{match[3]}"
        sass.add(capability)
        if match[4]:
            ptx.add(capability)
    return Targets(frozenset(sass), frozenset(ptx))


def _capability(sm_digits: str, suffix: str) -> str:
    return f"{sm_digits[:-1]}.{sm_digits[-1]}{suffix}"


def parse_listing(listing: str, kind: str) -> frozenset[str]:
    """Capabilities named by ``cuobjdump --list-elf`` (kind 'cubin') or ``--list-ptx`` ('ptx')."""
    return frozenset(_capability(m[1], m[2]) for m in _TARGET.finditer(listing) if m[3] == kind)


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
    """Exact comparison: sm_90 is not sm_90a, and neither list may hold more than the other."""
    if found.as_listed() != expected.as_listed():
        raise ArchMismatch(
            f"{library} was built for {found.describe()}, "
            f"but the architecture list asks for {expected.describe()}"
        )


def package_libraries(package: str) -> list[Path]:
    """The shared libraries inside an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError) as err:
        raise ArchMismatch(f"package {package!r} cannot be found: {err}") from err
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


class CheckFailed(Exception):
    """Some libraries are wrong or could not be read; ``problems`` names each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        if len(problems) == 1:
            message = f"architecture check failed: {problems[0]}"
        else:
            lines = "".join(f"\n  - {p}" for p in problems)
            message = f"architecture check failed, {len(problems)} problems:{lines}"
        super().__init__(message)


def check(arch_list: str, packages: list[str], cuobjdump: str) -> dict[str, dict[str, Targets]]:
    """Every library of every package, checked; returns what was found.

    Nothing stops at the first wrong library: every problem (a mismatch, a library
    cuobjdump cannot read, a missing package) is collected and raised at once.
    """
    expected = expected_targets(arch_list)
    found: dict[str, dict[str, Targets]] = {}
    problems: list[str] = []
    for package in packages:
        found[package] = {}
        try:
            libraries = package_libraries(package)
        except ArchMismatch as err:
            problems.append(str(err))
            continue
        for library in libraries:
            try:
                targets = list_targets(cuobjdump, library)
                compare(library, expected, targets)
            except ArchMismatch as err:
                problems.append(str(err))
                continue
            found[package][library.name] = targets
            print(f"ok: {library} has {targets.describe()}", flush=True)
    if problems:
        raise CheckFailed(problems)
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
    try:
        expected_targets(args.arch_list)
    except BadArchList as err:
        parser.error(str(err))
    for commit in args.commit:
        if not commit.partition("=")[2] or not commit.partition("=")[0]:
            parser.error(f"invalid --commit {commit!r}: write PACKAGE=SHA")
    commits = dict(c.split("=", 1) for c in args.commit)
    try:
        found = check(args.arch_list, args.packages, find_cuobjdump(args.cuobjdump))
    except (ArchMismatch, CheckFailed) as err:
        message = str(err)
        if isinstance(err, ArchMismatch):
            message = f"architecture check failed: {message}"
        print(message, file=sys.stderr)
        return 1
    if args.manifest:
        manifest = build_manifest(args.arch_list, found, commits, runtime_versions())
        args.manifest.parent.mkdir(parents=True, exist_ok=True)
        args.manifest.write_text(json.dumps(manifest, indent=2) + "\n")
        print(f"manifest written to {args.manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
