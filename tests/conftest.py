from __future__ import annotations

import pytest

from tests.engine import engine_tests_requested, skip_without_engine

# What tells the Dagger CLI and SDK where an engine is: a test of how an engine is found
# must not see the host's own settings.
ENGINE_VARIABLES = (
    "DAGGER_SESSION_PORT",
    "DAGGER_SESSION_TOKEN",
    "DAGGER_CLOUD_ENGINE",
    "_EXPERIMENTAL_DAGGER_RUNNER_HOST",
    "_EXPERIMENTAL_DAGGER_CLI_BIN",
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def no_engine_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """None of the host's engine settings reach the test."""
    for variable in ENGINE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


def pytest_configure(config: pytest.Config) -> None:
    engine_tests_requested(config)  # a bad EGSTALKER_ENGINE_TESTS stops the run at once


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_without_engine(config, items)
