"""CUDA architecture lists: the grammar torch's builder accepts, and GPU names.

Pure data and lookups, no ``dag``. ``resolve_arch_list`` turns what a user typed
(``8.6``, ``8.0;8.6+PTX``, ``a100,a10``, ``portable``) into the canonical
``TORCH_CUDA_ARCH_LIST`` value, or raises ``InvalidOption`` saying what is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from egstalker.errors import InvalidOption, shown

# Compute capabilities that CUDA 11.8's nvcc can generate code for (`nvcc --list-gpu-arch`).
CUDA_11_8_ARCHS: Final = (
    "3.5", "3.7", "5.0", "5.2", "5.3", "6.0", "6.1", "6.2",
    "7.0", "7.2", "7.5", "8.0", "8.6", "8.7", "8.9", "9.0",
)  # fmt: skip


@dataclass(frozen=True)
class Gpu:
    """A GPU family users name, and its compute capability (NVIDIA's CUDA GPU table)."""

    names: tuple[str, ...]
    capability: str


GPUS: Final = (
    Gpu(("v100",), "7.0"),
    Gpu(("t4",), "7.5"),
    Gpu(("a100", "a30"), "8.0"),
    Gpu(("a10", "a40", "rtx3080", "rtx3090"), "8.6"),
    Gpu(("l4", "l40", "l40s", "rtx4090"), "8.9"),
    Gpu(("h100", "h200"), "9.0"),
)

# Named lists. "portable" covers every GPU family above from Turing on.
PRESETS: Final = {"portable": "7.5;8.0;8.6;8.9;9.0"}

DEFAULT_ARCH_LIST: Final = "8.6"

_ARCH = re.compile(r"(?P<major>[0-9]+)\.(?P<minor>[0-9]+)(?P<ptx>\+PTX)?")
_SEPARATORS = re.compile(r"\s*[;,]\s*|\s+")


@dataclass(frozen=True, order=True)
class Arch:
    """One entry of an architecture list: machine code for ``major.minor``, maybe PTX too."""

    major: int
    minor: int
    ptx: bool = False

    @property
    def capability(self) -> str:
        return f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        return self.capability + ("+PTX" if self.ptx else "")


def gpu_names(capability: str) -> tuple[str, ...]:
    """The GPU names of the table that have this compute capability."""
    return tuple(n for gpu in GPUS if gpu.capability == capability for n in gpu.names)


def _allowed() -> str:
    names = ", ".join(n for gpu in GPUS for n in gpu.names)
    return (
        "use compute capabilities CUDA 11.8 supports "
        f"({', '.join(CUDA_11_8_ARCHS)}), each optionally with +PTX, "
        f"or GPU names ({names}), or a preset ({', '.join(PRESETS)}), "
        "separated by ';', ',' or spaces"
    )


def _hint(token: str) -> str:
    if m := re.fullmatch(r"(?:sm|compute)_([0-9])([0-9]+)a?", token, re.IGNORECASE):
        return f"write {m[1]}.{m[2]} instead of {token}; "
    if m := re.fullmatch(r"([0-9])([0-9])", token):
        return f"write {m[1]}.{m[2]} instead of {token}; "
    if token.endswith("a") and _ARCH.fullmatch(token[:-1]):
        return "CUDA 11.8 has no arch-specific 'a' targets; "
    return ""


def _parse_token(token: str, value: str) -> tuple[Arch, ...]:
    if m := _ARCH.fullmatch(token):
        arch = Arch(int(m["major"]), int(m["minor"]), bool(m["ptx"]))
        if arch.capability not in CUDA_11_8_ARCHS:
            raise InvalidOption(
                "architecture list",
                value,
                f"{arch.capability} is not a CUDA 11.8 target; {_allowed()}",
            )
        return (arch,)
    lowered = token.lower()
    if lowered in PRESETS:
        return parse_arch_list(PRESETS[lowered])
    for gpu in GPUS:
        if lowered in gpu.names:
            return parse_arch_list(gpu.capability)
    raise InvalidOption(
        "architecture list", value, f"{shown(token)} is not understood; {_hint(token)}{_allowed()}"
    )


def parse_arch_list(value: str) -> tuple[Arch, ...]:
    """Parse an architecture list or GPU names into sorted, de-duplicated ``Arch``es.

    The same capability given with and without ``+PTX`` keeps the PTX.
    """
    stripped = value.strip()
    if not stripped:
        raise InvalidOption("architecture list", value, f"it is empty; {_allowed()}")
    tokens = _SEPARATORS.split(stripped)
    if "" in tokens:
        raise InvalidOption("architecture list", value, f"it has an empty entry; {_allowed()}")
    merged: dict[tuple[int, int], Arch] = {}
    for token in tokens:
        for arch in _parse_token(token, value):
            key = (arch.major, arch.minor)
            merged[key] = Arch(arch.major, arch.minor, arch.ptx or merged.get(key, arch).ptx)
    return tuple(sorted(merged.values()))


def format_arch_list(archs: tuple[Arch, ...]) -> str:
    """The ``TORCH_CUDA_ARCH_LIST`` spelling: entries joined by ';'."""
    return ";".join(str(a) for a in archs)


def resolve_arch_list(value: str) -> str:
    """Validate what a user typed and return the canonical ``TORCH_CUDA_ARCH_LIST``."""
    return format_arch_list(parse_arch_list(value))
