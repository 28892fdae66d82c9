"""size_breakdown.py, run for real on a small conda-like prefix made here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.programs.conftest import load_program

size_breakdown = load_program("size_breakdown.py")


def install(site: Path, name: str, files: dict[str, int]) -> None:
    """A distribution: its files and a RECORD listing them, as pip writes it."""
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    for relative, size in files.items():
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_bytes(b"x" * size)
    rows = [f"{relative},sha256=abc,{size}" for relative, size in files.items()]
    (info / "RECORD").write_text("\n".join([*rows, f"{info.name}/RECORD,,"]) + "\n")


def make_prefix(root: Path) -> None:
    site = root / "lib" / "python3.10" / "site-packages"
    install(site, "open3d", {"open3d/cpu/pybind.so": 3000, "open3d/__init__.py": 100})
    install(site, "simple_knn", {"simple_knn/_C.cpython-310-x86_64-linux-gnu.so": 500})
    install(site, "wandb", {"wandb/__init__.py": 200, "../../../bin/wandb": 50})
    (root / "share" / "doc").mkdir(parents=True)
    (root / "share" / "doc" / "README").write_bytes(b"x" * 70)


def test_charges_each_file_to_its_distribution(tmp_path: Path) -> None:
    make_prefix(tmp_path)
    sizes = size_breakdown.breakdown(tmp_path)
    assert sizes["open3d"] >= 3100
    assert sizes["simple_knn"] >= 500
    assert sizes["wandb"] >= 250  # its console script in bin/ counts too
    assert sizes["(other files in share/)"] == 70
    assert [name for name, _ in sizes.most_common(2)] == ["open3d", "simple_knn"]


def test_prints_largest_first_with_a_total(tmp_path: Path) -> None:
    make_prefix(tmp_path)
    result = subprocess.run(
        [sys.executable, size_breakdown.__file__, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["MB", "share", "package"]
    assert lines[1].split()[-1] == "open3d"
    assert lines[-1].split()[-1] == "total"


def test_refuses_a_missing_folder(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, size_breakdown.__file__, str(tmp_path / "absent")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "usage: python size_breakdown.py ROOT" in result.stderr
