"""Engine and GPU tests run only when asked for, even where Docker answers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine import NOT_ASKED, REQUEST_VARIABLE, selects_engine_tests

ROOT = Path(__file__).resolve().parents[1]
ENGINE_TESTS = "tests/test_engine.py"

# Host commands that record each call: `docker info` and `docker version` answer like a
# running daemon; anything else (or the dagger CLI the SDK would start) fails, so no engine
# ever runs.
STAND_IN = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
case "$(basename "$0") $1" in
    "docker info" | "docker version") echo 27.3.1; exit 0 ;;
esac
exit 1
"""


def run_engine_tests(tmp_path: Path, *args: str, **env: str) -> tuple[str, list[str], Path]:
    """pytest on the engine tests, with stand-in `docker` and `dagger` first on PATH."""
    bin_dir, log, cache = tmp_path / "bin", tmp_path / "calls.log", tmp_path / "cache"
    bin_dir.mkdir()
    cache.mkdir()
    for name in ("docker", "dagger"):
        (bin_dir / name).write_text(STAND_IN.format(log=log))
        (bin_dir / name).chmod(0o755)
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DAGGER_", "_EXPERIMENTAL_DAGGER", "PYTEST_"))
        and key != REQUEST_VARIABLE
    }
    clean |= {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "_EXPERIMENTAL_DAGGER_CLI_BIN": str(bin_dir / "dagger"),
        "XDG_CACHE_HOME": str(cache),
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", ENGINE_TESTS, "-p", "no:cacheprovider", "-rs", *args],
        cwd=ROOT, env=clean, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    calls = log.read_text().splitlines() if log.exists() else []
    return result.stdout + result.stderr, calls, cache


def test_a_default_run_starts_no_engine_work_where_docker_answers(tmp_path: Path) -> None:
    output, calls, cache = run_engine_tests(tmp_path)
    summary = output.strip().splitlines()[-1]
    assert re.fullmatch(r"=+ \d+ skipped in [\d.]+s =+", summary), output  # only skips
    skips = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    assert skips, output
    assert all(NOT_ASKED in line for line in skips), output  # each says how to run it
    assert calls == []  # not even `docker info`
    assert not any(cache.iterdir())  # no Dagger CLI fetched


def test_asked_for_engine_tests_do_reach_for_the_engine(tmp_path: Path) -> None:
    output, calls, _ = run_engine_tests(tmp_path, "-x", **{REQUEST_VARIABLE: "1"})
    assert NOT_ASKED not in output
    assert any(call.startswith("docker ") for call in calls), output
    assert any(call.startswith("dagger ") for call in calls), (calls, output)


def test_a_bad_request_value_is_refused(tmp_path: Path) -> None:
    output, calls, _ = run_engine_tests(tmp_path, **{REQUEST_VARIABLE: "yes"})
    assert f"{REQUEST_VARIABLE}='yes': use 1" in output
    assert calls == []


@pytest.mark.parametrize(
    ("markexpr", "selects"),
    [
        ("", False),
        ("engine", True),
        ("gpu", True),
        ("engine or gpu", True),
        ("engine and not gpu", True),
        ("not gpu", False),  # keeps every unmarked test too: no explicit request
        ("not engine", False),
        ("slow", False),
        ("not slow", False),
    ],
)
def test_only_a_selection_of_engine_tests_asks_for_them(markexpr: str, selects: bool) -> None:
    assert selects_engine_tests(markexpr) is selects
