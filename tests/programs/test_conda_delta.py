"""conda_delta.py, run for real: the builder's removals found, then applied to a twin tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.programs.conftest import load_program

conda_delta = load_program("conda_delta.py")


def tree(root: Path, files: list[str]) -> Path:
    for relative in files:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(relative)
    return root


BASE = [
    "bin/python",
    "lib/python3.10/site-packages/yaml/__init__.py",
    "lib/python3.10/site-packages/yaml/old_module.py",
    "lib/python3.10/site-packages/PyYAML-6.0.1.dist-info/RECORD",
]
# pip replaced PyYAML 6.0.1 by 6.0.2 and added wandb
BUILT = [
    "bin/python",
    "bin/wandb",
    "lib/python3.10/site-packages/yaml/__init__.py",
    "lib/python3.10/site-packages/PyYAML-6.0.2.dist-info/RECORD",
]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, conda_delta.__file__, *args], capture_output=True, text=True, check=False
    )


def test_removed_then_applied_to_the_runtime_twin(tmp_path: Path) -> None:
    base = tree(tmp_path / "base", BASE)
    built = tree(tmp_path / "built", BUILT)
    runtime = tree(tmp_path / "runtime", BASE)  # the runtime base holds the same environment
    result = run("removed", str(base), str(built))
    assert result.stdout.splitlines() == [
        "lib/python3.10/site-packages/PyYAML-6.0.1.dist-info/RECORD",
        "lib/python3.10/site-packages/yaml/old_module.py",
    ]
    listing = tmp_path / "removed.txt"
    listing.write_text(result.stdout)
    applied = run("apply", str(listing), str(runtime))
    assert applied.returncode == 0
    assert "removed 2 file(s)" in applied.stdout
    left = sorted(p.relative_to(runtime).as_posix() for p in runtime.rglob("*") if p.is_file())
    assert left == ["bin/python", "lib/python3.10/site-packages/yaml/__init__.py"]


def test_apply_refuses_paths_outside_the_root(tmp_path: Path) -> None:
    root = tree(tmp_path / "root", ["a"])
    tree(tmp_path, ["outside"])
    listing = tmp_path / "removed.txt"
    listing.write_text("../outside\n")
    with pytest.raises(SystemExit, match="leaves"):
        conda_delta.apply(listing, root)
    assert (tmp_path / "outside").exists()


def test_usage() -> None:
    result = run("diff")
    assert result.returncode == 2
    assert "usage: python conda_delta.py removed BASE BUILT | apply LIST ROOT" in result.stderr
