from __future__ import annotations

import pytest

from tests.engine import skip_without_engine


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pytest_runtest_setup(item: pytest.Item) -> None:
    skip_without_engine(item)
