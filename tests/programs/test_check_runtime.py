"""check_runtime.py, run for real on small trees and PATHs made here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.programs.conftest import load_program

check_runtime = load_program("check_runtime.py")


def fake_tool(folder: Path, name: str) -> None:
    folder.mkdir(exist_ok=True)
    tool = folder / name
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)


def test_finds_compilers_on_path(tmp_path: Path) -> None:
    for name in ("gcc", "nvcc", "python"):
        fake_tool(tmp_path / "bin", name)
    found = check_runtime.compilers_on_path(str(tmp_path / "bin"))
    assert found == [f"gcc at {tmp_path}/bin/gcc", f"nvcc at {tmp_path}/bin/nvcc"]


def test_finds_build_leftovers(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "build" / "temp.linux-x86_64-cpython-310").mkdir(parents=True)
    (tmp_path / "pkg" / "rasterizer_impl.o").write_text("")
    (tmp_path / "pkg" / ".ninja_log").write_text("")
    (tmp_path / "pkg" / "_C.so").write_text("")
    found = sorted(p.relative_to(tmp_path).as_posix() for p in check_runtime.leftovers([tmp_path]))
    assert found == [
        "pkg/.ninja_log",
        "pkg/build/temp.linux-x86_64-cpython-310",
        "pkg/rasterizer_impl.o",
    ]


def run(roots: list[Path], path: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, check_runtime.__file__, *map(str, roots)],
        env=dict(os.environ, PATH=path, HOME=str(roots[0])),
        capture_output=True,
        text=True,
        check=False,
    )


def test_clean_image_passes_and_dirty_one_fails(tmp_path: Path) -> None:
    clean, bin_dir = tmp_path / "clean", tmp_path / "bin"
    clean.mkdir()
    (clean / "module.py").write_text("")
    result = run([clean], path=str(tmp_path / "nothing"))
    assert result.returncode == 0, result.stdout
    assert "runtime hygiene ok" in result.stdout

    fake_tool(bin_dir, "g++")
    (clean / "leftover.o").write_text("")
    (clean / ".cache" / "pip" / "http").mkdir(parents=True)
    result = run([clean], path=str(bin_dir))
    assert result.returncode == 1
    assert f"compiler on PATH: g++ at {bin_dir}/g++" in result.stdout
    assert f"build leftover: {clean}/leftover.o" in result.stdout
    assert f"pip cache left in the image: {clean}/.cache/pip" in result.stdout
