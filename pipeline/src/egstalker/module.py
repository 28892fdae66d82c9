"""The SDK's module builder, reporting our expected failures to `dagger call` as one message.

Under `dagger call` the SDK runs each function through ``Module.call``, which logs any
exception with its traceback and reports it as ``FunctionError: <message>``; a
``FunctionError`` the function raises itself is passed on without that log (dagger-io
0.21.11, ``dagger/mod/_module.py``, ``Module.call``). The failures we expect (a refused
option, a failed verification, steps that failed side by side, a partial publish) already
say everything, so here they are raised as ``FunctionError``: one message, no traceback.
So is an engine error we know the fix for (a base that cannot be pulled, GPU support
off), with its hint. Anything else keeps the SDK's log, and a failed exec stays the
engine's ``ExecError``, whose output (and the hints our programs print) the engine shows.

Only ``Module.call`` does this, so the CLI, which calls the same functions directly in
client mode, still receives the original exception types.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import dagger
import dagger.mod
from dagger.mod._exceptions import FunctionError

from egstalker.errors import InvalidOption
from egstalker.failures import (
    PublishIncomplete,
    StepsFailed,
    describe,
    engine_hints,
    query_failure,
)
from egstalker.verification import VerificationFailed

EXPECTED = (InvalidOption, VerificationFailed, StepsFailed, PublishIncomplete)


def plainly(error: Exception) -> FunctionError | None:
    """The one message for a failure we expect, or None to leave it to the SDK."""
    if isinstance(error, EXPECTED):
        return FunctionError(describe(error))
    hinted = isinstance(error, dagger.QueryError) and not isinstance(error, dagger.ExecError)
    if hinted and engine_hints(str(error)):
        return FunctionError(query_failure(str(error)))
    return None


def reported(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with our expected failures raised as the SDK's ``FunctionError``."""
    if inspect.iscoroutinefunction(func):  # Module.call awaits only coroutine functions

        @functools.wraps(func)
        async def awaited(*args: Any, **kwargs: Any) -> Any:
            try:
                return await func(*args, **kwargs)
            except Exception as error:
                if (plain := plainly(error)) is None:
                    raise
                raise plain from None

        return awaited

    @functools.wraps(func)
    def called(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as error:
            if (plain := plainly(error)) is None:
                raise
            raise plain from None

    return called


class Module(dagger.mod.Module):
    """``dagger.mod.Module`` whose function calls report our expected failures plainly."""

    async def call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        return await super().call(reported(func), *args, **kwargs)
