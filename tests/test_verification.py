from __future__ import annotations

import json

import pytest

from egstalker.errors import InvalidOption
from egstalker.failures import describe
from egstalker.verification import VerificationFailed, check_variant, hygiene_verdict, verdict
from tests.dagger_errors import exec_error

HYGIENE = ["python", "/opt/egstalker/programs/check_runtime.py", "/tmp/conda-delta"]


def report(ok: bool, *failed: tuple[str, str]) -> str:
    checks = [{"name": "torch", "status": "passed", "detail": "imported torch"}]
    checks += [{"name": n, "status": "failed", "detail": d} for n, d in failed]
    return json.dumps({"ok": ok, "mode": "gpu", "checks": checks})


def test_variants() -> None:
    assert check_variant("multistage") == "multistage"
    with pytest.raises(InvalidOption, match="invalid variant 'runtime': use one of single-stage, "):
        check_variant("runtime")


def test_a_passing_report_is_returned() -> None:
    assert verdict("multistage", 0, report(True), "") == report(True)


def test_failures_name_each_check_and_its_reason() -> None:
    stdout = report(False, ("architecture", "built for sm_86; this GPU (NVIDIA H200) is sm_90"))
    with pytest.raises(VerificationFailed) as err:
        verdict("multistage", 1, stdout, "")
    assert str(err.value) == (
        "multistage image failed verification:\n"
        "  - architecture: built for sm_86; this GPU (NVIDIA H200) is sm_90"
    )


def test_a_probe_that_crashed_shows_its_last_lines() -> None:
    with pytest.raises(VerificationFailed) as err:
        verdict("single-stage", 1, "", "Traceback...\nImportError: libGL.so.1")
    assert str(err.value).endswith(
        "exited with 1 without a report:\nTraceback...\nImportError: libGL.so.1"
    )


@pytest.mark.parametrize(
    ("code", "names", "means"),
    [
        (137, "killed by SIGKILL (exit code 137)", "out-of-memory killer"),
        (139, "killed by SIGSEGV (exit code 139)", "segmentation fault in compiled code"),
        (134, "killed by SIGABRT (exit code 134)", "C++ exception"),
        (135, "killed by SIGBUS (exit code 135)", "shared memory"),
        (143, "killed by SIGTERM (exit code 143)", "timeout"),
        (129, "killed by SIGHUP (exit code 129)", "killed by a signal"),
    ],
)
def test_a_probe_killed_by_a_signal_names_it_and_what_it_means(
    code: int, names: str, means: str
) -> None:
    with pytest.raises(VerificationFailed) as err:
        verdict("multistage", code, "", "Loading extensions...")
    message = str(err.value)
    assert message.startswith(f"multistage: the probe was {names}: ")
    assert means in message
    assert message.endswith("\nLoading extensions...")


def test_hygiene_failures_are_named_as_such() -> None:
    failed = exec_error(HYGIENE, 1, stdout="compiler on PATH: gcc at /usr/bin/gcc\n")
    found = hygiene_verdict(failed.command, failed.stdout)
    assert str(found) == (
        "multistage image failed the runtime hygiene check:\ncompiler on PATH: gcc at /usr/bin/gcc"
    )


@pytest.mark.parametrize(
    ("command", "step"),
    [
        (["sh", "/opt/egstalker/programs/apt_install.sh", "libgl1"], "install system packages"),
        (["python", "/opt/egstalker/programs/build_extension.py", "simple_knn", "/src"],
         "compile simple_knn"),
        (["useradd", "--create-home", "egstalker"], "useradd --create-home egstalker"),
    ],
)  # fmt: skip
def test_an_earlier_step_keeps_its_own_name_and_hint(command: list[str], step: str) -> None:
    failed = exec_error(command, 100, stderr="E: Unable to locate package libgl1\nhint: x")
    assert hygiene_verdict(failed.command, failed.stdout) is None
    assert describe(failed).startswith(f"step '{step}' failed with exit code 100:")
    assert describe(failed).endswith("hint: x")


def test_exit_code_and_report_must_agree() -> None:
    with pytest.raises(VerificationFailed, match="exit 1"):
        verdict("multistage", 1, report(True), "")
