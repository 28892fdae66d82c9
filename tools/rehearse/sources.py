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

    def tree(self, url: str, commit: str) -> Path:
        """The files of ``url`` at ``commit``, submodules included, without ``.git``."""
        target = self.cache / "trees" / f"{_name(url)}-{commit}"
        if target.is_dir():
            return target
        clone = self._clone(url, commit)
        partial = target.with_name(target.name + ".partial")
        subprocess.run(["rm", "-rf", str(partial)], check=True)
        partial.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "--git-dir", str(clone), "archive", commit], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(partial)], input=archive, check=True)
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
