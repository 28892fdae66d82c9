from __future__ import annotations

import json
from pathlib import Path

import pytest

from egstalker.hostcheck import engine_problem, parse_dagger_version
from egstalker.pins import DAGGER_VERSION

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ("dagger v0.21.11 (image://registry.dagger.io/engine:v0.21.11) linux/amd64", "0.21.11"),
        ("dagger v1.0.0-beta.3 (...) darwin/arm64", "1.0.0-beta.3"),
        ("", None),
        ("command not found", None),
    ],
)
def test_parse_dagger_version(output: str, version: str | None) -> None:
    assert parse_dagger_version(output) == version


def test_dagger_json_and_pins_agree() -> None:
    config = json.loads((ROOT / "dagger.json").read_text())
    assert config["engineVersion"] == f"v{DAGGER_VERSION}"
    assert config["sdk"]["source"] == "python"
    assert config["source"] == "pipeline"


def test_an_engine_given_by_the_environment_needs_no_docker(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("DAGGER_SESSION_PORT", raising=False)
    monkeypatch.delenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST", raising=False)
    assert engine_problem() == (
        "no Dagger engine can start: docker not found: install Docker; Dagger runs its engine in it"
    )
    monkeypatch.setenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST", "tcp://127.0.0.1:1234")
    assert engine_problem() is None
