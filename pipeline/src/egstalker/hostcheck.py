"""What this host needs to run the pipeline, checked with the real commands, each with its fix.

Used by the CLI's ``doctor`` and before each engine command, so that a missing engine
is one clear line instead of a traceback. No ``dag`` here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from egstalker.pins import DAGGER_VERSION

# Both images, the base layers and the engine's cache, measured at about 30 GB.
DISK_NEEDED: Final = 30 * 1000**3
GPU_SUPPORT_VARIABLE: Final = "_EXPERIMENTAL_DAGGER_GPU_SUPPORT"
INSTALL_DAGGER: Final = (
    f"install the Dagger CLI {DAGGER_VERSION} (https://docs.dagger.io/install, "
    f"with DAGGER_VERSION={DAGGER_VERSION})"
)


@dataclass(frozen=True)
class Finding:
    """One doctor line: what was checked, whether it is fine, and what to do if not."""

    name: str
    ok: bool
    detail: str
    required: bool = True


def _run(*args: str) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(args, capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None


def external_engine() -> bool:
    """A session or runner given from outside: no local Docker is needed then."""
    return bool(
        os.environ.get("DAGGER_SESSION_PORT") or os.environ.get("_EXPERIMENTAL_DAGGER_RUNNER_HOST")
    )


def check_docker() -> Finding:
    if external_engine():
        return Finding("docker", True, "not needed: an engine is given by the environment")
    if shutil.which("docker") is None:
        return Finding(
            "docker", False, "docker not found: install Docker; Dagger runs its engine in it"
        )
    info = _run("docker", "info", "--format", "{{.ServerVersion}}")
    if info is None or info.returncode != 0:
        return Finding(
            "docker",
            False,
            "the Docker daemon does not answer: start it (e.g. systemctl start docker)",
        )
    return Finding("docker", True, f"daemon {info.stdout.strip()}")


def parse_dagger_version(output: str) -> str | None:
    """'dagger v0.21.11 (...) linux/amd64' -> '0.21.11'."""
    match = re.search(r"\bv(\d+\.\d+\.\d+\S*)", output)
    return match[1] if match else None


def check_dagger_cli() -> Finding:
    if shutil.which("dagger") is None:
        return Finding(
            "dagger",
            False,
            f"dagger not found: {INSTALL_DAGGER}; the CLI commands of this package fetch it "
            "themselves, but `dagger call` and `make shell` need it on PATH",
        )
    result = _run("dagger", "version")
    version = parse_dagger_version(result.stdout if result else "")
    if version != DAGGER_VERSION:
        return Finding(
            "dagger", False, f"dagger is {version or 'of unknown version'}: {INSTALL_DAGGER}"
        )
    return Finding("dagger", True, f"v{version}, as dagger.json asks")


def check_gpu_toolkit() -> Finding:
    for tool in ("nvidia-ctk", "nvidia-container-runtime", "nvidia-container-cli"):
        if shutil.which(tool):
            return Finding("nvidia toolkit", True, f"{tool} found", required=False)
    return Finding(
        "nvidia toolkit",
        False,
        "NVIDIA Container Toolkit not found: install it for `verify --gpu` (building needs no GPU)",
        required=False,
    )


def check_gpu_variable() -> Finding:
    if os.environ.get(GPU_SUPPORT_VARIABLE) == "1":
        return Finding("gpu support", True, f"{GPU_SUPPORT_VARIABLE}=1", required=False)
    return Finding(
        "gpu support",
        False,
        f"export {GPU_SUPPORT_VARIABLE}=1 before `verify --gpu`, so dagger starts its GPU engine",
        required=False,
    )


def check_disk(path: Path = Path("/")) -> Finding:
    free = shutil.disk_usage(path).free
    detail = f"{free / 1000**3:.0f} GB free at {path}"
    if free < DISK_NEEDED:
        return Finding(
            "disk", False, f"{detail}: free at least {DISK_NEEDED // 1000**3} GB for the images"
        )
    return Finding("disk", True, detail)


def doctor() -> list[Finding]:
    return [
        check_docker(),
        check_dagger_cli(),
        check_gpu_toolkit(),
        check_gpu_variable(),
        check_disk(),
    ]


def engine_problem() -> str | None:
    """Why no engine can be started from here, or None. The SDK fetches the CLI itself."""
    docker = check_docker()
    return None if docker.ok else f"no Dagger engine can start: {docker.detail}"
