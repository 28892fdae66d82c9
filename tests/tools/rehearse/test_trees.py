"""tools.rehearse.trees: the engine's filter, copy and diff semantics, on real folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools.rehearse.trees import copy_tree, diff_tree, matches


@pytest.mark.parametrize(
    ("patterns", "path", "expected"),
    [
        (["build"], "build", True),
        (["build"], "build/lib/x.so", True),  # a folder's contents go with it
        (["build"], "src/build", False),  # a bare name is anchored at the top
        (["**/*.so"], "a/b/_C.so", True),
        (["**/*.so"], "_C.so", True),
        (["*.egg-info"], "simple_knn.egg-info/PKG-INFO", True),
        (["*.egg-info"], "sub/x.egg-info", False),
        (["**/__pycache__"], "scene/__pycache__/a.pyc", True),
        ([".git"], ".github/workflows/ci.yml", False),
    ],
)
def test_patterns_match_a_path_or_a_folder_above_it(
    patterns: list[str], path: str, expected: bool
) -> None:
    assert matches(patterns, path) is expected


def make(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def listing(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir()}


def test_copy_merges_filters_and_keeps_links(tmp_path: Path) -> None:
    source = make(tmp_path / "src", {"a.py": "a", "build/x.o": "o", "pkg/_C.so": "so"})
    (source / "link").symlink_to("a.py")
    os.link(source / "a.py", source / "hard.py")
    target = make(tmp_path / "dst", {"kept.txt": "mine"})

    copy_tree(source, target, exclude=["build", "**/*.so"])

    assert listing(target) == {"a.py", "hard.py", "link", "kept.txt"}
    assert os.readlink(target / "link") == "a.py"
    assert (target / "a.py").stat().st_ino == (target / "hard.py").stat().st_ino


def test_copy_with_include_takes_only_the_matches_and_their_folders(tmp_path: Path) -> None:
    source = make(tmp_path / "src", {"a/b/keep.json": "k", "a/drop.txt": "d", "top.json": "t"})
    copy_tree(source, tmp_path / "dst", include=["**/*.json"])
    assert listing(tmp_path / "dst") == {"a/b/keep.json", "top.json"}


@pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")
def test_an_owner_owns_every_copied_entry_and_the_target(tmp_path: Path) -> None:
    source = make(tmp_path / "src", {"d/f": "x"})
    copy_tree(source, tmp_path / "dst", owner=(1000, 1000))
    for path in (tmp_path / "dst", tmp_path / "dst" / "d", tmp_path / "dst" / "d" / "f"):
        assert (path.stat().st_uid, path.stat().st_gid) == (1000, 1000)


def test_diff_holds_what_was_added_or_changed_with_its_folders(tmp_path: Path) -> None:
    lower = make(tmp_path / "lower", {"same.txt": "s", "lib/old.py": "1", "gone.txt": "g"})
    upper = tmp_path / "upper"
    copy_tree(lower, upper)
    (upper / "lib" / "old.py").write_text("22")
    make(upper, {"lib/new/mod.py": "n"})
    (upper / "gone.txt").unlink()

    changed = diff_tree(lower, upper, tmp_path / "out")

    assert listing(tmp_path / "out") == {"lib/old.py", "lib/new/mod.py"}
    assert (tmp_path / "out" / "lib" / "old.py").read_text() == "22"
    assert changed == 3  # old.py, the new folder, mod.py: deletions are not carried
