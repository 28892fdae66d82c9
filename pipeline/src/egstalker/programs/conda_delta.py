"""The files and folders the builder removed from the base's conda environment, and their removal.

    python conda_delta.py removed BASE BUILT   # prints paths in BASE that BUILT lacks
    python conda_delta.py apply LIST ROOT      # deletes those paths under ROOT
    python conda_delta.py apply LIST ROOT --bases RESULT --built BUILT --delta DELTA

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

All of that holds only when the runtime base's environment is the devel base's. With
``--bases`` (the result of ``compare_bases.py compare``) saying they differ, ``apply``
instead makes ROOT the builder's environment BUILT, file by file, except the files of
DELTA (what the builder added or changed), which the pipeline copies in next: whatever
ROOT holds that BUILT lacks is deleted, and whatever differs is copied from BUILT.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

USAGE = (
    "usage: python conda_delta.py removed BASE BUILT | "
    "apply LIST ROOT [--bases RESULT --built BUILT --delta DELTA]"
)


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


def _same(left: Path, right: Path) -> bool:
    """Whether two entries are the same link, or files of the same mode and bytes."""
    if left.is_symlink() or right.is_symlink():
        return left.is_symlink() and right.is_symlink() and os.readlink(left) == os.readlink(right)
    if not (left.is_file() and right.is_file()):
        return False
    if left.stat().st_mode != right.stat().st_mode:
        return False
    return filecmp.cmp(left, right, shallow=False)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def mirror(built: Path, root: Path, delta: Path) -> tuple[int, int]:
    """Make ``root`` hold what ``built`` holds, but leave the paths of ``delta`` alone.

    Returns how many entries were deleted and how many copied. Links are copied as links,
    files with their modes and times.
    """
    for tree in (built, root, delta):
        if not tree.is_dir():
            raise SystemExit(f"conda_delta.py: {tree} is not a folder; {USAGE}")
    wanted = set(entries(built))
    skipped = {e for e in entries(delta) if not e.endswith("/")}
    deleted = copied = 0
    for entry in sorted(set(entries(root)) - wanted, key=len, reverse=True):
        target = root / entry.rstrip("/")
        if target.is_symlink() or target.exists():
            _remove(target)
            deleted += 1
    for entry in sorted(wanted):
        source, target = built / entry.rstrip("/"), root / entry.rstrip("/")
        if entry.endswith("/"):
            if target.is_symlink() or (target.exists() and not target.is_dir()):
                _remove(target)
            target.mkdir(parents=True, exist_ok=True)
            continue
        if entry in skipped or _same(source, target):
            continue
        if target.is_symlink() or target.exists():
            _remove(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
        copied += 1
    return deleted, copied


def bases_identical(result: Path) -> bool:
    """What ``compare_bases.py compare --result`` found: True when both bases are alike."""
    try:
        identical = json.loads(result.read_text())["identical"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SystemExit(
            f"conda_delta.py: cannot read the bases' comparison {result}: {err}"
        ) from err
    return bool(identical)


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], usage=USAGE)
    commands = main_parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("removed", help="list what BUILT lacks of BASE")
    listing.add_argument("base", type=Path)
    listing.add_argument("built", type=Path)
    applying = commands.add_parser("apply", help="remove the listed paths under ROOT")
    applying.add_argument("listing", type=Path)
    applying.add_argument("root", type=Path)
    applying.add_argument("--bases", type=Path, help="compare_bases.py's result")
    applying.add_argument("--built", type=Path, help="the builder's environment")
    applying.add_argument("--delta", type=Path, help="what the builder added or changed")
    return main_parser


def main(argv: list[str]) -> int:
    args_parser = parser()
    if not argv:
        print(USAGE, file=sys.stderr)
        return 2
    args = args_parser.parse_args(argv)
    if args.command == "removed":
        for path in removed(args.base, args.built):
            print(path)
        return 0
    given = [args.bases, args.built, args.delta]
    if any(given) and not all(given):
        args_parser.error("give --bases, --built and --delta together")
    if args.bases and not bases_identical(args.bases):
        deleted, copied = mirror(args.built, args.root, args.delta)
        print(
            f"the bases differ: {args.root} made the builder's environment, {deleted} "
            f"entrie(s) deleted and {copied} copied (the builder's changes follow)"
        )
        return 0
    files, folders, kept = apply(args.listing, args.root)
    print(
        f"removed {files} file(s) and {folders} folder(s) the builder had removed from {args.root}"
    )
    for folder in kept:
        print(f"kept {folder}: the builder removed it, but here it holds files it did not list")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
