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


def test_uv_is_a_build_tool_that_no_runtime_image_may_hold(tmp_path: Path) -> None:
    """uv installs the builder's packages; it must reach no image, in any form."""
    image, bin_dir, site = tmp_path / "image", tmp_path / "bin", tmp_path / "site-packages"
    fake_tool(bin_dir, "uv")
    (site / "uv-0.13.9.dist-info").mkdir(parents=True)
    (image / "root" / ".cache" / "uv" / "wheels-v5").mkdir(parents=True)
    result = run([site], path=str(bin_dir), image_root=image)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"build tool on PATH: uv at {bin_dir}/uv",
        f"build leftover: {site}/uv-0.13.9.dist-info",
        f"uv cache left in the image: {image}/root/.cache/uv",
    ]


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


def run(roots: list[Path], path: str, image_root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, check_runtime.__file__, "--image-root", str(image_root), *map(str, roots)],
        env=dict(os.environ, PATH=path),
        capture_output=True,
        text=True,
        check=False,
    )


def test_clean_image_passes_and_dirty_one_fails(tmp_path: Path) -> None:
    clean, bin_dir, image = tmp_path / "clean", tmp_path / "bin", tmp_path / "image"
    clean.mkdir()
    (clean / "module.py").write_text("")
    (image / "root" / ".cache" / "pip").mkdir(parents=True)  # there, but empty
    result = run([clean], path=str(tmp_path / "nothing"), image_root=image)
    assert result.returncode == 0, result.stdout
    assert "runtime hygiene ok: no compiler or build tool (uv) on PATH" in result.stdout

    fake_tool(bin_dir, "g++")
    (clean / "leftover.o").write_text("")
    (image / "root" / ".cache" / "pip" / "http").mkdir(parents=True)
    result = run([clean], path=str(bin_dir), image_root=image)
    assert result.returncode == 1
    assert f"compiler on PATH: g++ at {bin_dir}/g++" in result.stdout
    assert f"build leftover: {clean}/leftover.o" in result.stdout
    assert f"pip cache left in the image: {image}/root/.cache/pip" in result.stdout


def test_only_the_image_caches_count_not_those_of_whoever_runs_it(tmp_path: Path) -> None:
    # HOME and /root stay as they are on this machine, full or empty: only the image counts
    image = tmp_path / "image"
    (image / "root" / ".cache" / "pip" / "wheels").mkdir(parents=True)
    (image / "home" / "egstalker" / ".cache" / "pip" / "http").mkdir(parents=True)
    (image / "home" / "other" / ".cache" / "pip").mkdir(parents=True)  # empty: fine
    (image / "home" / "other" / ".cache" / "torch" / "hub").mkdir(parents=True)  # not pip's
    result = run([tmp_path / "none"], path=str(tmp_path / "nothing"), image_root=image)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"pip cache left in the image: {image}/home/egstalker/.cache/pip",
        f"pip cache left in the image: {image}/root/.cache/pip",
    ]
    assert "runtime hygiene check failed: 2 finding(s)" in result.stderr


def test_an_image_root_that_is_no_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, check_runtime.__file__, "--image-root", str(tmp_path / "absent")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"invalid --image-root '{tmp_path / 'absent'}': it is not a folder" in result.stderr
