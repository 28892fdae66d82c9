"""compare_bases.py, run for real on conda prefixes made here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.programs.conftest import load_program

compare_bases = load_program("compare_bases.py")
SITE = "lib/python3.10/site-packages"

# (name, version, build string): what `conda list` shows for a few of the bases' packages
CONDA = [
    ("python", "3.10.13", "h955ad1f_0"),
    ("pytorch", "2.1.2", "py3.10_cuda11.8_cudnn8.7.0_0"),
    ("tqdm", "4.65.0", "py310h2f386ee_0"),
    ("pyyaml", "6.0.1", "py310h5eee18b_0"),
]
# (folder, METADATA name, version, installer)
PIP = [
    ("torch-2.1.2.dist-info", "torch", "2.1.2", "conda"),
    ("tqdm-4.65.0.dist-info", "tqdm", "4.65.0", "conda"),
    ("PyYAML-6.0.1.dist-info", "PyYAML", "6.0.1", "conda"),
    ("triton-2.1.0.dist-info", "triton", "2.1.0", "pip"),
]


def prefix(root: Path, conda: list[tuple[str, str, str]], pip: list[tuple[str, ...]]) -> Path:
    (root / "conda-meta").mkdir(parents=True)
    (root / "conda-meta" / "history").write_text("==> 2023-12-14 <==\n")  # not a record
    for name, version, build in conda:
        channel = "https://conda.anaconda.org/pkgs/main/linux-64"
        record = {"name": name, "version": version, "build": build, "channel": channel}
        (root / "conda-meta" / f"{name}-{version}-{build}.json").write_text(json.dumps(record))
    for folder, name, version, installer in pip:
        info = root / SITE / folder
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (info / "INSTALLER").write_text(f"{installer}\n")
    return root


def run(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, compare_bases.__file__, *map(str, args)],
        capture_output=True, text=True, check=False, cwd=cwd,
    )  # fmt: skip


def inventory(root: Path, out: Path) -> Path:
    result = run("inventory", root, cwd=root.parent)
    assert result.returncode == 0, result.stderr
    out.write_text(result.stdout)
    return out


def test_the_inventory_holds_both_views(tmp_path: Path) -> None:
    root = prefix(tmp_path / "devel", CONDA, PIP)
    (root / SITE / "legacy.egg-info").mkdir()
    (root / SITE / "legacy.egg-info" / "PKG-INFO").write_text("Name: legacy\nVersion: 0.1\n")
    (root / SITE / "single-1.0-py3.10.egg-info").write_text("Name: single\nVersion: 1.0\n")
    listed = json.loads(inventory(root, tmp_path / "devel.json").read_text())
    assert {n: (e["version"], e["build"]) for n, e in listed["conda"].items()} == {
        name: (version, build) for name, version, build in CONDA
    }
    pip = {n: (e["version"], e["installer"]) for n, e in listed["pip"].items()}
    assert pip == {
        "torch": ("2.1.2", "conda"), "tqdm": ("4.65.0", "conda"), "pyyaml": ("6.0.1", "conda"),
        "triton": ("2.1.0", "pip"), "legacy": ("0.1", None), "single": ("1.0", None),
    }  # fmt: skip


def test_identical_bases_exit_0(tmp_path: Path) -> None:
    devel = inventory(prefix(tmp_path / "devel", CONDA, PIP), tmp_path / "devel.json")
    runtime = inventory(prefix(tmp_path / "runtime", CONDA, PIP), tmp_path / "runtime.json")
    out = tmp_path / "result.json"
    result = run("compare", devel, runtime, "--result", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "the devel and runtime bases hold the same environment: "
        "4 conda packages, 4 pip distributions"
    )
    written = json.loads(out.read_text())
    assert written["identical"] is True
    assert written["differences"] == []
    assert written["counts"]["conda"] == {"devel": 4, "runtime": 4}


def test_each_difference_is_named_and_recorded(tmp_path: Path) -> None:
    devel = inventory(
        prefix(tmp_path / "devel", [*CONDA, ("cuda-nvcc", "11.8.89", "0")], PIP),
        tmp_path / "devel.json",
    )
    runtime_conda = [
        ("python", "3.10.13", "h955ad1f_0"),
        ("pytorch", "2.1.2", "py3.10_cuda11.8_cudnn8.7.0_1"),  # another build of the same version
        ("tqdm", "4.66.1", "py310h2f386ee_0"),  # another version
        ("pyyaml", "6.0.1", "py310h5eee18b_0"),
    ]
    runtime_pip = [p for p in PIP if p[1] != "tqdm"] + [
        ("tqdm-4.66.1.dist-info", "tqdm", "4.66.1", "conda"),
        ("wheel-0.41.2.dist-info", "wheel", "0.41.2", "pip"),  # only in the runtime base
    ]
    runtime_root = prefix(tmp_path / "runtime", runtime_conda, runtime_pip)
    (runtime_root / SITE / "tqdm-4.65.0.dist-info").mkdir()  # an empty leftover
    runtime = inventory(runtime_root, tmp_path / "runtime.json")
    out = tmp_path / "out" / "bases.json"
    result = run("compare", devel, runtime, "--result", out, cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    # the fix ends the step's own output, which `dagger call` and the CLI both show
    assert result.stderr.rstrip().splitlines()[-1] == (
        "hint: the runtime base's environment differs from the devel base's: build with "
        "--base-mismatch=copy to give the runtime image the builder's whole /opt/conda"
    )
    expected = [
        ("conda", "cuda-nvcc", "11.8.89=0", None),
        ("conda", "pytorch", "2.1.2=py3.10_cuda11.8_cudnn8.7.0_0",
         "2.1.2=py3.10_cuda11.8_cudnn8.7.0_1"),
        ("conda", "tqdm", "4.65.0=py310h2f386ee_0", "4.66.1=py310h2f386ee_0"),
        ("pip", "tqdm", "4.65.0 (conda)", "4.66.1 (conda)"),
        ("pip", "wheel", None, "0.41.2 (pip)"),
    ]  # fmt: skip
    bases = json.loads(out.read_text())
    assert bases["identical"] is False
    named = {(d["view"], d["package"]): (d["devel"], d["runtime"]) for d in bases["differences"]}
    # the empty metadata folder shows too, apart from the tqdm that works
    broken = ("pip", "tqdm (tqdm-4.65.0.dist-info)", None, "no version [no readable metadata]")
    expected.append(broken)
    assert named == {(view, package): (d, r) for view, package, d, r in expected}
    for view, package, in_devel, in_runtime in expected:
        line = f"  {view} {package}: devel {in_devel or 'absent'}, runtime {in_runtime or 'absent'}"
        assert line in result.stderr.splitlines()
    assert result.stderr.startswith(
        "the devel and runtime bases hold different environments: 6 difference(s)"
    )
    assert sorted(p.name for p in out.parent.iterdir()) == ["bases.json"]  # no temporary left
    allowed = run("compare", devel, runtime, "--allow-differences", cwd=tmp_path)
    assert allowed.returncode == 0  # the pipeline takes the builder's whole environment then
    assert "6 difference(s)" in allowed.stdout


def test_unreadable_inputs_exit_2_naming_the_file(tmp_path: Path) -> None:
    root = prefix(tmp_path / "devel", CONDA, PIP)
    broken = root / "conda-meta" / "tqdm-4.65.0-py310h2f386ee_0.json"
    broken.write_text('{"name": "tqdm", "version": ')
    result = run("inventory", root, cwd=tmp_path)
    assert result.returncode == 2
    assert f"cannot read {broken}: it is not valid JSON" in result.stderr
    assert result.stdout == ""

    good = inventory(prefix(tmp_path / "runtime", CONDA, PIP), tmp_path / "runtime.json")
    truncated = tmp_path / "devel.json"
    truncated.write_text('{"conda": {')
    result = run("compare", truncated, good, cwd=tmp_path)
    assert result.returncode == 2
    assert f"cannot read the inventory {truncated}: it is not valid JSON" in result.stderr
    other = tmp_path / "other.json"
    other.write_text('{"arch_list": "8.6"}')
    result = run("compare", good, other, cwd=tmp_path)
    assert result.returncode == 2
    assert f"{other} is not an inventory" in result.stderr
    result = run("compare", good, tmp_path / "absent.json", cwd=tmp_path)
    assert result.returncode == 2
    assert f"cannot read {tmp_path / 'absent.json'}" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the following arguments are required: command"),
        (["inventory", "/nonexistent-prefix"], "/nonexistent-prefix is not a conda prefix"),
        (["compare", "a.json"], "the following arguments are required: runtime"),
    ],
)  # fmt: skip
def test_bad_usage_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
