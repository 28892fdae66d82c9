"""The click CLI: options, help and errors. Engine commands stop before any engine work here."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from egstalker.cli import main

ENGINE_COMMANDS = ["build", "verify", "report"]


def invoke(*args: str, path: Path | None = None):
    env = {"PATH": str(path)} if path is not None else None
    return CliRunner().invoke(main, list(args), env=env)


def fake_command(folder: Path, name: str, script: str) -> None:
    """A stand-in for a host tool (nvidia-smi, docker, dagger), never for the engine."""
    folder.mkdir(exist_ok=True)
    tool = folder / name
    tool.write_text(f"#!/bin/sh\n{script}\n")
    tool.chmod(0o755)


def test_help_lists_every_command() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ["build", "verify", "report", "arch", "doctor", "shell"]:
        assert command in result.output


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("build", ["--variant", "--arch", "--max-jobs", "--source", "--output", "--no-pytorch3d"]),
        ("verify", ["--variant", "--gpu", "--arch"]),
        ("report", ["--output", "--arch"]),
        ("shell", ["--arch", "--source"]),
    ],
)
def test_command_help(command: str, options: list[str]) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0
    for option in options:
        assert option in result.output


@pytest.mark.parametrize("command", ENGINE_COMMANDS)
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--arch", "sm_86"], "invalid architecture list 'sm_86'"),
        (["--arch", "8.6;;"], "empty entry"),
        (["--max-jobs", "0"], "invalid max-jobs 0"),
    ],
)
def test_bad_options_exit_2_before_any_engine_work(
    command: str, args: list[str], says: str
) -> None:
    result = invoke(command, *args)
    assert result.exit_code == 2
    assert says in result.output
    assert "Traceback" not in result.output


def test_unknown_variant_is_a_usage_error() -> None:
    result = invoke("build", "--variant", "runtime")
    assert result.exit_code == 2
    assert "'runtime' is not one of 'single-stage', 'multistage', 'all'" in result.output


@pytest.mark.parametrize("command", ENGINE_COMMANDS)
def test_missing_engine_is_one_line_and_exit_2(command: str, tmp_path: Path) -> None:
    result = invoke(command, path=tmp_path)  # a PATH with no docker on it
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: no Dagger engine can start: docker not found: install Docker; "
        "Dagger runs its engine in it"
    ]


def test_arch_maps_gpu_names() -> None:
    result = invoke("arch", "a100", "a10")
    assert (result.exit_code, result.output) == (0, "8.0;8.6\n")
    result = invoke("arch", "gtx1080")
    assert result.exit_code == 2
    assert "invalid architecture list 'gtx1080'" in result.output


def test_arch_without_nvidia_smi(tmp_path: Path) -> None:
    result = invoke("arch", path=tmp_path)
    assert result.exit_code == 2
    assert "nvidia-smi not found (no NVIDIA driver here): name the GPUs instead" in result.output


def test_arch_reads_the_local_gpus(tmp_path: Path) -> None:
    fake_command(tmp_path, "nvidia-smi", 'printf "9.0\\n8.6\\n9.0\\n"')
    result = invoke("arch", path=tmp_path)
    assert (result.exit_code, result.output) == (0, "8.6;9.0\n")


def test_arch_when_nvidia_smi_fails(tmp_path: Path) -> None:
    fake_command(
        tmp_path,
        "nvidia-smi",
        "echo 'NVIDIA-SMI has failed because it could not communicate'; exit 9",
    )
    result = invoke("arch", path=tmp_path)
    assert result.exit_code == 2
    assert "nvidia-smi could not list the GPUs: NVIDIA-SMI has failed" in result.output


def test_doctor_says_what_to_fix(tmp_path: Path) -> None:
    result = invoke("doctor", path=tmp_path)
    assert result.exit_code == 2
    assert "missing  docker: docker not found: install Docker" in result.output
    assert "missing  dagger: dagger not found: install the Dagger CLI 0.21.11" in result.output
    assert "optional  nvidia toolkit: NVIDIA Container Toolkit not found" in result.output
    assert "export _EXPERIMENTAL_DAGGER_GPU_SUPPORT=1" in result.output
    assert "Error: fix the lines marked 'missing' above" in result.output


def test_doctor_passes_with_the_tools_in_place(tmp_path: Path) -> None:
    fake_command(tmp_path, "docker", "echo 28.2.2")
    fake_command(tmp_path, "dagger", "echo 'dagger v0.21.11 (image://x) linux/amd64'")
    result = invoke("doctor", path=tmp_path)
    assert result.exit_code == 0, result.output
    assert "ok  docker: daemon 28.2.2" in result.output
    assert "ok  dagger: v0.21.11, as dagger.json asks" in result.output


def test_doctor_flags_another_dagger_version(tmp_path: Path) -> None:
    fake_command(tmp_path, "docker", "echo 28.2.2")
    fake_command(tmp_path, "dagger", "echo 'dagger v0.19.2 (image://x) linux/amd64'")
    result = invoke("doctor", path=tmp_path)
    assert result.exit_code == 2
    assert "missing  dagger: dagger is 0.19.2: install the Dagger CLI 0.21.11" in result.output


def test_shell_needs_the_dagger_cli(tmp_path: Path) -> None:
    result = invoke("shell", path=tmp_path)
    assert result.exit_code == 2
    assert "dagger not found" in result.output


def test_shell_calls_the_module(tmp_path: Path) -> None:
    record = tmp_path / "args"
    fake_command(tmp_path, "dagger", f'[ "$1" = version ] && echo v0.21.11 || echo "$@" > {record}')
    result = invoke("shell", "--arch", "a100", path=tmp_path)
    assert result.exit_code == 0, result.output
    assert record.read_text().split() == [
        "call", "--arch", "a100", "build-single-stage", "terminal"
    ]  # fmt: skip
