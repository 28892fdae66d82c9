from __future__ import annotations

import json

import pytest

from egstalker.errors import InvalidOption
from egstalker.verification import VerificationFailed, check_variant, verdict


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
        verdict("single-stage", 139, "", "Traceback...\nSegfault")
    assert str(err.value).endswith("exited with 139 without a report:\nTraceback...\nSegfault")


def test_exit_code_and_report_must_agree() -> None:
    with pytest.raises(VerificationFailed, match="exit 1"):
        verdict("multistage", 1, report(True), "")
