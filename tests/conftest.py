from __future__ import annotations

import pytest

from tests.engine import engine_tests_requested, skip_without_engine


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pytest_configure(config: pytest.Config) -> None:
    engine_tests_requested(config)  # a bad EGSTALKER_ENGINE_TESTS stops the run at once


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_without_engine(config, items)
