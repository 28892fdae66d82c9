"""When tests that need a live Dagger engine can run, and why not otherwise."""

from __future__ import annotations

import shutil

import pytest

from egstalker.hostcheck import check_gpu_variable, engine_problem


def gpu_problem() -> str | None:
    if reason := engine_problem():
        return reason
    if not (variable := check_gpu_variable()).ok:
        return "no GPU engine: " + variable.detail
    if shutil.which("nvidia-smi") is None:
        return "no GPU engine: nvidia-smi is not on PATH (no NVIDIA driver)"
    return None


def skip_without_engine(item: pytest.Item) -> None:
    """Skip `engine` and `gpu` tests, with the reason, where they cannot run."""
    if item.get_closest_marker("gpu") and (reason := gpu_problem()):
        pytest.skip(reason)
    if item.get_closest_marker("engine") and (reason := engine_problem()):
        pytest.skip(reason)
