"""When tests that need a live Dagger engine can run, and why not otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def engine_unavailable_reason() -> str | None:
    """None when an engine can be reached: a `dagger run` session, or the CLI and Docker."""
    if os.environ.get("DAGGER_SESSION_PORT"):
        return None
    if shutil.which("dagger") is None:
        return (
            "no Dagger engine: the Dagger CLI 0.21.11 is not on PATH (CI's engine job runs these)"
        )
    docker = shutil.which("docker")
    if docker is None:
        return "no Dagger engine: Docker is not installed, so the CLI cannot start one"
    probe = subprocess.run([docker, "info"], capture_output=True, check=False)
    if probe.returncode != 0:
        return "no Dagger engine: the Docker daemon is not running, so the CLI cannot start one"
    return None


def gpu_unavailable_reason() -> str | None:
    if reason := engine_unavailable_reason():
        return reason
    if os.environ.get("_EXPERIMENTAL_DAGGER_GPU_SUPPORT") != "1":
        return "no GPU engine: _EXPERIMENTAL_DAGGER_GPU_SUPPORT=1 is not set"
    if shutil.which("nvidia-smi") is None:
        return "no GPU engine: nvidia-smi is not on PATH (no NVIDIA driver)"
    return None


def skip_without_engine(item: pytest.Item) -> None:
    """Skip `engine` and `gpu` tests, with the reason, where they cannot run."""
    if item.get_closest_marker("gpu") and (reason := gpu_unavailable_reason()):
        pytest.skip(reason)
    if item.get_closest_marker("engine") and (reason := engine_unavailable_reason()):
        pytest.skip(reason)
