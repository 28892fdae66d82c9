"""Check that a runtime image holds no compiler, no build tool and no build leftovers.

    python check_runtime.py [--image-root DIR] [ROOT ...]

Fails when gcc, g++, cc, c++ or nvcc is on PATH, or uv (the builder's installer, a build
tool that never belongs in an image), or when a ROOT (what the build put into the image;
default: the Python's site-packages, the app and the pipeline's folder) holds object
files, ninja build files, setuptools build trees or an installed uv, or when an
installer's cache is left in the image: a non-empty ``.cache/pip`` or ``.cache/uv`` in
root's home or in any home under ``/home``. Those homes are looked for under
``--image-root`` (default ``/``), never through ``$HOME``, so the result depends on the
image alone, whoever runs the check. Prints one line per finding and exits 1 if there is
any.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import sysconfig
from collections.abc import Iterable, Iterator
from pathlib import Path

COMPILERS = ("gcc", "g++", "cc", "c++", "nvcc")
BUILD_TOOLS = ("uv", "uvx")  # the builder's installer: mounted for its installs only
LEFTOVER_FILES = ("*.o", "*.obj", ".ninja_log", ".ninja_deps", "build.ninja")
# setuptools' build/temp.<platform>-<python>; uv installed as a Python package
LEFTOVER_DIRS = ("temp.linux-*", "uv-[0-9]*.dist-info")
DEFAULT_ROOTS = (sysconfig.get_paths()["purelib"], "/workspace/egstalker", "/opt/egstalker")
# Where the installers leave their caches, relative to the image's root: root's home and
# every user's.
INSTALLER_CACHES = {
    "pip": ("root/.cache/pip", "home/*/.cache/pip"),
    "uv": ("root/.cache/uv", "home/*/.cache/uv"),
}


def on_path(names: Iterable[str], path: str | None = None) -> list[str]:
    return [f"{name} at {found}" for name in names if (found := shutil.which(name, path=path))]


def compilers_on_path(path: str | None = None) -> list[str]:
    return on_path(COMPILERS, path)


def leftovers(roots: Iterable[Path]) -> Iterator[Path]:
    for root in roots:
        if not root.exists():
            continue
        for pattern in LEFTOVER_FILES:
            yield from (p for p in root.rglob(pattern) if p.is_file())
        for pattern in LEFTOVER_DIRS:
            yield from (p for p in root.rglob(pattern) if p.is_dir())


def caches(image_root: Path, patterns: Iterable[str]) -> list[Path]:
    """The non-empty caches under ``image_root`` (root's and the users' homes)."""
    found = {p for pattern in patterns for p in image_root.glob(pattern)}
    return sorted(p for p in found if p.is_dir() and any(p.iterdir()))


def findings(roots: Iterable[Path], image_root: Path, path: str | None = None) -> list[str]:
    found = [f"compiler on PATH: {c}" for c in compilers_on_path(path)]
    found += [f"build tool on PATH: {t}" for t in on_path(BUILD_TOOLS, path)]
    found += [f"build leftover: {p}" for p in sorted(set(leftovers(roots)))]
    for installer, patterns in INSTALLER_CACHES.items():
        found += [f"{installer} cache left in the image: {p}" for p in caches(image_root, patterns)]
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "roots", nargs="*", type=Path, metavar="ROOT", help="folders to search for leftovers"
    )
    parser.add_argument(
        "--image-root",
        type=Path,
        default=Path("/"),
        metavar="DIR",
        help="the image's root, under which root/ and home/*/ are searched for pip caches",
    )
    args = parser.parse_args(argv)
    if not args.image_root.is_dir():
        parser.error(f"invalid --image-root {str(args.image_root)!r}: it is not a folder")
    roots = args.roots or [Path(r) for r in DEFAULT_ROOTS]
    found = findings(roots, args.image_root)
    for line in found:
        print(line)
    if found:
        print(f"runtime hygiene check failed: {len(found)} finding(s)", file=sys.stderr)
        return 1
    checked = ", ".join(map(str, roots))
    print(
        f"runtime hygiene ok: no compiler or build tool (uv) on PATH, nothing left over in "
        f"{checked}, no pip or uv cache under {args.image_root}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
