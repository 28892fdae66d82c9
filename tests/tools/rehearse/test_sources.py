"""tools.rehearse.sources: a commit's files with its submodules, from a local clone."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tools.rehearse.sources import GitTrees


def git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        ["git", "-c", "protocol.file.allow=always", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def repository(path: Path, files: dict[str, str]) -> str:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "c")
    return git(path, "rev-parse", "HEAD")


def test_a_tree_is_the_commits_files_with_its_submodules_at_their_gitlinks(tmp_path: Path) -> None:
    glm = repository(tmp_path / "glm", {"glm/glm.hpp": "// v1"})
    (tmp_path / "glm" / "glm" / "glm.hpp").write_text("// v2, not the pinned one")
    git(tmp_path / "glm", "commit", "-qam", "later")
    ext = tmp_path / "ext"
    modules = (
        '[submodule "glm"]\n\tpath = third_party/glm\n\turl = https://example.invalid/glm.git\n'
    )
    repository(ext, {"setup.py": "# ext", ".gitmodules": modules})
    git(ext, "update-index", "--add", "--cacheinfo", f"160000,{glm},third_party/glm")
    git(ext, "commit", "-qm", "glm at v1")
    pinned = git(ext, "rev-parse", "HEAD")
    (ext / "setup.py").write_text("# later")
    git(ext, "commit", "-qam", "after the pin")

    trees = GitTrees(
        tmp_path / "cache",
        {"https://example.invalid/ext": ext, "https://example.invalid/glm.git": tmp_path / "glm"},
        log=lambda line: None,
    )
    tree = trees.tree("https://example.invalid/ext.git", pinned)

    assert (tree / "setup.py").read_text() == "# ext"
    assert (tree / "third_party" / "glm" / "glm" / "glm.hpp").read_text() == "// v1"
    assert not (tree / ".git").exists()
    assert trees.tree("https://example.invalid/ext.git", pinned) == tree  # kept in the cache


def test_a_blob_the_clone_lacks_is_named_and_the_rest_is_there(tmp_path: Path) -> None:
    repo = tmp_path / "ext"
    commit = repository(repo, {"setup.py": "# ext", "stale/_C.so": "a stale build"})
    blob = git(repo, "rev-parse", f"{commit}:stale/_C.so")
    (repo / ".git" / "objects" / blob[:2] / blob[2:]).unlink()  # as a size-filtered clone
    trees = GitTrees(tmp_path / "cache", {}, log=lambda line: None)

    trees._files(repo / ".git", commit, tmp_path / "tree")

    assert (tmp_path / "tree" / "setup.py").read_text() == "# ext"
    assert not (tmp_path / "tree" / "stale" / "_C.so").exists()
    assert trees.notes == [f"stale/_C.so of .git at {commit[:7]}: not in the clone"]
