"""Git trees for the plan's ``git(url).commit(sha).tree()``: the pinned commits, submodules in.

Each repository is cloned once (bare) into the cache, from its URL or from a local clone
given with ``--git URL=PATH``; a tree is the commit's files (``git archive``) with every
submodule's tree at the commit its gitlink names, as the engine's git fetch gives it.
"""

from __future__ import annotations

import configparser
import re
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from tools.rehearse.replay import RehearsalError


def _git(*args: str, capture: bool = False) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RehearsalError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout if capture else ""


def _name(url: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "+", url.removesuffix(".git").split("://")[-1])


class GitTrees:
    def __init__(self, cache: Path, local: Mapping[str, Path], log: Callable[[str], None]) -> None:
        self.cache = cache / "git"
        self.local = {url.removesuffix(".git"): path for url, path in local.items()}
        self.log = log
        self.notes: list[str] = []

    def _clone(self, url: str, commit: str) -> Path:
        clone = self.cache / f"{_name(url)}.git"
        if not clone.is_dir():
            origin = str(self.local.get(url.removesuffix(".git"), url))
            self.log(f"git: clone {origin}")
            _git("clone", "--quiet", "--bare", origin, str(clone))
        if subprocess.run(
            ["git", "--git-dir", str(clone), "cat-file", "-e", f"{commit}^{{commit}}"],
            capture_output=True,
            check=False,
        ).returncode:
            _git("--git-dir", str(clone), "fetch", "--quiet", "origin", commit)
        return clone

    def _files(self, clone: Path, commit: str, target: Path) -> None:
        """The commit's files in ``target``; blobs a local clone lacks are named, not fatal.

        A clone made with a size filter (or a mirror that leaves its largest files out)
        has no copy of some blobs; each is listed in the report.
        """
        archive = subprocess.run(
            ["git", "--git-dir", str(clone), "archive", commit], capture_output=True, check=False
        )
        if archive.returncode == 0:
            subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
            return
        listing = _git("--git-dir", str(clone), "ls-tree", "-r", "-z", commit, capture=True)
        for entry in filter(None, listing.split("\0")):
            meta, path = entry.split("\t", 1)
            mode, kind, blob = meta.split()
            if kind != "blob":
                (target / path).mkdir(parents=True, exist_ok=True)
                continue
            content = subprocess.run(
                ["git", "--git-dir", str(clone), "cat-file", "blob", blob], capture_output=True
            )
            if content.returncode != 0:
                self.notes.append(f"{path} of {clone.name} at {commit[:7]}: not in the clone")
                continue
            file = target / path
            file.parent.mkdir(parents=True, exist_ok=True)
            if mode == "120000":
                file.symlink_to(content.stdout.decode())
            else:
                file.write_bytes(content.stdout)
                file.chmod(0o755 if mode == "100755" else 0o644)

    def tree(self, url: str, commit: str) -> Path:
        """The files of ``url`` at ``commit``, submodules included, without ``.git``."""
        target = self.cache / "trees" / f"{_name(url)}-{commit}"
        if target.is_dir():
            return target
        clone = self._clone(url, commit)
        partial = target.with_name(target.name + ".partial")
        subprocess.run(["rm", "-rf", str(partial)], check=True)
        partial.mkdir(parents=True)
        self._files(clone, commit, partial)
        modules = partial / ".gitmodules"
        if modules.is_file():
            parser = configparser.ConfigParser()
            parser.read_string(modules.read_text())
            for section in parser.sections():
                path, sub_url = parser[section]["path"], parser[section]["url"]
                listed = _git("--git-dir", str(clone), "ls-tree", commit, path, capture=True)
                if not listed.startswith("160000 commit "):
                    continue  # named in .gitmodules, but the tree holds no gitlink
                sub_commit = listed.split()[2]
                sub_tree = self.tree(sub_url, sub_commit)
                (partial / path).mkdir(parents=True, exist_ok=True)
                subprocess.run(["cp", "-a", f"{sub_tree}/.", str(partial / path)], check=True)
        partial.rename(target)
        return target
