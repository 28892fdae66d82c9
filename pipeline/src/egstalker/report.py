"""The size and build-time report of the images: pure formatting, no ``dag``.

Two sizes, each labelled: the image unpacked (its root's files, counted by ``du`` in the
image, which is what ``docker images`` and the earlier Dockerfiles' figures measure), and
its export (the OCI tarball, whose layers the engine gzips: Dagger 0.21,
engine/engineutil/containerimage.go), which is what a push or a download moves.
"""

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
    unpacked_bytes: int
    export_bytes: int
    build_seconds: float
    arch_list: str
    base_image: str


# The earlier hand-written Dockerfile pair, as its authors reported it (unpacked sizes, as
# `docker images` shows them; not measured here).
EARLIER_DOCKERFILES: Final = {"single-stage": "~20.1 GB", "multistage": "~10.5 GB"}
# What measures the unpacked size in the image: the root's files, hardlinks once, no mounts.
UNPACKED_SIZE_COMMAND: Final = ("du", "--one-file-system", "--summarize", "--bytes", "/")


def parse_du(output: str) -> int:
    """Bytes from ``du --summarize --bytes``'s one line: '12345<TAB>/'."""
    fields = output.split()
    if len(fields) != 2 or not fields[0].isdigit():
        raise ValueError(f"unexpected du output: {output.strip()[:200]!r}")
    return int(fields[0])


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def render_text(images: Sequence[ImageReport]) -> str:
    header = [
        "variant",
        "unpacked",
        "export (gzip)",
        "build",
        "arch list",
        "base image",
        "earlier Dockerfile (unpacked)",
    ]
    rows = [
        [
            i.variant,
            f"{i.unpacked_bytes / GB:.2f} GB",
            f"{i.export_bytes / GB:.2f} GB",
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
    sizes = {i.variant: i.unpacked_bytes for i in images}
    if sizes.get("single-stage") and sizes.get("multistage"):
        ratio = sizes["multistage"] / sizes["single-stage"]
        lines.append(f"\nmultistage / single-stage size, unpacked: {ratio:.2f}")
    lines.append(
        "unpacked: the image's files (du in the image), comparable with `docker images` and "
        "the earlier Dockerfiles' sizes, as their authors reported them; export: the OCI "
        "tarball, layers gzipped, what a push moves. build is this run's wall time until the "
        "image could be measured: steps the engine had cached take no time."
    )
    return "\n".join(lines) + "\n"


def render_json(images: Sequence[ImageReport]) -> str:
    return json.dumps({"images": [asdict(i) for i in images]}, indent=2) + "\n"
