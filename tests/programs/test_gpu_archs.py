"""gpu_archs.py, run for real with nvidia-smi's real output from an H200 host.

The fixture lines are what ``nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader``
printed on an H200 (16 cores); the multi-GPU outputs are built in the same format. A
stand-in ``nvidia-smi`` replays them, and fails unless asked exactly that query.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.programs.conftest import PROGRAMS

PROGRAM = PROGRAMS / "gpu_archs.py"
H200 = "NVIDIA H200, 9.0\n"
H200_WITH_HEADER = "name, compute_cap\nNVIDIA H200, 9.0\n"
QUERY = "--query-gpu=name,compute_cap --format=csv,noheader"
HINT = "hint: start dagger with _EXPERIMENTAL_DAGGER_GPU_SUPPORT=1"


def nvidia_smi(folder: Path, output: str, code: int = 0) -> None:
    (folder / "out.txt").write_text(output)
    script = folder / "nvidia-smi"
    script.write_text(
        f'#!/bin/sh\n[ "$*" = "{QUERY}" ] || {{ echo "unexpected: $*" >&2; exit 64; }}\n'
        f'cat "{folder}/out.txt"\nexit {code}\n'
    )
    script.chmod(0o755)


def run(path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PROGRAM)],
        capture_output=True, text=True, check=False, env={**os.environ, "PATH": path},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("output", "gpus"),
    [
        (H200, [("NVIDIA H200", "9.0")]),
        (H200_WITH_HEADER, [("NVIDIA H200", "9.0")]),
        (H200 * 8, [("NVIDIA H200", "9.0")] * 8),
        ("NVIDIA A10, 8.6\nNVIDIA L4, 8.9\n", [("NVIDIA A10", "8.6"), ("NVIDIA L4", "8.9")]),
        ("NVIDIA H100 80GB HBM3, 9.0\r\n", [("NVIDIA H100 80GB HBM3", "9.0")]),
    ],
)
def test_lists_each_gpu(tmp_path: Path, output: str, gpus: list[tuple[str, str]]) -> None:
    nvidia_smi(tmp_path, output)
    result = run(f"{tmp_path}:{os.environ['PATH']}")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)["gpus"]
    assert [(g["name"], g["capability"]) for g in listed] == gpus


@pytest.mark.parametrize(
    ("output", "code", "says"),
    [
        ("", 0, "nvidia-smi listed no GPU"),
        ("name, compute_cap\n", 0, "nvidia-smi listed no GPU"),
        ("NVIDIA H200, [N/A]\n", 0, "not 'NAME, X.Y': 'NVIDIA H200, [N/A]'"),
        ("No devices were found\n", 6, "nvidia-smi failed with exit code 6: No devices were found"),
        ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n", 9,
         "nvidia-smi failed with exit code 9: NVIDIA-SMI has failed"),
    ],
)  # fmt: skip
def test_no_gpu_listed_says_why_and_the_fix(
    tmp_path: Path, output: str, code: int, says: str
) -> None:
    nvidia_smi(tmp_path, output, code)
    result = run(f"{tmp_path}:{os.environ['PATH']}")
    assert result.returncode == 3
    assert says in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith(HINT)
    assert result.stdout == ""


def test_without_nvidia_smi_the_engine_gave_no_gpu(tmp_path: Path) -> None:
    result = run(str(tmp_path))  # nothing on PATH: no hook put nvidia-smi there
    assert result.returncode == 3
    assert "nvidia-smi is not in the container: the engine attached no GPU" in result.stderr
    assert HINT in result.stderr
