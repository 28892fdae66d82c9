from __future__ import annotations

import pytest

from egstalker.failures import describe_step, exec_failure, query_failure


@pytest.mark.parametrize(
    ("command", "step"),
    [
        (["python", "/opt/egstalker/programs/build_extension.py", "simple_knn", "/src"],
         "compile simple_knn"),
        (["sh", "/opt/egstalker/programs/apt_install.sh", "ffmpeg"], "install system packages"),
        (["pip", "install", "-r", "requirements.txt"], "install the Python dependencies"),
        (["uv", "pip", "install", "-r", "requirements.txt"], "install the Python dependencies"),
        (["python", "/opt/egstalker/programs/install_scope.py", "/opt/conda", "/site", "--",
          "python", "/opt/egstalker/programs/build_extension.py", "pytorch3d", "/src"],
         "compile pytorch3d"),
        (["python", "/opt/egstalker/programs/check_archs.py", "--manifest", "m.json"],
         "check the compiled architectures"),
        (["python", "/opt/egstalker/programs/probe.py", "--mode", "gpu"], "probe the image"),
        (["ls", "-l"], "ls -l"),
    ],
)  # fmt: skip
def test_describe_step(command: list[str], step: str) -> None:
    assert describe_step(command) == step


def test_exec_failure_names_step_exit_code_and_stderr_tail() -> None:
    stderr = "\n".join(f"line {i}" for i in range(40)) + (
        "\nerror: step 'compile simple_knn for 8.6' failed with exit code 1"
        "\nhint: a compiler was killed, most likely for lack of memory: lower --max-jobs"
    )
    message = exec_failure(
        ["python", "/opt/egstalker/programs/build_extension.py", "simple_knn", "/src"], 1, stderr
    )
    lines = message.splitlines()
    assert lines[0] == "step 'compile simple_knn' failed with exit code 1:"
    assert lines[-1].startswith("hint: a compiler was killed")
    assert len(lines) == 16  # the last 15 lines of stderr
    assert "line 24" not in message


@pytest.mark.parametrize(
    ("message", "says"),
    [
        ("failed to resolve source metadata for docker.io/pytorch/pytorch:nope: not found",
         "a base image could not be pulled"),
        ("pull access denied, repository does not exist or may require authorization",
         "docker login"),
        ("GPU support is not enabled", "_EXPERIMENTAL_DAGGER_GPU_SUPPORT=1"),
    ],
)  # fmt: skip
def test_engine_errors_get_their_fix(message: str, says: str) -> None:
    text = query_failure(message)
    assert text.startswith(message)
    assert says in text


def test_unknown_errors_pass_through() -> None:
    assert query_failure("something else") == "something else"


def test_a_steps_own_hint_ends_the_message() -> None:
    """The programs print their fix last (tests/programs show it, run for real): it stays."""
    compare = ["python", "/opt/egstalker/programs/compare_bases.py", "compare", "a", "b"]
    report = "\n".join(f"  conda pkg{i}: 1.0 -> 1.1" for i in range(40))
    differ = exec_failure(compare, 3, f"{report}\nhint: build with --base-mismatch=copy")
    assert differ.splitlines()[0] == (
        "step 'compare the devel and runtime bases' failed with exit code 3:"
    )
    assert differ.endswith("hint: build with --base-mismatch=copy")
