"""One engine for building and GPU verification: GPU=1 reaches every make target's dagger.

With and without _EXPERIMENTAL_DAGGER_GPU_SUPPORT the Dagger CLI starts different engine
containers and removes the other one with its cache volume (Dagger 0.21:
cmd/dagger/engine.go engineVersion, engine/client/drivers/container.go, docker.go `rm -fv`).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VARIABLE = "_EXPERIMENTAL_DAGGER_GPU_SUPPORT"
# Prints what a recipe's commands would see, in place of the target's own commands.
SHOW = f'show-gpu-support: ; @echo "[$${VARIABLE}]"'


def seen(*args: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != VARIABLE and not k.startswith("MAKE")}
    result = subprocess.run(
        ["make", "--no-print-directory", "--eval", SHOW, "show-gpu-support", *args],
        cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout.strip()


def test_gpu_1_exports_gpu_support_to_every_command() -> None:
    """A recipe's commands see it: the export is global, so build, report, shell do too."""
    assert seen("GPU=1") == "[1]"
    assert seen() == "[]"


@pytest.mark.parametrize("value", ["true", "yes"])
def test_a_users_own_value_is_kept(value: str) -> None:
    assert seen("GPU=1", **{VARIABLE: value}) == f"[{value}]"
    assert seen(**{VARIABLE: value}) == f"[{value}]"  # make passes the environment on
