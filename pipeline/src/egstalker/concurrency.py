"""Steps run side by side, every failure kept: no failed step cancels the others."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

import anyio

from egstalker.failures import StepsFailed

T = TypeVar("T")


async def run_all(tasks: Mapping[str, Callable[[], Awaitable[T]]]) -> dict[str, T]:
    """Run every task to its end, concurrently; their results by name, in the tasks' order.

    anyio's task group would cancel the rest at the first failure and raise an
    ``ExceptionGroup`` that says nothing of its members. Here each task runs to its own end:
    one failure is raised as it is (an ``ExecError`` stays one), several are raised together
    as ``StepsFailed``, each keeping its step, exit code and hints.
    """
    results: dict[str, T] = {}
    errors: dict[str, Exception] = {}

    async def one(name: str, task: Callable[[], Awaitable[T]]) -> None:
        try:
            results[name] = await task()
        except Exception as error:  # every failure is reported, none cancels its siblings
            errors[name] = error

    async with anyio.create_task_group() as group:
        for name, task in tasks.items():
            group.start_soon(one, name, task)
    failed = [errors[name] for name in tasks if name in errors]
    if len(failed) == 1:
        raise failed[0]
    if failed:
        raise StepsFailed(failed)
    return {name: results[name] for name in tasks}
