"""python -m tools.rehearse: every bad option refused before anything is built or removed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools.command import run_tool


def rehearse(*args: str) -> subprocess.CompletedProcess:
    return run_tool("tools.rehearse", *args)


def test_an_unknown_variant_is_refused() -> None:
    result = rehearse("--variant", "tiny", "--python", sys.executable)
    assert result.returncode == 2
    assert "invalid choice: 'tiny'" in result.stderr


def test_a_work_folder_holding_files_of_its_own_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("mine")
    result = rehearse("--work", str(tmp_path), "--python", sys.executable)
    assert result.returncode == 2
    assert f"--work {tmp_path}: holds files of its own" in result.stderr
    assert (tmp_path / "thesis.tex").read_text() == "mine"


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--arch", "sm_86"], "invalid architecture list 'sm_86'"),
        (["--preprocessing", "some"], "preprocessing"),
    ],
)
def test_the_modules_options_are_checked_as_the_module_checks_them(
    tmp_path: Path, option: list[str], message: str
) -> None:
    result = rehearse(*option, "--work", str(tmp_path / "w"), "--python", sys.executable)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "w").exists()


@pytest.mark.skipif(sys.version_info[:2] == (3, 10), reason="needs a Python other than 3.10")
def test_the_python_must_be_a_3_10(tmp_path: Path) -> None:
    result = rehearse("--work", str(tmp_path / "w"), "--python", sys.executable)
    assert result.returncode == 2
    assert "the bases' Python is 3.10" in result.stderr
