"""manifest.py, run for real: facts added to a build manifest, whole or not at all."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.programs.conftest import PROGRAMS

PROGRAM = PROGRAMS / "manifest.py"


def run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(PROGRAM), *map(str, args)], capture_output=True, text=True, check=False
    )


def test_records_each_file_under_its_key_and_keeps_the_rest(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"arch_list": "8.6", "extensions": {"simple_knn": {}}}))
    bases = tmp_path / "bases.json"
    bases.write_text(json.dumps({"identical": True, "differences": []}))
    weights = tmp_path / "weights.json"
    weights.write_text(json.dumps([{"name": "vgg16", "sha256": "ab" * 32}]))
    out = tmp_path / "image" / "manifest.json"
    result = run(manifest, out, f"bases={bases}", f"weights={weights}")
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text()) == {
        "arch_list": "8.6",
        "extensions": {"simple_knn": {}},
        "bases": {"identical": True, "differences": []},
        "weights": [{"name": "vgg16", "sha256": "ab" * 32}],
    }
    assert [p.name for p in out.parent.iterdir()] == ["manifest.json"]


def test_an_unreadable_input_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{}")
    broken = tmp_path / "weights.json"
    broken.write_text('[{"name": ')
    out = tmp_path / "out.json"
    result = run(manifest, out, f"weights={broken}")
    assert result.returncode == 2
    assert f"cannot read the 'weights' record {broken}" in result.stderr
    assert not out.exists()
    result = run(tmp_path / "absent.json", out, f"weights={manifest}")
    assert f"cannot read the manifest {tmp_path / 'absent.json'}" in result.stderr
    result = run(manifest, out, "weights")
    assert result.returncode == 2
    assert "'weights' is not KEY=FILE" in result.stderr
