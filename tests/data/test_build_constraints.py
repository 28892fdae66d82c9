"""build-constraints.txt, tried for real: mmcv 1.7.2 builds in an isolated environment.

Downloads mmcv's source from PyPI and prepares its metadata the way pip does for a
source build in an isolated environment (--use-pep517), with and without the file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from egstalker.assets import asset_text
from egstalker.steps import BUILD_CONSTRAINT_VARIABLES


def prepare_mmcv(tmp_path: Path, constraint: Path | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in BUILD_CONSTRAINT_VARIABLES}
    if constraint:  # as the builder sets them, for old and new pips alike
        env.update(dict.fromkeys(BUILD_CONSTRAINT_VARIABLES, str(constraint)))
    return subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--use-pep517",
         "--no-cache-dir", "-d", str(tmp_path / "out"), "mmcv==1.7.2"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_mmcv_builds_with_the_build_constraints(tmp_path: Path) -> None:
    constraints = tmp_path / "build-constraints.txt"
    constraints.write_text(asset_text("data/build-constraints.txt"))
    result = prepare_mmcv(tmp_path, constraints)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "mmcv-1.7.2.tar.gz").exists()


def test_without_them_the_newest_setuptools_breaks_it(tmp_path: Path) -> None:
    result = prepare_mmcv(tmp_path, None)
    assert result.returncode != 0
    assert "No module named 'pkg_resources'" in result.stdout + result.stderr
