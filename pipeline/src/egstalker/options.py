"""Validation of the module's options, pure and engine-free.

Each check returns the value to use or raises ``InvalidOption`` naming the value
and what is allowed, so that a bad option stops the pipeline before any build.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from egstalker import pins, references
from egstalker.archs import AUTO, is_auto, resolve_arch_list
from egstalker.errors import InvalidOption, shown

MAX_JOBS_LIMIT: Final = 256
# What an EGSTalker checkout has at its top level, and what each is; a folder without them
# is something else.
APP_SHAPE: Final = {"train.py": "file", "render.py": "file", "scene": "directory"}
APP_MARKERS: Final = tuple(APP_SHAPE)
MAX_LINKS: Final = 255  # symlinks followed in one path, as the kernel's and containerd's limit

_COMMIT = re.compile(r"[0-9a-f]{40}")
IMAGE_REF_EXAMPLES: Final = (
    "use an image reference like 'pytorch/pytorch:2.1.2-cuda11.8-cudnn8-devel' "
    "or 'registry.example.com:5000/team/image@sha256:<64 hex digits>'"
)


def check_type(option: str, value: object, expected: type) -> None:
    """Refuse a value of another type than the option's, as Python callers can pass one.

    ``bool`` is no ``int`` here and ``int`` no ``bool``: ``max_jobs=True`` is a mistake.
    """
    if type(value) is not expected:
        raise InvalidOption(
            option, value, f"it is a {type(value).__name__}; use a {expected.__name__}"
        )


def check_choice(option: str, value: str, choices: tuple[str, ...]) -> str:
    """One of a fixed set of words."""
    check_type(option, value, str)
    if value not in choices:
        raise InvalidOption(option, value, f"use one of {', '.join(choices)}")
    return value


def check_max_jobs(value: int | None) -> int | None:
    """``None`` lets the builder choose from its cores and memory; else 1..MAX_JOBS_LIMIT."""
    if value is None:
        return None
    if type(value) is not int:
        raise InvalidOption(
            "max-jobs",
            value,
            f"it is a {type(value).__name__}; use a whole number from 1 to {MAX_JOBS_LIMIT}, "
            "or leave it out",
        )
    if not 1 <= value <= MAX_JOBS_LIMIT:
        raise InvalidOption(
            "max-jobs",
            value,
            f"use a whole number from 1 to {MAX_JOBS_LIMIT}, or leave it out to let the "
            "builder choose from its cores and memory (about 3 GB per nvcc job)",
        )
    return value


def check_image_ref(option: str, value: str) -> str:
    """A container image reference, by the registries' grammar and length limits."""
    check_type(option, value, str)
    parsed = references.parse(value)
    if isinstance(parsed, str):
        raise InvalidOption(option, value, f"{parsed}; {IMAGE_REF_EXAMPLES}")
    return value


def check_commit(option: str, value: str) -> str:
    """A full 40-character lowercase git commit hash."""
    check_type(option, value, str)
    if not _COMMIT.fullmatch(value):
        raise InvalidOption(option, value, "use a full 40-character lowercase hex commit hash")
    return value


def described_entries(entries: Iterable[str], shown_at_most: int = 6) -> str:
    """A directory named by what its top level holds, for messages about a tree without a path."""
    names = sorted(entries)
    if not names:
        return "an empty directory"
    listed = ", ".join(names[:shown_at_most]) + (", ..." if len(names) > shown_at_most else "")
    return f"the directory holding {listed}"


def check_app_entries(entries: Iterable[str], given: str | None = None) -> None:
    """Refuse a source directory whose top level lacks EGSTalker's files.

    ``entries`` are top-level names as ``Directory.entries`` gives them (folders may end in
    '/'); ``given`` names the directory in the message (its path), else its entries do.
    """
    entries = list(entries)
    present = {e.rstrip("/") for e in entries}
    missing = [m for m in APP_MARKERS if m not in present]
    if missing:
        raise InvalidOption(
            "source",
            given if given is not None else described_entries(entries),
            f"it is not an EGSTalker checkout: {', '.join(missing)} missing at its top level; "
            "pass the repository root, or leave --source out to use the pinned commit",
        )


def check_app_shape(wrong: Iterable[str], given: str) -> None:
    """Refuse a checkout whose ``wrong`` entries are not what APP_SHAPE says they are."""
    listed = set(wrong)
    if listed:
        expected = ", ".join(
            f"{name} a {kind}" for name, kind in APP_SHAPE.items() if name in listed
        )
        raise InvalidOption(
            "source",
            given,
            f"it is not an EGSTalker checkout as the build reads it: {expected} was expected "
            "(a link must lead to one inside the checkout)",
        )


def kind_in_tree(root: Path, relative: str) -> str | None:
    """What ``relative`` is inside ``root``, its links resolved within ``root``.

    As the engine reads an uploaded folder (Dagger 0.21, core/directory.go Stat, through
    containerd's fs.RootPath): an absolute link starts again at the tree's root and '..'
    stops there, so nothing outside the tree is ever reached. None: nothing is there.
    """
    parts, current, links = list(Path(relative).parts), root, 0
    while parts:
        part = parts.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            current = current.parent if current != root else root
            continue
        candidate = current / part
        if candidate.is_symlink():
            links += 1
            if links > MAX_LINKS:
                return None
            target = Path(os.readlink(candidate))
            current = root if target.is_absolute() else current
            parts = [*target.parts[1 if target.is_absolute() else 0 :], *parts]
            continue
        if not (candidate.exists() and (candidate.is_dir() or not parts)):
            return None
        current = candidate
    if current.is_dir():
        return "directory"
    return "file" if current.is_file() else "other"


def check_local_source(path: Path) -> Path:
    """A local checkout given on the command line: it exists, is a folder, and is EGSTalker's.

    The same checks as the module's (``Egstalker.create``), on the files as they would be
    uploaded: entries by name, then each one's kind, links resolved inside the checkout.
    """
    if not path.exists():
        raise InvalidOption("source", str(path), "no such file or directory")
    if not path.is_dir():
        raise InvalidOption("source", str(path), "it is a file; give the checkout's folder")
    check_app_entries((p.name for p in path.iterdir()), given=str(path))
    root = path.resolve()
    check_app_shape(
        (name for name, kind in APP_SHAPE.items() if kind_in_tree(root, name) != kind), str(path)
    )
    return path


def check_output_folder(value: str) -> Path:
    """Where results go: named, a folder (or one that can be made) this user can write to.

    Tried for real, and nothing is left behind: what this made is removed again.
    """
    if not value.strip():
        raise InvalidOption("output", value, "give the folder to write to, e.g. -o build")
    path = Path(value)
    if path.is_symlink() and not path.exists():
        raise InvalidOption("output", value, "it is a link to nothing; give a folder")
    if path.exists() and not path.is_dir():
        raise InvalidOption("output", value, "it is a file; give a folder")
    existing = next(p for p in (path, *path.parents) if p.exists() or p.is_symlink())
    if not existing.is_dir():
        raise InvalidOption("output", value, f"{shown(str(existing))} is a file, not a folder")
    made: list[Path] = []
    try:
        for folder in reversed([path, *path.parents][: [path, *path.parents].index(existing)]):
            folder.mkdir()
            made.append(folder)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise InvalidOption(
            "output", value, f"this user cannot create or write to it ({err.strerror})"
        ) from None
    finally:
        for folder in reversed(made):
            folder.rmdir()
    return path


def checked_settings(
    *,
    arch: str,
    max_jobs: int | None,
    devel_image: str = pins.DEVEL_IMAGE,
    runtime_image: str = pins.RUNTIME_IMAGE,
    rasterizer_commit: str = pins.RASTERIZER.commit,
    simple_knn_commit: str = pins.SIMPLE_KNN.commit,
    pytorch3d: bool = True,
    non_root: bool = True,
    preprocessing: str = pins.DEFAULT_PREPROCESSING,
    bake_weights: bool = True,
    base_mismatch: str = pins.DEFAULT_BASE_MISMATCH,
) -> dict[str, str | int | bool | None]:
    """Every option that needs no engine, checked; keys are the pipeline's field names."""
    check_type("architecture list", arch, str)
    for option, flag in (
        ("pytorch3d", pytorch3d),
        ("non-root", non_root),
        ("bake-weights", bake_weights),
    ):
        check_type(option, flag, bool)
    return {
        "arch_list": AUTO if is_auto(arch) else resolve_arch_list(arch),
        "max_jobs": check_max_jobs(max_jobs),
        "devel_image": check_image_ref("devel-image", devel_image),
        "runtime_image": check_image_ref("runtime-image", runtime_image),
        "rasterizer_commit": check_commit("rasterizer-commit", rasterizer_commit),
        "simple_knn_commit": check_commit("simple-knn-commit", simple_knn_commit),
        "pytorch3d": pytorch3d,
        "non_root": non_root,
        "preprocessing": check_choice("preprocessing", preprocessing, pins.PREPROCESSING_CHOICES),
        "bake_weights": bake_weights,
        "base_mismatch": check_choice("base-mismatch", base_mismatch, pins.BASE_MISMATCH_CHOICES),
    }
