"""What `dagger call` users read when a function fails: the SDK's own call path, offline.

Under `dagger call` the runtime runs ``Module.get_result`` (parent state and arguments as the
engine sends them, converted, then ``Module.call``): dagger-io 0.21.11, ``dagger/mod/
_module.py``. The SDK logs an exception there with its traceback, unless it is a
``FunctionError``; ``dagger/mod/cli.py`` then reports it to the engine as ``FunctionError:
<message>``. These tests go through that real path with no engine: the failures below
happen before anything would be sent to one.
"""

from __future__ import annotations

import logging
from typing import Any

import dagger
import gql
import pytest
from dagger._exceptions import QueryErrorValue
from dagger.mod._exceptions import FunctionError

from egstalker import Egstalker
from egstalker.concurrency import run_all
from egstalker.errors import InvalidOption
from egstalker.failures import PublishIncomplete
from egstalker.main import mod
from egstalker.options import checked_settings
from egstalker.verification import VerificationFailed
from tests.dagger_errors import exec_error

pytestmark = pytest.mark.anyio

SDK_LOGGER = "dagger.mod"
COMPILE = ["python", "/opt/egstalker/programs/build_extension.py", "simple_knn", "/src"]


def parent_state() -> dict[str, Any]:
    """The object's state as the engine sends it back: fields by name, the source as an ID."""
    return {
        **checked_settings(arch="8.6", max_jobs=None),
        "source": "an-opaque-directory-id",  # loaded lazily; never resolved here
        "source_revision": "local",
        "detected_gpus": "",
    }


async def failure(caplog: pytest.LogCaptureFixture, name: str, inputs: dict[str, Any]) -> str:
    """The message `dagger call` reports for this call, with nothing logged before it."""
    caplog.set_level(logging.DEBUG, logger=SDK_LOGGER)
    parent = {} if name == "" else parent_state()
    with pytest.raises(FunctionError) as raised:
        await mod.get_result("Egstalker", parent, name, inputs)
    assert raised.value.__cause__ is None  # no chained traceback either
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    return str(raised.value)


async def test_a_refused_option_is_one_message(caplog: pytest.LogCaptureFixture) -> None:
    message = await failure(caplog, "", {"arch": "sm_86"})
    assert message.startswith("invalid architecture list 'sm_86': ")
    assert "write 8.6 instead of 'sm_86'" in message
    assert "Traceback" not in message


@pytest.mark.parametrize(
    ("name", "inputs", "start"),
    [
        ("verify", {"variant": "debug"}, "invalid variant 'debug': use one of"),
        ("publish", {"address": "ghcr.io/Me/x"}, "invalid address 'ghcr.io/Me/x': "),
        ("publish", {"address": "ghcr.io/me/x", "tag": "-x"}, "invalid tag '-x': "),
        ("publish", {"address": "ghcr.io/me/x", "username": "me"}, "invalid credentials "),
    ],
)
async def test_a_refused_function_argument_is_one_message(
    caplog: pytest.LogCaptureFixture, name: str, inputs: dict[str, Any], start: str
) -> None:
    assert (await failure(caplog, name, inputs)).startswith(start)


async def test_the_cli_still_gets_our_own_types() -> None:
    """The CLI calls the same functions directly, not through Module.call."""
    with pytest.raises(InvalidOption):
        await Egstalker.create(arch="sm_86")


async def failing(error: Exception) -> None:
    raise error


async def test_failures_after_the_build_are_one_message_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """VerificationFailed and PublishIncomplete, through the SDK's Module.call."""
    caplog.set_level(logging.DEBUG, logger=SDK_LOGGER)
    partial = PublishIncomplete(
        {"multistage": "ghcr.io/me/x:1@sha256:" + "a" * 64},
        {"single-stage": exec_error(["push"], 1, stderr="denied")},
    )
    cases = [
        (VerificationFailed("multistage image failed verification:\n  - gpu: sm_86"), "multi"),
        (partial, "pushed:\n  multistage: ghcr.io/me/x:1@sha256:"),
    ]
    for error, start in cases:
        with pytest.raises(FunctionError) as raised:
            await mod.call(failing, error)
        assert str(raised.value).startswith(start)
    assert "not pushed: single-stage:\nstep 'push' failed with exit code 1:\ndenied" in str(
        raised.value
    )
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_steps_failed_side_by_side_are_each_named(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=SDK_LOGGER)
    second = ["python", "/opt/egstalker/programs/build_extension.py", "diff_gaussian_rasterization"]
    steps = {
        "knn": lambda: failing(exec_error(COMPILE, 137, stderr="hint: lower --max-jobs")),
        "rasterizer": lambda: failing(exec_error(second, 1, stderr="hint: glm is missing")),
        "probe": lambda: failing(VerificationFailed("single-stage image failed verification")),
    }
    with pytest.raises(FunctionError) as raised:
        await mod.call(run_all, steps)
    message = str(raised.value)
    assert "step 'compile simple_knn' failed with exit code 137:\nhint: lower --max-jobs" in message
    assert "step 'compile diff_gaussian_rasterization' failed with exit code 1" in message
    assert "hint: glm is missing" in message
    assert "single-stage image failed verification" in message
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_an_unexpected_error_keeps_the_sdks_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Only what we expect is shortened: a bug still shows where it happened."""
    caplog.set_level(logging.DEBUG, logger=SDK_LOGGER)
    with pytest.raises(FunctionError, match="a bug"):
        await mod.call(failing, RuntimeError("a bug"))
    (logged,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged.exc_info is not None


async def test_an_engine_error_we_know_gets_its_fix(caplog: pytest.LogCaptureFixture) -> None:
    """A base that cannot be pulled: the engine's words, then the hint, in one message."""
    caplog.set_level(logging.DEBUG, logger=SDK_LOGGER)
    said = "failed to resolve source metadata for docker.io/pytorch/pytorch:nope: not found"
    error = dagger.QueryError([QueryErrorValue(message=said)], gql.GraphQLRequest("{ a }"))
    with pytest.raises(FunctionError) as raised:
        await mod.call(failing, error)
    assert str(raised.value).startswith(said + "\nhint: a base image could not be pulled")
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    other = dagger.QueryError([QueryErrorValue(message="x")], gql.GraphQLRequest("{ a }"))
    with pytest.raises(dagger.QueryError):  # one we know nothing of stays the engine's
        await mod.call(failing, other)


async def test_an_engine_error_stays_the_engines(caplog: pytest.LogCaptureFixture) -> None:
    """A failed exec keeps its structure (command, exit code, output) for the engine to show."""
    error = exec_error(COMPILE, 1, stderr="boom")
    with pytest.raises(type(error)):
        await mod.call(failing, error)
