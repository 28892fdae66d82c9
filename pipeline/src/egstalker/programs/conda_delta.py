"""The files and folders the builder removed from the base's conda environment, and their removal.

    python conda_delta.py removed BASE BUILT   # prints paths in BASE that BUILT lacks
    python conda_delta.py apply LIST ROOT      # deletes those paths under ROOT

The runtime image receives what the builder added to /opt/conda as a directory diff,
which carries no deletions. When pip replaces a package of the base (a newer tqdm,
say), the old version's files are gone from the builder but still in the runtime base;
``apply`` removes them there, so both environments end up alike.

The listing holds one path relative to the root per line: files and links as they are,
folders with a trailing ``/``. A folder is listed only when the builder has no folder
there any more (``tqdm-4.65.0.dist-info/``): one that the builder emptied but kept stays.
``apply`` deletes the listed files, then each listed folder that is empty once they are
gone, deepest first. A listed folder that still holds something (files the devel base
did not have) is kept and named. An empty ``*.dist-info`` folder left behind would make
``importlib.metadata.version()`` return None for the package.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

USAGE = "usage: python conda_delta.py removed BASE BUILT | apply LIST ROOT"


def entries(root: Path) -> Iterator[str]:
    """Relative paths under ``root``: files and links as they are, folders ending in '/'."""
    for path in root.rglob("*"):
        relative = path.relative_to(root).as_posix()
        if path.is_symlink() or path.is_file():
            yield relative
        elif path.is_dir():
            yield relative + "/"


def removed(base: Path, built: Path) -> list[str]:
    """What ``base`` holds and ``built`` does not, files and folders."""
    for tree in (base, built):
        if not tree.is_dir():
            raise SystemExit(f"conda_delta.py: {tree} is not a folder; {USAGE}")
    return sorted(set(entries(base)) - set(entries(built)))


def _inside(root: Path, line: str) -> bool:
    """Whether a listed path lies strictly under ``root`` (its last part is not followed)."""
    resolved_root = root.resolve()
    target = Path(os.path.normpath(resolved_root / line))
    if target == resolved_root:
        return False
    parent = target.parent.resolve()
    return parent == resolved_root or resolved_root in parent.parents


def apply(listing: Path, root: Path) -> tuple[int, int, list[Path]]:
    """Delete the listed files, then the listed folders left empty, under ``root``.

    Returns the number of files and of folders deleted, and the listed folders kept
    because they still hold something. Paths that escape ``root`` are refused.
    """
    try:
        lines = [line for line in listing.read_text().splitlines() if line.strip()]
    except OSError as err:
        raise SystemExit(f"conda_delta.py: cannot read the listing {listing}: {err}") from err
    if not root.is_dir():
        raise SystemExit(f"conda_delta.py: {root} is not a folder; {USAGE}")
    files: list[Path] = []
    folders: list[Path] = []
    for line in lines:
        target = root / line
        if line.startswith("/") or not _inside(root, line):
            raise SystemExit(f"conda_delta.py: refusing {line!r}: it leaves {root}")
        (folders if line.endswith("/") else files).append(target)
    deleted_files = 0
    for target in files:
        if target.is_symlink() or target.is_file():
            target.unlink()
            deleted_files += 1
    deleted_folders = 0
    kept: list[Path] = []
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_symlink() or not folder.is_dir():
            continue
        if any(folder.iterdir()):
            kept.append(folder)
            continue
        folder.rmdir()
        deleted_folders += 1
    return deleted_files, deleted_folders, sorted(kept)


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "removed":
        for path in removed(Path(argv[1]), Path(argv[2])):
            print(path)
        return 0
    if len(argv) == 3 and argv[0] == "apply":
        files, folders, kept = apply(Path(argv[1]), Path(argv[2]))
        counts = f"{files} file(s) and {folders} folder(s)"
        print(f"removed {counts} the builder had removed from {argv[2]}")
        for folder in kept:
            print(f"kept {folder}: the builder removed it, but here it holds files it did not list")
        return 0
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
