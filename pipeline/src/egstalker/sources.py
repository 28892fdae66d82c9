"""The pinned source trees the images are built from."""

from __future__ import annotations

import dagger
from dagger import dag

from egstalker.pins import GitPin


def git_tree(pin: GitPin, commit: str | None = None) -> dagger.Directory:
    """A repository's files at its pinned commit (or ``commit``), submodules included."""
    return dag.git(pin.url).commit(commit or pin.commit).tree(discard_git_dir=True)
