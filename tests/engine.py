"""When tests that need a live Dagger engine run, and why not otherwise.

They run only when asked for: ``pytest -m engine`` (``-m gpu``), or any run with
``EGSTALKER_ENGINE_TESTS=1``. A default run stays offline even where Docker answers,
since the engine pulls about 25 GB of images.
"""

from __future__ import annotations

import functools
import os
import shutil
from typing import Final

import pytest
from _pytest.mark.expression import Expression  # pytest's own reading of `-m`

from egstalker.hostcheck import check_gpu_variable, engine_problem

ENGINE_MARKERS: Final = frozenset({"engine", "gpu"})
REQUEST_VARIABLE: Final = "EGSTALKER_ENGINE_TESTS"
NOT_ASKED: Final = (
    "needs a Dagger engine (pulls ~25 GB): run it with `pytest -m engine` (GPU tests: "
    f"`pytest -m gpu`), or with {REQUEST_VARIABLE}=1"
)


@functools.cache
def engine_problem_once() -> str | None:
    """Why no engine can start here (asked once per run: it calls docker)."""
    return engine_problem()


@functools.cache
def gpu_problem() -> str | None:
    if reason := engine_problem_once():
        return reason
    if not (variable := check_gpu_variable()).ok:
        return "no GPU engine: " + variable.detail
    if shutil.which("nvidia-smi") is None:
        return "no GPU engine: nvidia-smi is not on PATH (no NVIDIA driver)"
    return None


def selects_engine_tests(markexpr: str) -> bool:
    """Whether ``-m markexpr`` picks out engine or GPU tests, rather than letting all through.

    ``-m engine`` and ``-m "gpu and not slow"`` do; ``-m "not gpu"`` does not (it also keeps
    the unmarked tests), nor does no ``-m`` at all.
    """
    if not markexpr.strip():
        return False
    expression = Expression.compile(markexpr)

    def keeps(markers: frozenset[str]) -> bool:
        return expression.evaluate(lambda name, **kwargs: name in markers)

    marked = (frozenset({"engine"}), frozenset({"gpu"}), ENGINE_MARKERS)
    return any(keeps(markers) for markers in marked) and not keeps(frozenset())


def engine_tests_requested(config: pytest.Config) -> bool:
    """``-m`` picks engine or GPU tests, or EGSTALKER_ENGINE_TESTS=1 asks for them."""
    value = os.environ.get(REQUEST_VARIABLE, "")
    if value not in ("", "0", "1"):
        raise pytest.UsageError(
            f"{REQUEST_VARIABLE}={value!r}: use 1 to run the engine and GPU tests, or 0 (or "
            "unset) to skip them"
        )
    return value == "1" or selects_engine_tests(config.getoption("markexpr", "") or "")


def engine_skip_reason(item: pytest.Item, requested: bool) -> str | None:
    """Why an `engine` or `gpu` test cannot run here, or None (also for other tests)."""
    if not any(item.get_closest_marker(name) for name in ENGINE_MARKERS):
        return None
    if not requested:
        return NOT_ASKED
    if item.get_closest_marker("gpu") and (reason := gpu_problem()):
        return reason
    if item.get_closest_marker("engine") and (reason := engine_problem_once()):
        return reason
    return None


def skip_without_engine(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark `engine` and `gpu` tests skipped, with the reason, unless asked for and able to run."""
    requested = engine_tests_requested(config)
    for item in items:
        if reason := engine_skip_reason(item, requested):
            item.add_marker(pytest.mark.skip(reason=reason))
