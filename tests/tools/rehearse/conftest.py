"""A tiny root filesystem from the host's own programs, and a replayer over it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.rehearse.layers import private_mount_namespace
from tools.rehearse.replay import Base, Hooks, Replayer

TOOLS = ("sh", "cat", "id", "env", "sort", "touch", "kill")
TINY = "registry.example/tiny:1"

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="a rehearsal mounts overlays and makes namespaces: run as root"
)


def _with_libraries(root: Path, program: str) -> None:
    source = Path(shutil.which(program) or program).resolve()
    target = root / "bin" / program
    shutil.copy2(source, target)
    out = subprocess.run(["ldd", str(source)], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
        if path.startswith("/"):
            inside = root / path.lstrip("/")
            inside.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(path).resolve(), inside)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    for folder in ("bin", "etc", "tmp", "proc", "dev", "sys"):
        (root / folder).mkdir()
    os.chmod(root / "tmp", 0o1777)
    for program in TOOLS:
        _with_libraries(root, program)
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\negstalker:x:1000:1000::/home/egstalker:/bin/sh\n"
    )
    (root / "etc" / "group").write_text("root:x:0:\negstalker:x:1000:\n")
    return root


@pytest.fixture(scope="session")
def private_mounts() -> None:
    """The overlays of these tests live in a mount namespace of the test run's own."""
    private_mount_namespace()


@pytest.fixture
def replayer(tmp_path: Path, tiny_root: Path, private_mounts: None) -> Iterator[Replayer]:
    def base(address: str) -> Base:
        assert address == TINY
        return Base((tiny_root,), (("PATH", "/bin"),), "/")

    def no_git(url: str, commit: str) -> Path:
        raise AssertionError(f"no git tree expected, asked for {url}")

    hooks = Hooks(base=base, git_tree=no_git)
    replayer = Replayer(tmp_path / "work", tmp_path / "volumes", hooks, log=lambda line: None)
    yield replayer
    replayer.cleanup()
