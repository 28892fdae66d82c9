from __future__ import annotations

import json

from egstalker.report import ImageReport, render_json, render_text

IMAGES = [
    ImageReport("single-stage", 19_400_000_000, 912.4, "8.6", "pytorch/pytorch:devel"),
    ImageReport("multistage", 8_730_000_000, 40.2, "8.6", "pytorch/pytorch:runtime"),
]


def test_text_table_has_a_row_per_image_and_the_ratio() -> None:
    text = render_text(IMAGES)
    lines = text.splitlines()
    assert lines[0].split() == [
        "variant", "size", "build+export", "arch", "list", "base", "image", "earlier", "Dockerfile"
    ]  # fmt: skip
    assert lines[2].split() == [
        "single-stage", "19.40", "GB", "912", "s", "8.6", "pytorch/pytorch:devel", "~20.1", "GB"
    ]  # fmt: skip
    assert lines[3].split()[:3] == ["multistage", "8.73", "GB"]
    assert "multistage / single-stage size: 0.45" in text


def test_json_holds_the_measurements() -> None:
    data = json.loads(render_json(IMAGES))
    assert data["images"][1] == {
        "variant": "multistage",
        "size_bytes": 8_730_000_000,
        "build_seconds": 40.2,
        "arch_list": "8.6",
        "base_image": "pytorch/pytorch:runtime",
    }
