"""Every in-container program starts on the bases' Python (3.10), not only on ours."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.programs.conftest import PROGRAMS

# The pytorch/pytorch:2.1.2 bases run Python 3.10: no tomllib, no except*, no Self.
BASE_PYTHON = "3.10"


def base_python() -> str | None:
    """A working Python 3.10: pyenv's, or one on PATH (a pyenv shim alone may not run)."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [str(p) for p in sorted(pyenv.glob(f"{BASE_PYTHON}.*/bin/python"))]
    candidates += [found] if (found := shutil.which(f"python{BASE_PYTHON}")) else []
    for python in candidates:
        if subprocess.run([python, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            return python
    return None


@pytest.mark.parametrize("program", sorted(p.name for p in PROGRAMS.glob("*.py")))
def test_starts_on_the_bases_python(program: str) -> None:
    python = base_python()
    if python is None:
        pytest.skip(f"no Python {BASE_PYTHON} here to start the programs with")
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
