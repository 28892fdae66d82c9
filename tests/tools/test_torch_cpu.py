"""tools.torch_cpu: an index that does not answer costs the timeout and installs nothing.

Run for real against local sockets: one refuses connections, one accepts and never answers
(as a firewall that drops packets would).
"""

from __future__ import annotations

import socket
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tools.command import run_tool
from tools.torch_cpu import torch_pin

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return run_tool("tools.torch_cpu", *args)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """An HTTP address whose server accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield f"http://127.0.0.1:{server.getsockname()[1]}/whl/cpu"


@pytest.fixture
def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/whl/cpu"


def test_the_pin_is_the_torch_extras() -> None:
    pyproject = tomllib.loads((ROOT / "pipeline" / "pyproject.toml").read_text())
    assert torch_pin() in pyproject["project"]["optional-dependencies"]["torch"]
    assert torch_pin().startswith("torch==")


def test_a_silent_index_costs_the_timeout_only(silent_server: str) -> None:
    result = run("--index", silent_server, "--timeout", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"{silent_server} did not answer within 1 s: {torch_pin()} comes from PyPI\n"
    )


def test_a_refused_connection_installs_nothing(closed_port: str) -> None:
    result = run("--index", closed_port)
    assert result.returncode == 0, result.stderr
    assert "did not answer within 3 s" in result.stdout
