"""Steps run side by side: every failure reaches the user, none cancels the others."""

from __future__ import annotations

import anyio
import pytest

from egstalker.concurrency import run_all
from egstalker.failures import StepsFailed
from tests.dagger_errors import exec_error

pytestmark = pytest.mark.anyio

COMPILE_KNN = ["python", "/opt/egstalker/programs/build_extension.py", "simple_knn", "/src"]
APT = ["sh", "/opt/egstalker/programs/apt_install.sh", "libgl1"]


def failing(error: Exception, delay: float = 0.0):
    async def task() -> str:
        await anyio.sleep(delay)
        raise error

    return task


async def test_results_come_back_by_name_in_order() -> None:
    async def value(v: str) -> str:
        await anyio.sleep(0.01 if v == "a" else 0)
        return v

    assert await run_all({"a": lambda: value("a"), "b": lambda: value("b")}) == {"a": "a", "b": "b"}


async def test_one_failure_is_raised_as_it_is_and_the_other_step_finishes() -> None:
    finished = []
    failure = exec_error(COMPILE_KNN, 1, stderr="hint: lower --max-jobs")

    async def slow() -> str:
        await anyio.sleep(0.05)  # still running when the other fails
        finished.append("slow")
        return "done"

    with pytest.raises(type(failure)) as err:
        await run_all({"fails": failing(failure), "slow": slow})
    assert err.value is failure  # the ExecError itself, not a group saying nothing
    assert finished == ["slow"]


async def test_several_failures_are_all_reported_with_their_steps_and_hints() -> None:
    first = exec_error(COMPILE_KNN, 137, stderr="nvcc killed\nhint: lower --max-jobs")
    second = exec_error(APT, 100, stderr="E: Unable to locate package libgl1")
    with pytest.raises(StepsFailed) as err:
        await run_all({"multistage": failing(second, 0.02), "single-stage": failing(first)})
    assert err.value.errors == [second, first]  # in the order the steps were given
    message = str(err.value)
    assert "step 'install system packages' failed with exit code 100:" in message
    assert "E: Unable to locate package libgl1" in message
    assert "step 'compile simple_knn' failed with exit code 137:" in message
    assert "hint: lower --max-jobs" in message
    assert "ExceptionGroup" not in message
