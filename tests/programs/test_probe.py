"""probe.py: its capability-versus-manifest logic, and real runs on this GPU-less machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.programs.conftest import load_program

probe = load_program("probe.py")


def manifest(arch_list: str, sass: list[str], ptx: list[str]) -> dict:
    targets = {"sass": sass, "ptx": ptx}
    return {
        "arch_list": arch_list,
        "extensions": {
            "simple_knn": {"libraries": {"_C.so": targets}},
            "diff_gaussian_rasterization": {"libraries": {"_C.so": targets}},
        },
    }


@pytest.mark.parametrize(
    ("sass", "ptx", "gpu", "runs"),
    [
        (["8.6"], [], "8.6", True),  # A10
        (["8.6"], [], "8.9", True),  # L4: same major, newer minor
        (["8.6"], [], "8.0", False),  # A100: older minor
        (["8.6"], [], "9.0", False),  # H100/H200: other major
        (["8.0"], [], "8.6", True),
        (["7.5", "8.0", "8.6", "8.9", "9.0"], [], "9.0", True),
        (["8.6"], ["8.6"], "9.0", True),  # PTX is compiled by the driver for newer GPUs
        (["8.6"], ["8.6"], "8.0", False),  # ... but never for older ones
        ([], [], "8.6", False),
    ],
)
def test_runs_on(sass: list[str], ptx: list[str], gpu: str, runs: bool) -> None:
    assert probe.runs_on(sass, ptx, gpu) is runs


def test_an_uncovered_gpu_gets_the_reason_and_the_fix() -> None:
    message = probe.coverage_message(manifest("8.6", ["8.6"], []), "9.0", "NVIDIA H200")
    assert message.startswith(
        "built for sm_86; this GPU (NVIDIA H200) is sm_90: rebuild with --arch 9.0 "
        '(or add it: --arch "8.6;9.0")'
    )
    assert "simple_knn/_C.so" in message
    assert "diff_gaussian_rasterization/_C.so" in message
    assert "memory" not in message


def test_a_covered_gpu_has_no_message() -> None:
    assert probe.coverage_message(manifest("8.6;9.0", ["8.6", "9.0"], []), "9.0", "H200") is None
    assert probe.coverage_message(manifest("8.6+PTX", ["8.6"], ["8.6"]), "9.0", "H200") is None


def test_one_uncovered_library_is_enough_to_refuse() -> None:
    mixed = manifest("9.0", ["9.0"], [])
    mixed["extensions"]["simple_knn"]["libraries"]["_C.so"] = {"sass": ["8.6"], "ptx": []}
    assert probe.uncovered_libraries(mixed, "9.0") == ["simple_knn/_C.so"]


def test_report_records_failures_of_the_code_under_test() -> None:
    report = probe.Report("cpu")
    assert report.run("fine", lambda: "ok")
    assert not report.run("broken", lambda: 1 / 0)
    report.skip("gpu", "skipped: CPU mode")
    assert not report.ok
    statuses = {c["name"]: c["status"] for c in report.checks}
    assert statuses == {"fine": "passed", "broken": "failed", "gpu": "skipped"}
    assert (
        json.loads(report.as_json())["checks"][1]["detail"] == "ZeroDivisionError: division by zero"
    )


def run_probe(*args: str, tmp_path: Path) -> tuple[int, dict]:
    result = subprocess.run(
        [sys.executable, probe.__file__, *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env=dict(os.environ, CUDA_VISIBLE_DEVICES=""),
    )
    return result.returncode, json.loads(result.stdout)


def statuses(report: dict) -> dict[str, str]:
    return {c["name"]: c["status"] for c in report["checks"]}


def details(report: dict) -> dict[str, str]:
    return {c["name"]: c["detail"] for c in report["checks"]}


def test_gpu_mode_without_a_gpu_fails_and_says_why(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest("8.6", ["8.6"], [])))
    code, report = run_probe(
        "--mode", "gpu", "--no-app", "--manifest", str(path), tmp_path=tmp_path
    )
    assert code == 1
    assert report["ok"] is False
    assert statuses(report)["torch"] == "passed"
    assert statuses(report)["manifest"] == "passed"
    assert statuses(report)["cuda"] == "failed"
    assert details(report)["cuda"].startswith("CUDA is not available: torch sees no GPU")
    assert "_EXPERIMENTAL_DAGGER_GPU_SUPPORT=1" in details(report)["cuda"]


def test_cpu_mode_skips_the_gpu_part_and_says_so(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    code, report = run_probe(
        "--mode", "cpu", "--app-dir", str(tmp_path / "absent"), "--manifest",
        str(tmp_path / "absent.json"), tmp_path=tmp_path,
    )  # fmt: skip
    assert statuses(report)["gpu"] == "skipped"
    assert details(report)["gpu"] == "skipped: CPU mode checks only what needs no GPU"
    # no extensions, no app and no manifest here: each is a failure with its reason
    assert statuses(report)["extensions"] == "failed"
    assert "No module named 'diff_gaussian_rasterization'" in details(report)["extensions"]
    assert statuses(report)["manifest"] == "failed"
    assert "no readable build manifest" in details(report)["manifest"]
    assert code == 1
