"""Every in-container program starts on the bases' Python (3.10), not only on ours."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.programs.conftest import PROGRAMS

# The pytorch/pytorch:2.1.2 bases run Python 3.10: no tomllib, no except*, no Self.
BASE_PYTHON = "3.10"


def base_python() -> str | None:
    """A working Python 3.10: $EGSTALKER_BASE_PYTHON (`.ci/run` finds one, pyenv's too), or
    python3.10 on PATH (a pyenv shim alone may not run)."""
    candidates = [os.environ.get("EGSTALKER_BASE_PYTHON"), shutil.which(f"python{BASE_PYTHON}")]
    for python in filter(None, candidates):
        if subprocess.run([python, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            return python
    return None


@pytest.mark.parametrize("program", sorted(p.name for p in PROGRAMS.glob("*.py")))
def test_starts_on_the_bases_python(program: str) -> None:
    python = base_python()
    if python is None:
        message = (
            f"no Python {BASE_PYTHON} to start the programs with: put python{BASE_PYTHON} on "
            "PATH or name one in EGSTALKER_BASE_PYTHON"
        )
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run these for real
        pytest.skip(message)
    result = subprocess.run(
        [python, str(PROGRAMS / program), "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), "EGSTALKER_NVCC": "/bin/false"},
    )
    assert result.returncode in (0, 2), result.stderr
    assert "Traceback" not in result.stderr
    assert "usage" in (result.stdout + result.stderr).lower()
