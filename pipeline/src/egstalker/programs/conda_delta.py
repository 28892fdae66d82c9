"""The files the builder removed from the base's conda environment, and their removal.

    python conda_delta.py removed BASE BUILT   # prints paths in BASE that BUILT lacks
    python conda_delta.py apply LIST ROOT      # deletes those paths under ROOT

The runtime image receives what the builder added to /opt/conda as a directory diff,
which carries no deletions. When pip replaces a package of the base (a newer PyYAML,
say), the old version's files are gone from the builder but still in the runtime base;
``apply`` removes them there, so both environments end up alike.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path


def entries(root: Path) -> Iterator[str]:
    """Relative paths of the files and links under ``root`` (folders are implied)."""
    for path in root.rglob("*"):
        if path.is_symlink() or path.is_file():
            yield path.relative_to(root).as_posix()


def removed(base: Path, built: Path) -> list[str]:
    return sorted(set(entries(base)) - set(entries(built)))


def apply(listing: Path, root: Path) -> int:
    """Delete the listed paths under ``root``; paths that escape it are refused."""
    count = 0
    resolved_root = root.resolve()
    for line in listing.read_text().splitlines():
        if not line.strip():
            continue
        target = root / line
        if resolved_root not in (target.parent.resolve(), *target.parent.resolve().parents):
            raise SystemExit(f"conda_delta.py: refusing {line!r}: it leaves {root}")
        if target.is_symlink() or target.is_file():
            target.unlink()
            count += 1
    return count


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "removed":
        for path in removed(Path(argv[1]), Path(argv[2])):
            print(path)
        return 0
    if len(argv) == 3 and argv[0] == "apply":
        count = apply(Path(argv[1]), Path(argv[2]))
        print(f"removed {count} file(s) the builder had removed from {argv[2]}")
        return 0
    print("usage: python conda_delta.py removed BASE BUILT | apply LIST ROOT", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
