from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from egstalker.report import UNPACKED_SIZE_COMMAND, ImageReport, parse_du, render_json, render_text

IMAGES = [
    ImageReport(
        "single-stage", 19_400_000_000, 8_100_000_000, 912.4, "8.6", "pytorch/pytorch:devel"
    ),
    ImageReport("multistage", 8_730_000_000, 3_900_000_000, 40.2, "8.6", "pytorch/pytorch:runtime"),
]


def test_text_table_labels_each_size_beside_the_earlier_ones() -> None:
    text = render_text(IMAGES)
    lines = text.splitlines()
    assert [c.strip() for c in lines[0].split("  ") if c.strip()] == [
        "variant", "unpacked", "export (gzip)", "build", "arch list", "base image",
        "earlier Dockerfile (unpacked)",
    ]  # fmt: skip
    assert lines[2].split() == [
        "single-stage", "19.40", "GB", "8.10", "GB", "912", "s", "8.6", "pytorch/pytorch:devel",
        "~20.1", "GB",
    ]  # fmt: skip
    assert lines[3].split()[:5] == ["multistage", "8.73", "GB", "3.90", "GB"]
    assert "multistage / single-stage size, unpacked: 0.45" in text
    assert "comparable with `docker images`" in text


def test_json_holds_the_measurements() -> None:
    data = json.loads(render_json(IMAGES))
    assert data["images"][1] == {
        "variant": "multistage",
        "unpacked_bytes": 8_730_000_000,
        "export_bytes": 3_900_000_000,
        "build_seconds": 40.2,
        "arch_list": "8.6",
        "base_image": "pytorch/pytorch:runtime",
    }


def test_the_unpacked_size_is_the_files_once_each(tmp_path: Path) -> None:
    """The image's command, run for real on a tree: file bytes, a hardlink counted once."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "big.so").write_bytes(b"x" * 1_000_000)
    os.link(tmp_path / "lib" / "big.so", tmp_path / "lib" / "again.so")
    (tmp_path / "small.txt").write_bytes(b"y" * 1234)
    (tmp_path / "link").symlink_to("lib/big.so")
    command = [*UNPACKED_SIZE_COMMAND[:-1], str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    size = parse_du(result.stdout)
    files = 1_000_000 + 1234
    assert files <= size < files + 64 * 1024  # plus the folders' and the link's own entries


@pytest.mark.parametrize("output", ["", "du: cannot read directory '/x'", "12 / extra"])
def test_unexpected_du_output_is_refused(output: str) -> None:
    with pytest.raises(ValueError, match="unexpected du output"):
        parse_du(output)
