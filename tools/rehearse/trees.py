"""File-tree operations on the host, with the engine's semantics: filter, copy, diff.

``Directory.filter``/``withDirectory`` include and exclude patterns match a path relative
to the copied folder, or any folder above it (``build`` drops the whole ``build`` folder,
``**/*.so`` every ``.so`` at any depth). Copies keep modes, owners, times, symlinks and
hardlinks; an ``owner`` makes every copied entry, and the target folder, that user's.
``diff`` holds what the second tree added or changed over the first, with the folders
above each such entry; deletions are not carried (as ``Directory.diff``).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

Owner = tuple[int, int]


@lru_cache(maxsize=256)
def _pattern(pattern: str) -> re.Pattern[str]:
    parts = []
    for part in pattern.strip("/").split("/"):
        if part == "**":
            parts.append("(?:[^/]+/)*")
            continue
        text = "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in part)
        parts.append(text + "/")
    return re.compile("".join(parts).removesuffix("/"))


def matches(patterns: Sequence[str], relative: str) -> bool:
    """Whether ``relative`` (or a folder above it) matches one of ``patterns``."""
    pieces = relative.split("/")
    prefixes = ["/".join(pieces[: i + 1]) for i in range(len(pieces))]
    return any(_pattern(p).fullmatch(prefix) for p in patterns for prefix in prefixes)


def _may_hold_match(patterns: Sequence[str], folder: str) -> bool:
    """Whether something below ``folder`` could match an include pattern."""
    for pattern in patterns:
        head = pattern.strip("/").split("/")
        depth = folder.count("/") + 1
        if "**" in head[:depth] or len(head) > depth:
            prefix = "/".join(head[:depth])
            if "**" in head[:depth] or _pattern(prefix).fullmatch(folder):
                return True
    return False


def selected(
    root: Path, include: Sequence[str] = (), exclude: Sequence[str] = ()
) -> Iterator[tuple[str, os.stat_result]]:
    """Every entry below ``root`` the patterns keep, folders before their contents."""

    def walk(folder: Path, prefix: str) -> Iterator[tuple[str, os.stat_result]]:
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                relative = f"{prefix}{entry.name}"
                if exclude and matches(exclude, relative):
                    continue
                info = entry.stat(follow_symlinks=False)
                is_dir = stat.S_ISDIR(info.st_mode)
                if include and not matches(include, relative):
                    if is_dir and _may_hold_match(include, relative):
                        children = list(walk(Path(entry.path), f"{relative}/"))
                        if children:
                            yield relative, info
                            yield from children
                    continue
                yield relative, info
                if is_dir:
                    yield from walk(Path(entry.path), f"{relative}/")

    yield from walk(root, "")


def _apply_metadata(path: Path, info: os.stat_result, owner: Owner | None) -> None:
    uid, gid = owner if owner is not None else (info.st_uid, info.st_gid)
    os.lchown(path, uid, gid)
    if not stat.S_ISLNK(info.st_mode):
        os.chmod(path, stat.S_IMODE(info.st_mode))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns), follow_symlinks=False)


def _copy_entry(source: Path, target: Path, info: os.stat_result, links: dict) -> None:
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            target.unlink()
        target.mkdir(exist_ok=True)
        return
    if target.is_symlink() or target.exists():
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
    if stat.S_ISLNK(mode):
        os.symlink(os.readlink(source), target)
    elif stat.S_ISREG(mode):
        key = (info.st_dev, info.st_ino)
        if info.st_nlink > 1 and key in links:
            os.link(links[key], target)
            return
        shutil.copyfile(source, target, follow_symlinks=False)
        links[key] = target
    else:
        os.mknod(target, mode, info.st_rdev)


def copy_tree(
    source: Path,
    target: Path,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    owner: Owner | None = None,
) -> None:
    """Merge ``source``'s contents into ``target`` (created if missing), as ``withDirectory``."""
    target.mkdir(parents=True, exist_ok=True)
    if owner is not None:
        os.lchown(target, *owner)
    links: dict = {}
    folders: list[tuple[Path, os.stat_result]] = []
    for relative, info in selected(source, include, exclude):
        destination = target / relative
        _copy_entry(source / relative, destination, info, links)
        if stat.S_ISDIR(info.st_mode):
            folders.append((destination, info))
        else:
            _apply_metadata(destination, info, owner)
    for folder, info in reversed(folders):  # times last, once the contents are in
        _apply_metadata(folder, info, owner)


def copy_file(
    source: Path, target: Path, owner: Owner | None = None, mode: int | None = None
) -> None:
    """Put one file at ``target`` (its folders created), as ``withFile``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    info = source.stat()
    if target.is_symlink() or target.exists():
        target.unlink()
    shutil.copyfile(source, target)
    _apply_metadata(target, info, owner)
    if mode is not None:
        os.chmod(target, mode)


def _same(a: os.stat_result, b: os.stat_result, a_path: Path, b_path: Path) -> bool:
    if stat.S_IFMT(a.st_mode) != stat.S_IFMT(b.st_mode):
        return False
    if (a.st_mode, a.st_uid, a.st_gid) != (b.st_mode, b.st_uid, b.st_gid):
        return False
    if stat.S_ISLNK(a.st_mode):
        return os.readlink(a_path) == os.readlink(b_path)
    if stat.S_ISDIR(a.st_mode):
        return True
    return (a.st_size, a.st_mtime_ns) == (b.st_size, b.st_mtime_ns)


def diff_tree(lower: Path, upper: Path, out: Path) -> int:
    """Copy into ``out`` what ``upper`` adds or changes over ``lower``; return the count."""
    out.mkdir(parents=True, exist_ok=True)
    links: dict = {}
    changed = 0
    made: set[str] = {""}
    folders: list[tuple[Path, os.stat_result]] = []

    def parents(relative: str) -> None:
        pieces = relative.split("/")[:-1]
        for i in range(len(pieces)):
            folder = "/".join(pieces[: i + 1])
            if folder not in made:
                info = (upper / folder).lstat()
                (out / folder).mkdir(exist_ok=True)
                folders.append((out / folder, info))
                made.add(folder)

    for relative, info in selected(upper):
        before = lower / relative
        try:
            old = before.lstat()
        except FileNotFoundError:
            old = None
        if old is not None and _same(old, info, before, upper / relative):
            continue
        if stat.S_ISDIR(info.st_mode) and old is not None and stat.S_ISDIR(old.st_mode):
            continue  # a folder whose metadata alone changed: its changed entries carry it
        parents(relative)
        _copy_entry(upper / relative, out / relative, info, links)
        changed += 1
        if stat.S_ISDIR(info.st_mode):
            folders.append((out / relative, info))
            made.add(relative)
        else:
            _apply_metadata(out / relative, info, None)
    for folder, info in reversed(folders):
        _apply_metadata(folder, info, None)
    return changed
