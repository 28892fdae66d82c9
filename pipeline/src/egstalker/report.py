"""The size and build-time report of the images: pure formatting, no ``dag``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Final

GB: Final = 1000**3  # docker's unit


@dataclass(frozen=True)
class ImageReport:
    """What was measured for one image in this run."""

    variant: str
    size_bytes: int
    build_seconds: float
    arch_list: str
    base_image: str


# The earlier hand-written Dockerfile pair, as its authors reported it (not measured here).
EARLIER_DOCKERFILES: Final = {"single-stage": "~20.1 GB", "multistage": "~10.5 GB"}


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def render_text(images: Sequence[ImageReport]) -> str:
    header = ["variant", "size", "build+export", "arch list", "base image", "earlier Dockerfile"]
    rows = [
        [
            i.variant,
            f"{i.size_bytes / GB:.2f} GB",
            f"{i.build_seconds:.0f} s",
            i.arch_list,
            i.base_image,
            EARLIER_DOCKERFILES.get(i.variant, "-"),
        ]
        for i in images
    ]
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    lines = [_row(header, widths), _row(["-" * w for w in widths], widths)]
    lines += [_row(r, widths) for r in rows]
    sizes = {i.variant: i.size_bytes for i in images}
    if sizes.get("single-stage") and sizes.get("multistage"):
        ratio = sizes["multistage"] / sizes["single-stage"]
        lines.append(f"\nmultistage / single-stage size: {ratio:.2f}")
    lines.append(
        "build+export is this run's wall time: steps the engine had cached take no time. "
        "Earlier Dockerfile sizes are as their authors reported them."
    )
    return "\n".join(lines) + "\n"


def render_json(images: Sequence[ImageReport]) -> str:
    return json.dumps({"images": [asdict(i) for i in images]}, indent=2) + "\n"
