"""tools.rehearse.weights: the bake step's table replaced, and only it; stand-in files made."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from tools.rehearse.weights import PROGRAM, StandinWeights


def standins(served: dict[str, dict]) -> StandinWeights:
    weights = StandinWeights()
    weights.served, weights.url = served, "http://127.0.0.1:9"
    return weights


def test_the_weights_table_becomes_the_stand_in_table() -> None:
    weights = standins({"vgg16": {"file": "vgg16/vgg16-397923af.pth", "sha256": "ab" * 32}})
    plan_text = json.dumps(weights.table, sort_keys=True)

    table = json.loads(weights.new_file("/tmp/weights.json", plan_text))

    assert table["vgg16"]["url"] == "http://127.0.0.1:9/vgg16/vgg16-397923af.pth"
    assert table["vgg16"]["sha256"] == "ab" * 32
    assert "sha256_prefix" not in table["vgg16"]
    assert table["vgg16"]["path"] == weights.table["vgg16"]["path"]  # placed where the app looks
    assert table.keys() == weights.table.keys()


def test_other_files_of_the_plan_are_left_as_they_are() -> None:
    weights = standins({})
    for text in ("print('hi')\n", '{"other": 1}', "[]"):
        assert weights.new_file("/tmp/x", text) == text


def test_the_program_makes_a_zip_member_and_plain_files_with_their_hashes(tmp_path: Path) -> None:
    table = {
        "speech": {"url": "https://h/x.pb.zip", "extract": "x.pb", "image": "preprocessing"},
        "faces": {"url": "https://h/s3fd.pth", "image": "preprocessing"},
        "big": {"url": "https://h/hubert.bin", "image": "none"},
    }
    (tmp_path / "w.json").write_text(json.dumps(table))
    out = tmp_path / "out"
    subprocess.run([sys.executable, str(PROGRAM), str(tmp_path / "w.json"), str(out)], check=True)

    served = json.loads((out / "served.json").read_text())
    assert sorted(served) == ["faces", "speech"]  # "none" is never baked
    with zipfile.ZipFile(out / served["speech"]["file"]) as archive:
        member = archive.read("x.pb")
    assert hashlib.sha256(member).hexdigest() == served["speech"]["sha256"]
    faces = (out / served["faces"]["file"]).read_bytes()
    assert hashlib.sha256(faces).hexdigest() == served["faces"]["sha256"]
