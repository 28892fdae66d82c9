"""The click CLI: options, help and errors. Engine commands stop before any engine work here."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import anyio
import click
import pytest
from click.testing import CliRunner

from egstalker import hostcheck
from egstalker.cli import as_click_error, main
from egstalker.concurrency import run_all
from egstalker.errors import InvalidOption
from egstalker.failures import StepsFailed
from egstalker.verification import VerificationFailed
from tests.dagger_errors import exec_error

ENGINE_COMMANDS = ["build", "verify", "report"]


@pytest.fixture(autouse=True)
def no_engine_from_the_environment(no_engine_settings: None) -> None:
    """The host's own engine settings never reach these tests."""


def invoke(*args: str, path: Path | None = None, env: dict[str, str] | None = None):
    environment = dict(env or {})
    if path is not None:
        environment["PATH"] = str(path)
    return CliRunner().invoke(main, list(args), env=environment or None)


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
        (
            "build",
            [
                "--variant",
                "--arch",
                "--max-jobs",
                "--source",
                "--output",
                "--no-pytorch3d",
                "--preprocessing",
                "--no-bake-weights",
                "--base-mismatch",
            ],
        ),
        ("verify", ["--variant", "--gpu", "--arch"]),
        ("report", ["--output", "--arch"]),
        ("shell", ["--arch", "--max-jobs", "--source", "--no-pytorch3d", "--preprocessing"]),
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
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--max-jobs", "4.5"],
            "Error: Invalid value for '--max-jobs': '4.5' is not a valid integer.",
        ),
        (["--max-jobs"], "Error: Option '--max-jobs' requires an argument."),
        (["--archs", "8.6"], "Error: No such option '--archs'"),
    ],
)
def test_click_usage_errors_are_one_line_too(command: str, args: list[str], says: str) -> None:
    result = invoke(command, *args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[0].startswith(says)
    assert len(result.output.strip().splitlines()) == 1


def test_an_unknown_command_is_one_line() -> None:
    result = invoke("biuld")
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: No such command 'biuld'")


@pytest.mark.parametrize("command", [*ENGINE_COMMANDS, "shell"])
def test_source_is_checked_here_and_named(command: str, tmp_path: Path) -> None:
    missing = tmp_path / "EGSTalker"
    result = invoke(command, "--source", str(missing))
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: invalid source '{missing}': no such file or directory"
    not_app = tmp_path / "notes"
    not_app.mkdir()
    (not_app / "train.py").write_text("")
    result = invoke(command, "--source", str(not_app))
    assert result.exit_code == 2
    assert result.output.startswith(
        f"Error: invalid source '{not_app}': it is not an EGSTalker checkout: render.py, scene "
        "missing at its top level"
    )
    a_file = not_app / "train.py"
    result = invoke(command, "--source", str(a_file))
    assert result.output.strip() == (
        f"Error: invalid source '{a_file}': it is a file; give the checkout's folder"
    )


@pytest.mark.parametrize("command", ENGINE_COMMANDS)
def test_missing_engine_is_one_line_and_exit_2(command: str, tmp_path: Path) -> None:
    result = invoke(command, path=tmp_path)  # a PATH with no container runtime on it
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: no Dagger engine can be reached: no container runtime to start the engine "
        "(docker, container, podman, finch, nerdctl not found): install Docker, or point "
        "_EXPERIMENTAL_DAGGER_RUNNER_HOST at a running engine (README: Build on a bigger machine)"
    ]


def test_a_failed_start_leaves_no_empty_output_folder(tmp_path: Path) -> None:
    output = tmp_path / "build"
    result = invoke("build", "--output", str(output), path=tmp_path / "bin")
    assert result.exit_code == 2
    assert not output.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    invoke("report", "--output", str(kept), path=tmp_path / "bin")
    assert kept.is_dir()  # a folder the user had stays


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
    assert "missing  engine: no container runtime to start the engine" in result.output
    assert "optional  dagger: dagger not found: install the Dagger CLI 0.21.11" in result.output
    assert "ok  sdk cli: the egstalker commands fetch the Dagger CLI 0.21.11" in result.output
    assert "optional  nvidia toolkit: NVIDIA Container Toolkit not found" in result.output
    assert "export _EXPERIMENTAL_DAGGER_GPU_SUPPORT=1" in result.output
    assert "Error: fix the lines marked 'missing' above" in result.output


@pytest.fixture
def enough_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever this host has free, the engine's disk needs are met (tests/test_hostcheck.py
    covers the disk check)."""
    monkeypatch.setattr(hostcheck, "DISK_NEEDED", 0)


@pytest.mark.usefixtures("enough_disk")
def test_doctor_needs_no_dagger_cli_for_the_egstalker_commands(tmp_path: Path) -> None:
    fake_command(tmp_path, "docker", "echo 28.2.2")
    result = invoke("doctor", path=tmp_path)
    assert "optional  dagger: dagger not found" in result.output
    assert "missing" not in result.output
    assert result.exit_code == 0, result.output


@pytest.mark.usefixtures("enough_disk")
def test_doctor_passes_with_the_tools_in_place(tmp_path: Path) -> None:
    fake_command(tmp_path, "docker", "echo 28.2.2")
    fake_command(tmp_path, "dagger", "echo 'dagger v0.21.11 (image://x) linux/amd64'")
    result = invoke("doctor", path=tmp_path)
    assert result.exit_code == 0, result.output
    assert (
        "ok  engine: the engine image registry.dagger.io/engine:v0.21.11, started with docker"
        in result.output
    )
    assert "ok  dagger: v0.21.11, as dagger.json asks" in result.output


def test_doctor_flags_another_dagger_version(tmp_path: Path) -> None:
    fake_command(tmp_path, "docker", "echo 28.2.2")
    fake_command(tmp_path, "dagger", "echo 'dagger v0.19.2 (image://x) linux/amd64'")
    result = invoke("doctor", path=tmp_path)
    assert "optional  dagger: dagger is 0.19.2: install the Dagger CLI 0.21.11" in result.output


def test_doctor_with_a_remote_engine_needs_no_runtime_here(tmp_path: Path) -> None:
    result = invoke(
        "doctor",
        path=tmp_path,
        env={"_EXPERIMENTAL_DAGGER_RUNNER_HOST": "tcp://builder.internal:8080"},
    )
    assert result.exit_code == 0, result.output
    assert (
        "ok  engine: the engine at tcp://builder.internal:8080 (_EXPERIMENTAL_DAGGER_RUNNER_HOST)"
        in result.output
    )


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


def test_shell_passes_every_build_option(tmp_path: Path) -> None:
    record = tmp_path / "args"
    fake_command(tmp_path, "dagger", f'[ "$1" = version ] && echo v0.21.11 || echo "$@" > {record}')
    app = tmp_path / "EGSTalker"
    (app / "scene").mkdir(parents=True)
    for name in ("train.py", "render.py"):
        (app / name).write_text("")
    result = invoke(
        "shell", "--arch", "8.6", "--max-jobs", "4", "--source", str(app), "--no-pytorch3d",
        path=tmp_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert record.read_text().split() == [
        "call", "--arch", "8.6", "--max-jobs", "4", "--source", str(app), "--pytorch3d=false",
        "build-single-stage", "terminal",
    ]  # fmt: skip


def test_shell_passes_the_image_options(tmp_path: Path) -> None:
    record = tmp_path / "args"
    fake_command(tmp_path, "dagger", f'[ "$1" = version ] && echo v0.21.11 || echo "$@" > {record}')
    result = invoke(
        "shell", "--preprocessing", "all", "--no-bake-weights", "--base-mismatch", "fail",
        path=tmp_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert record.read_text().split() == [
        "call", "--arch", "8.6", "--preprocessing", "all", "--bake-weights=false",
        "--base-mismatch", "fail", "build-single-stage", "terminal",
    ]  # fmt: skip


@pytest.mark.parametrize("command", [*ENGINE_COMMANDS, "shell"])
def test_a_bad_image_option_is_one_line(command: str) -> None:
    result = invoke(command, "--preprocessing", "runtime")
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert "'runtime' is not one of 'single-stage', 'all', 'none'" in line


def test_shell_refuses_bad_options_before_calling_dagger(tmp_path: Path) -> None:
    result = invoke("shell", "--max-jobs", "0", path=tmp_path)
    assert result.exit_code == 2
    assert "invalid max-jobs 0" in result.output


COMPILE_KNN = ["python", "/opt/egstalker/programs/build_extension.py", "simple_knn", "/src"]
HYGIENE = ["python", "/opt/egstalker/programs/check_runtime.py", "/tmp/conda-delta"]


async def failing_together(*errors: Exception) -> None:
    """Steps in a plain anyio task group that each fail: the group raises them together."""

    async def fail(error: Exception) -> None:
        with anyio.CancelScope(shield=True):  # both get to fail before the group cancels
            await anyio.sleep(0.01)
        raise error

    async with anyio.create_task_group() as group:
        for error in errors:
            group.start_soon(fail, error)


def shown(error: click.ClickException) -> str:
    out = io.StringIO()
    error.show(out)
    return out.getvalue()


@pytest.mark.anyio
async def test_concurrent_failures_reach_the_user_whole() -> None:
    knn = exec_error(COMPILE_KNN, 137, stderr="killed\nhint: lower --max-jobs (each job ~3 GB)")
    hygiene = exec_error(HYGIENE, 1, stderr="runtime hygiene check failed: 1 finding(s)")
    with pytest.raises(BaseExceptionGroup) as group:
        await failing_together(knn, hygiene)
    error = as_click_error(group.value)
    assert error.exit_code == 1
    text = shown(error)
    assert "step 'compile simple_knn' failed with exit code 137:" in text
    assert "hint: lower --max-jobs" in text
    assert "step 'check the runtime image's hygiene' failed with exit code 1:" in text
    assert "Traceback" not in text
    assert "ExceptionGroup" not in text
    assert "sub-exception" not in text


@pytest.mark.anyio
async def test_failures_collected_by_the_pipeline_reach_the_user_whole() -> None:
    first = VerificationFailed("single-stage image failed verification:\n  - app: no module cv2")
    second = exec_error(COMPILE_KNN, 1, stderr="hint: the rasterizer's glm headers are missing")

    async def fail(error: Exception) -> None:
        raise error

    with pytest.raises(StepsFailed) as failed:
        await run_all({"single-stage": lambda: fail(first), "multistage": lambda: fail(second)})
    text = shown(as_click_error(failed.value))
    assert "- app: no module cv2" in text
    assert "hint: the rasterizer's glm headers are missing" in text


def test_a_usage_problem_inside_a_group_is_still_exit_2() -> None:
    group = ExceptionGroup("x", [InvalidOption("max-jobs", 0, "use 1 to 256")])
    error = as_click_error(group)
    assert (error.exit_code, error.message) == (2, "invalid max-jobs 0: use 1 to 256")


def test_an_unexpected_error_keeps_its_traceback() -> None:
    with pytest.raises(KeyError):
        as_click_error(ExceptionGroup("x", [KeyError("bug")]))


# The Dagger SDK takes seconds to import (bench/cli_startup.py): the commands that need no
# engine run without it.
NO_SDK = """
import sys
from egstalker.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("dagger imported:", "dagger" in sys.modules)
"""


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["arch", "a10"], ["doctor"]])
def test_commands_without_an_engine_do_not_import_the_sdk(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", NO_SDK, *args], capture_output=True, text=True, check=False
    )
    assert result.stdout.splitlines()[-1] == "dagger imported: False", result.stderr
