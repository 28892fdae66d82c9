"""CUDA architecture lists: the grammar torch's builder accepts, and GPU names.

Pure data and lookups, no ``dag``. ``resolve_arch_list`` turns what a user typed
(``8.6``, ``8.0;8.6+PTX``, ``a100,a10``, ``portable``) into the canonical
``TORCH_CUDA_ARCH_LIST`` value, or raises ``InvalidOption`` saying what is allowed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Final

from egstalker.errors import InvalidOption, shown

# Compute capabilities that CUDA 11.8's nvcc can generate code for (`nvcc --list-gpu-arch`).
CUDA_11_8_ARCHS: Final = (
    "3.5", "3.7", "5.0", "5.2", "5.3", "6.0", "6.1", "6.2",
    "7.0", "7.2", "7.5", "8.0", "8.6", "8.7", "8.9", "9.0",
)  # fmt: skip
BASE_CUDA: Final = "11.8"

# What torch 2.1.2's own CUDA 11.8 build (the conda package
# pytorch-2.1.2-py3.10_cuda11.8_cudnn8.7.0_0 in both base images) has machine code for, as
# `torch.cuda.get_arch_list()` reports it. A GPU none of these runs on cannot run torch at all,
# whatever the extensions are built for.
TORCH_ARCHS: Final = ("3.7", "5.0", "6.0", "6.1", "7.0", "7.5", "8.0", "8.6", "9.0")


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


@dataclass(frozen=True)
class NewerTarget:
    """A target that exists but that only a newer CUDA compiles (NVIDIA's CUDA release notes)."""

    names: tuple[str, ...]  # GPU names users type, and the target itself
    target: str
    family: str
    cuda: str  # the first CUDA release whose nvcc generates code for it


NEWER_TARGETS: Final = (
    NewerTarget(("9.0a",), "9.0a", "Hopper's arch-specific wgmma and TMA", "12.0"),
    NewerTarget(("10.0", "b100", "b200", "gb200"), "10.0", "Blackwell B100/B200", "12.8"),
    NewerTarget(("10.0a",), "10.0a", "Blackwell's arch-specific features", "12.8"),
    NewerTarget(("10.1",), "10.1", "Jetson Thor", "12.8"),
    NewerTarget(("10.3", "b300", "gb300"), "10.3", "Blackwell Ultra B300", "12.9"),
    NewerTarget(("11.0",), "11.0", "Jetson Thor", "13.0"),
    NewerTarget(
        ("12.0", "rtx5090", "rtx5080", "rtx5070", "rtxpro6000"),
        "12.0",
        "Blackwell RTX 50 series and RTX PRO 6000",
        "12.8",
    ),
    NewerTarget(("12.1", "gb10"), "12.1", "Blackwell GB10, DGX Spark", "12.9"),
)

# Named lists. "portable" covers every GPU family above from Turing on.
PRESETS: Final = {"portable": "7.5;8.0;8.6;8.9;9.0"}

DEFAULT_ARCH_LIST: Final = "8.6"
# Build for the GPUs of the engine that runs the build, asked at each call (gpu_archs.py).
AUTO: Final = "auto"

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
    usable = [c for c in CUDA_11_8_ARCHS if torch_runs_on(c)]
    return (
        f"use compute capabilities CUDA {BASE_CUDA} and torch 2.1.2 support "
        f"({', '.join(usable)}), each optionally with +PTX, "
        f"or GPU names ({names}), or a preset ({', '.join(PRESETS)}), "
        "separated by ';', ',' or spaces; or 'auto' for the engine's own GPUs"
    )


def _hint(token: str) -> str:
    if m := re.fullmatch(r"(?:sm|compute)_([0-9]+)([0-9])(a?)", token, re.IGNORECASE):
        return f"write {m[1]}.{m[2]}{m[3].lower()} instead of {shown(token)}; "
    if m := re.fullmatch(r"([0-9])([0-9])", token):
        return f"write {m[1]}.{m[2]} instead of {shown(token)}; "
    return ""


def newer_target(token: str) -> NewerTarget | None:
    """The target or GPU name ``token`` names, when only a newer CUDA than the base's has it."""
    lowered = token.lower().removesuffix("+ptx")
    return next((t for t in NEWER_TARGETS if lowered in t.names), None)


def torch_runs_on(capability: str) -> bool:
    """Whether torch's own kernels run on a GPU of this capability (same major, minor <=)."""
    major, minor = (int(part) for part in capability.split("."))
    return any(
        t_major == major and t_minor <= minor
        for t_major, t_minor in (map(int, t.split(".")) for t in TORCH_ARCHS)
    )


def _refused(token: str, value: str) -> InvalidOption | None:
    """Why a well-known target cannot be built for with the base images, if it cannot."""
    if newer := newer_target(token):
        named = f"{shown(token)} ({newer.family})"
        if token.lower().removesuffix("+ptx") != newer.target:
            named = f"{shown(token)} ({newer.target}, {newer.family})"
        return InvalidOption(
            "architecture list",
            value,
            f"{named} needs CUDA {newer.cuda} or newer, and the base images have CUDA "
            f"{BASE_CUDA}; {_allowed()}",
        )
    return None


def _parse_token(token: str, value: str) -> tuple[Arch, ...]:
    if refused := _refused(token, value):
        raise refused
    if m := _ARCH.fullmatch(token):
        arch = Arch(int(m["major"]), int(m["minor"]), bool(m["ptx"]))
        if arch.capability not in CUDA_11_8_ARCHS:
            raise InvalidOption(
                "architecture list",
                value,
                f"{arch.capability} is not a CUDA {BASE_CUDA} target; {_allowed()}",
            )
        if not torch_runs_on(arch.capability):
            raise InvalidOption(
                "architecture list",
                value,
                f"{arch.capability}: the base images' torch 2.1.2 has no kernels for it (its "
                f"oldest is sm_{TORCH_ARCHS[0].replace('.', '')}), so nothing would run there; "
                f"{_allowed()}",
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


def is_auto(value: object) -> bool:
    """Whether the user asked for the engine's own GPUs (``--arch auto``)."""
    return isinstance(value, str) and value.strip().lower() == AUTO


@dataclass(frozen=True)
class DetectedGpus:
    """What ``--arch auto`` found on the engine, and the list built for it."""

    arch_list: str
    description: str  # e.g. "2x NVIDIA H200 (9.0)", for the labels and messages
    gpus: tuple[tuple[str, str], ...]  # (name, capability), as nvidia-smi listed them

    def record(self) -> str:
        """The build manifest's record of it (JSON)."""
        gpus = [{"name": name, "capability": capability} for name, capability in self.gpus]
        record = {"arch": AUTO, "arch_list": self.arch_list, "description": self.description}
        return json.dumps({**record, "gpus": gpus}, indent=2)


def detected_gpus(report: str) -> DetectedGpus:
    """The architecture list for the GPUs ``gpu_archs.py`` reported, checked as any list is.

    Each GPU's own compute capability decides; a GPU the base images cannot build for is
    refused naming it, with what CUDA it needs.
    """
    gpus = tuple((gpu["name"], gpu["capability"]) for gpu in json.loads(report)["gpus"])
    counts = Counter(gpus)
    description = ", ".join(
        f"{count}x {name} ({capability})" if count > 1 else f"{name} ({capability})"
        for (name, capability), count in counts.items()
    )
    try:
        arch_list = resolve_arch_list(";".join(capability for _, capability in gpus))
    except InvalidOption as refused:
        raise InvalidOption(
            "architecture list", AUTO, f"the engine's GPUs are {description}: {refused.allowed}"
        ) from None
    return DetectedGpus(arch_list, description, gpus)
