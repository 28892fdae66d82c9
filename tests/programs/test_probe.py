"""probe.py: its capability-versus-manifest logic, and real runs on this GPU-less machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
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


def need_torch() -> None:
    """The probe's real runs need torch: CI installs it (EXTRAS=test,torch) and must run them."""
    if os.environ.get("CI"):
        import torch  # noqa: F401  # missing in CI is a failure, not a skip
    else:
        pytest.importorskip("torch", reason="needs torch: make test EXTRAS=test,torch")


def test_gpu_mode_without_a_gpu_fails_and_says_why(tmp_path: Path) -> None:
    need_torch()
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
    need_torch()
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


@pytest.mark.parametrize(
    ("sass", "ptx", "gpu", "runs"),
    [
        (["9.0a"], [], "9.0", True),  # arch-specific code runs on exactly its capability
        (["9.0a"], [], "9.1", False),  # ... not on a later minor, as plain sm_90 would
        (["9.0"], [], "9.1", True),
        (["9.0a"], [], "10.0", False),
        (["8.6"], ["9.0a"], "9.0", True),  # arch-specific PTX is compiled for 9.0 only
        ([], ["9.0a"], "10.0", False),
        ([], ["9.0"], "10.0", True),
        (["10.0f"], [], "10.3", True),  # family code runs within its family
        ([], ["10.0f"], "10.3", True),
        ([], ["10.0f"], "12.0", False),  # ... and family PTX not beyond it
    ],
)
def test_runs_on_arch_specific_and_family_targets(
    sass: list[str], ptx: list[str], gpu: str, runs: bool
) -> None:
    assert probe.runs_on(sass, ptx, gpu) is runs


@pytest.mark.parametrize(
    ("arch_list", "sass", "ptx", "gpu", "built", "added"),
    [
        ("8.6 8.9", ["8.6", "8.9"], [], "9.0", "sm_86, sm_89", "8.6;8.9;9.0"),
        ("8.6;8.9+PTX", ["8.6", "8.9"], ["8.9"], "8.0", "sm_86, sm_89 and PTX compute_89",
         "8.6;8.9+PTX;8.0"),
        ("9.0a", ["9.0a"], [], "10.0", "sm_90a", "9.0a;10.0"),
    ],
)  # fmt: skip
def test_the_message_reads_any_spelling_of_the_arch_list(
    arch_list: str, sass: list[str], ptx: list[str], gpu: str, built: str, added: str
) -> None:
    message = probe.coverage_message(manifest(arch_list, sass, ptx), gpu, "GPU")
    assert message.startswith(
        f"built for {built}; this GPU (GPU) is sm_{gpu.replace('.', '')}: "
        f'rebuild with --arch {gpu} (or add it: --arch "{added}")'
    )


def test_the_manifest_check_shows_the_arch_list_normalised(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest("8.6 8.9,9.0a", ["8.6", "8.9", "9.0a"], [])))
    _, report = run_probe("--mode", "cpu", "--no-app", "--manifest", str(path), tmp_path=tmp_path)
    assert details(report)["manifest"].startswith("arch list 8.6;8.9;9.0a, extensions ")


# --- the environment: pip check and readable metadata, in a Python environment made here


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding only pip (and what venv puts beside it)."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, capture_output=True)
    return root / "bin" / "python"


def dist_info(site: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    folder = site / f"{name}-{version}.dist-info"
    folder.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (folder / "METADATA").write_text("\n".join(lines) + "\n")
    (folder / "RECORD").write_text("")
    return folder


def environment_check(python: Path, site: Path, tmp_path: Path) -> dict:
    result = subprocess.run(
        [str(python), probe.__file__, "--mode", "cpu", "--no-app",
         "--manifest", str(tmp_path / "absent.json")],
        capture_output=True, text=True, check=False, cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(site)),
    )  # fmt: skip
    (check,) = [c for c in json.loads(result.stdout)["checks"] if c["name"] == "environment"]
    return check


def test_a_consistent_environment_passes(venv: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist_info(site, "tqdm", "4.67.1")
    dist_info(site, "needs_tqdm", "1.0", requires=("tqdm>=4.60",))
    check = environment_check(venv, site, tmp_path)
    assert check["status"] == "passed", check["detail"]
    assert check["detail"].startswith("pip check: no broken requirements")


def test_an_empty_metadata_folder_fails_naming_it(venv: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist_info(site, "tqdm", "4.67.1")
    # what removing a replaced package's files but not its folder leaves behind
    (site / "tqdm-4.65.0.dist-info").mkdir()
    (site / "other-2.0.dist-info").mkdir()
    check = environment_check(venv, site, tmp_path)
    assert check["status"] == "failed"
    assert f"{site / 'tqdm-4.65.0.dist-info'} has no readable name and version" in check["detail"]
    assert f"{site / 'other-2.0.dist-info'} has no readable name and version" in check["detail"]
    assert "4.67.1" not in check["detail"]


def test_broken_requirements_and_twice_installed_packages_fail(venv: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist_info(site, "needs_missing", "1.0", requires=("not-installed-anywhere>=2",))
    dist_info(site, "tqdm", "4.65.0")
    dist_info(site, "tqdm", "4.67.1")
    check = environment_check(venv, site, tmp_path)
    assert check["status"] == "failed"
    assert "pip check exited with 1" in check["detail"]
    assert "needs-missing 1.0 requires not-installed-anywhere" in check["detail"].lower()
    assert f"tqdm is installed twice in {site}" in check["detail"]


# --- the app's commands, run with downloads blocked, in an app folder made here

SCRIPTS = {
    "train.py": """
import argparse
import ikan
from scene import helper
parser = argparse.ArgumentParser(description="train")
parser.add_argument("-s", "--source_path")
parser.parse_args()
""",
    "check_env.py": """
import os, sys
for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
    assert os.environ[name] == "http://127.0.0.1:9", name
assert os.environ["NO_PROXY"] == "" and os.environ["HF_HUB_OFFLINE"] == "1", "offline"
assert os.environ["TRANSFORMERS_OFFLINE"] == "1"
""",
    "render.py": "import not_a_module_anyone_has\n",
    "downloads.py": """
import urllib.request
urllib.request.urlopen("http://example.com", timeout=60)
""",
    "hangs.py": "import time\nprint('loading', flush=True)\ntime.sleep(600)\n",
    "fails.py": "import sys\nprint('something else went wrong', file=sys.stderr)\nsys.exit(3)\n",
}


@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    (root / "scene" / "KAN" / "ikan").mkdir(parents=True)
    (root / "scene" / "KAN" / "ikan" / "__init__.py").write_text("")
    (root / "scene" / "__init__.py").write_text("")
    (root / "scene" / "helper.py").write_text("")
    for name, text in SCRIPTS.items():
        (root / name).write_text(text.lstrip())
    return root


def app_commands_check(app: Path, *commands: str, timeout: str = "60") -> dict:
    args = ["--mode", "cpu", "--app-dir", str(app), "--manifest", str(app / "absent.json")]
    args += ["--app-command-timeout", timeout]
    for command in commands:
        args += ["--app-command", command]
    _, report = run_probe(*args, tmp_path=app.parent)
    (check,) = [c for c in report["checks"] if c["name"] == "app commands"]
    return check


def test_app_commands_that_exit_0_pass(app: Path) -> None:
    check = app_commands_check(app, "train.py --help", "check_env.py")
    assert check["status"] == "passed", check["detail"]
    assert "train.py --help, check_env.py" in check["detail"]


def test_each_failing_app_command_is_named_with_its_reason(app: Path) -> None:
    started = time.monotonic()
    check = app_commands_check(
        app, "train.py --help", "render.py --help", "downloads.py", "hangs.py", "fails.py",
        timeout="8",
    )  # fmt: skip
    assert time.monotonic() - started < 30
    assert check["status"] == "failed"
    failures = check["detail"].splitlines()
    assert len(failures) == 4, failures
    assert failures[0] == (
        "`render.py --help` exited with 1: "
        "ModuleNotFoundError: No module named 'not_a_module_anyone_has'"
    )
    # the download went to the closed proxy and failed at once, rather than fetching
    assert failures[1].startswith(
        "`downloads.py` exited with 1: it tried to download, and downloads are blocked: "
        "urllib.error.URLError:"
    )
    assert "Connection refused" in failures[1]
    assert failures[2] == (
        "`hangs.py` did not finish within 8 s and was killed; its last output: loading"
    )
    assert failures[3] == "`fails.py` exited with 3: something else went wrong"


def test_the_commands_the_app_runs_must_be_there_and_run(app: Path, tmp_path: Path) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    ffmpeg = tools / "ffmpeg"
    ffmpeg.write_text('#!/bin/sh\n[ "$1" = -version ] && echo "ffmpeg version 4.2.2"\n')
    ffmpeg.chmod(0o755)
    args = ["--mode", "cpu", "--app-dir", str(app), "--manifest", str(app / "absent.json")]
    args += ["--tool-command", "ffmpeg -version", "--tool-command", "ffprobe -version"]
    result = subprocess.run(
        [sys.executable, probe.__file__, *args],
        capture_output=True, text=True, check=False, cwd=tmp_path,
        env=dict(os.environ, PATH=str(tools)),  # no host ffprobe can answer
    )  # fmt: skip
    (check,) = [c for c in json.loads(result.stdout)["checks"] if c["name"] == "app tools"]
    assert check["status"] == "failed"
    assert check["detail"] == "`ffprobe -version`: ffprobe is not on PATH"  # ffmpeg ran fine


def test_app_commands_are_skipped_unless_given(app: Path) -> None:
    _, report = run_probe(
        "--mode", "cpu", "--app-dir", str(app), "--manifest", "absent.json", tmp_path=app.parent
    )
    assert statuses(report)["app commands"] == "skipped"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--app-command", ""], "invalid --app-command '': give a command and its arguments"),
        (["--tool-command", " "], "invalid --tool-command ' ': give a command and its arguments"),
        (["--app-command", "train.py 'open"], 'invalid --app-command "train.py \'open"'),
        (["--app-command-timeout", "0"], "invalid --app-command-timeout 0"),
    ],
)
def test_bad_app_command_options_are_usage_errors(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, probe.__file__, "--mode", "cpu", *args],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr
