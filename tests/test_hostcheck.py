from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from egstalker import hostcheck
from egstalker.hostcheck import (
    check_engine,
    check_gpu_variable,
    engine_is_local,
    engine_problem,
    parse_dagger_version,
)
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


@pytest.fixture
def host(no_engine_settings: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A host with nothing on PATH and no engine settings; tests add stand-in host tools."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def tool(folder: Path, name: str, script: str = "exit 0") -> None:
    """A stand-in for a host command (docker, podman, dagger), never for the engine."""
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def test_nothing_to_start_an_engine_with(host: Path) -> None:
    assert engine_problem() == (
        "no Dagger engine can be reached: no container runtime to start the engine (docker, "
        "container, podman, finch, nerdctl not found): install Docker, or point "
        "_EXPERIMENTAL_DAGGER_RUNNER_HOST at a running engine (README: Build on a bigger machine)"
    )


@pytest.mark.parametrize("runtime", ["docker", "podman", "nerdctl", "finch"])
def test_any_runtime_the_dagger_cli_knows_will_do(host: Path, runtime: str) -> None:
    tool(host, runtime, '[ "$1" = version ] && echo "Version: 5.0"')
    assert engine_problem() is None
    assert check_engine().detail.endswith(f"started with {runtime}")


def test_apple_container_is_asked_for_its_system_status(host: Path) -> None:
    tool(host, "container", '[ "$1 $2" = "system status" ] || exit 1')
    assert check_engine().ok


def test_the_first_runtime_found_decides_as_in_the_cli(host: Path) -> None:
    tool(host, "docker", "echo 'Cannot connect to the Docker daemon' >&2; exit 1")
    tool(host, "podman", "echo podman")
    engine = check_engine()
    assert not engine.ok  # the CLI stops at a docker that does not answer, too
    assert engine.detail.startswith(
        "docker is installed but `docker version` failed (Cannot connect to the Docker daemon)"
    )


@pytest.mark.parametrize(
    "runner",
    [
        "tcp://builder.internal:8080",
        "unix:///run/dagger/engine.sock",
        "dagger-cloud://default-engine-config.dagger.cloud",
    ],
)
def test_a_remote_engine_needs_nothing_here(
    host: Path, monkeypatch: pytest.MonkeyPatch, runner: str
) -> None:
    monkeypatch.setenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST", runner)
    assert engine_problem() is None
    assert not engine_is_local()


@pytest.mark.parametrize(
    ("runner", "command", "says"),
    [
        ("ssh://me@gpu-node", "ssh", "`ssh HOST buildctl dial-stdio`"),
        ("kube-pod://dagger-engine-abc?namespace=dagger", "kubectl", "pods/exec"),
    ],
)
def test_a_dialled_engine_needs_its_command_here(
    host: Path, monkeypatch: pytest.MonkeyPatch, runner: str, command: str, says: str
) -> None:
    monkeypatch.setenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST", runner)
    problem = engine_problem()
    assert problem is not None
    assert f"{command} not found: " in problem
    assert says in problem
    tool(host, command)
    assert engine_problem() is None
    assert says in check_engine().detail  # what the other end needs is said even then
    assert not engine_is_local()


@pytest.mark.parametrize("value", ["1", "true", "yes", "0"])
def test_gpu_support_is_any_value_and_names_the_gpu_engine(
    host: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """The CLI tests the variable for non-empty only (cmd/dagger/engine.go), "0" included."""
    monkeypatch.setenv("_EXPERIMENTAL_DAGGER_GPU_SUPPORT", value)
    finding = check_gpu_variable()
    assert finding.ok
    assert f"registry.dagger.io/engine:v{DAGGER_VERSION}-gpu" in finding.detail
    assert "keep it set for every command" in finding.detail
    tool(host, "docker")
    assert check_engine().detail.startswith(
        f"the engine image registry.dagger.io/engine:v{DAGGER_VERSION}-gpu, started with docker"
    )


def test_without_gpu_support_the_plain_engine_is_named(
    host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("_EXPERIMENTAL_DAGGER_GPU_SUPPORT", raising=False)
    finding = check_gpu_variable()
    assert not finding.ok
    assert "for every command (make: GPU=1)" in finding.detail
    tool(host, "docker")
    assert check_engine().detail.startswith(
        f"the engine image registry.dagger.io/engine:v{DAGGER_VERSION}, started"
    )


def test_a_runner_host_naming_a_runtime_needs_that_runtime(
    host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST", "image+podman://registry/engine:v1")
    tool(host, "docker")
    assert check_engine().detail == (
        "no container runtime to start the engine (podman not found): install Docker, or point "
        "_EXPERIMENTAL_DAGGER_RUNNER_HOST at a running engine (README: Build on a bigger machine)"
    )
    tool(host, "podman")
    assert check_engine().ok
    monkeypatch.setenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST", "docker-container://dagger-engine")
    assert check_engine().detail.endswith("started with docker")


def test_an_unknown_runner_scheme_is_named(host: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST", "http://engine:8080")
    assert engine_problem() == (
        "no Dagger engine can be reached: _EXPERIMENTAL_DAGGER_RUNNER_HOST='http://engine:8080': "
        "the Dagger CLI has no driver for it; use one of tcp://, unix://, ssh://, kube-pod://, "
        "tls://, dagger-cloud://, image://, container://"
    )


def test_a_dagger_run_session_or_a_cloud_engine_needs_nothing_here(
    host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGGER_SESSION_PORT", "41234")
    assert "DAGGER_SESSION_TOKEN" in check_engine().detail  # the SDK refuses a port alone
    monkeypatch.setenv("DAGGER_SESSION_TOKEN", "t")
    assert check_engine().detail == "the `dagger run` session on port 41234"
    monkeypatch.delenv("DAGGER_SESSION_PORT")
    monkeypatch.setenv("DAGGER_CLOUD_ENGINE", "1")
    assert engine_problem() is None


def run_module(*args: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "egstalker.hostcheck", *args],
        env=dict(os.environ, PATH=str(path)),
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_dagger_cli_check_for_make_is_one_line(host: Path) -> None:
    missing = run_module("dagger-cli", path=host)
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [
        "error: dagger not found: install the Dagger CLI 0.21.11 (https://docs.dagger.io/install,"
        " with DAGGER_VERSION=0.21.11); `dagger call` and the make targets that call it need it "
        "on PATH (the egstalker commands fetch their own)"
    ]
    tool(host, "dagger", "echo 'dagger v0.21.11 (image://x) linux/amd64'")
    present = run_module("dagger-cli", path=host)
    assert (present.returncode, present.stdout, present.stderr) == (0, "", "")
    assert run_module("docker", path=host).returncode == 2


def test_too_little_disk_is_named_with_what_to_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    free_gb = shutil.disk_usage(tmp_path).free // 1000**3
    monkeypatch.setattr(hostcheck, "DISK_NEEDED", (free_gb + 1000) * 1000**3)
    finding = hostcheck.check_disk(tmp_path)
    assert not finding.ok
    assert finding.required
    assert finding.detail.endswith(
        f"free at least {free_gb + 1000} GB for the engine and the images"
    )
    monkeypatch.setattr(hostcheck, "DISK_NEEDED", 0)
    assert hostcheck.check_disk(tmp_path).ok
