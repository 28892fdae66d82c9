from __future__ import annotations

import subprocess
from pathlib import Path


def test_refuses_an_empty_package_list(programs_dir: Path) -> None:
    result = subprocess.run(
        ["sh", str(programs_dir / "apt_install.sh")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "name at least one package" in result.stderr
