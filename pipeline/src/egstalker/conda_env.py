"""The runtime image's conda environment: what the builder changed, brought to the runtime base.

Both bases are built from one conda install, so the runtime image takes only the builder's
changes to /opt/conda: the files it removed are deleted, the files it added or rewrote are
copied. That holds only while both bases hold the same environment, so the two are
compared first; when they differ, the runtime base's /opt/conda is made the builder's
whole environment instead (or, with --base-mismatch=fail, the build stops naming each
difference). Steps are ``Container -> Container``, as in ``steps``.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagger

from egstalker import pins
from egstalker.steps import Step, program_path, with_program

REMOVED = "/tmp/conda-removed.txt"
BASES = "/tmp/bases.json"
BUILT = "/tmp/built-conda"
DELTA = "/tmp/conda-delta"


def delta(base: dagger.Container, built: dagger.Container) -> dagger.Directory:
    """The files the builder added to (or changed in) the devel base's /opt/conda."""
    return base.directory(pins.CONDA_DIR).diff(built.directory(pins.CONDA_DIR))


def removals(base: dagger.Container, built: dagger.Container) -> dagger.File:
    """The files and folders of the base's /opt/conda that the builder removed.

    Computed beside the builder, in a container of the base with the builder's
    environment mounted, so that neither image holds the listing.
    """
    return (
        base.with_(with_program("conda_delta.py"))
        .with_mounted_directory(BUILT, built.directory(pins.CONDA_DIR))
        .with_exec(
            ["python", program_path("conda_delta.py"), "removed", pins.CONDA_DIR, BUILT],
            redirect_stdout=REMOVED,
        )
        .file(REMOVED)
    )


def inventory(base: dagger.Container) -> dagger.File:
    """What a base's /opt/conda holds, as conda and as pip see it (compare_bases.py)."""
    listing = "/tmp/conda-inventory.json"
    return (
        base.with_(with_program("compare_bases.py"))
        .with_exec(
            ["python", program_path("compare_bases.py"), "inventory", pins.CONDA_DIR],
            redirect_stdout=listing,
        )
        .file(listing)
    )


def bases_comparison(
    devel: dagger.Container, runtime: dagger.Container, allow_differences: bool
) -> dagger.File:
    """Whether both bases hold the same environment, as JSON; the manifest records it.

    Unless differences are allowed, a difference fails this step, naming each package.
    """
    compare = ["python", program_path("compare_bases.py"), "compare"]
    compare += ["/tmp/devel.json", "/tmp/runtime.json", "--result", BASES]
    if allow_differences:
        compare.append("--allow-differences")
    return (
        runtime.with_(with_program("compare_bases.py"))
        .with_mounted_file("/tmp/devel.json", inventory(devel))
        .with_mounted_file("/tmp/runtime.json", inventory(runtime))
        .with_exec(compare)
        .file(BASES)
    )


def builder_environment(
    removed: dagger.File,
    comparison: dagger.File,
    built: dagger.Directory,
    changes: dagger.Directory,
) -> Step:
    """Make this image's /opt/conda the builder's: its removals, then its changes.

    When the bases differ, ``conda_delta.py`` makes /opt/conda the builder's whole
    environment first, from ``built`` mounted beside (never copied whole into a layer).
    """
    apply = ["python", program_path("conda_delta.py"), "apply", REMOVED, pins.CONDA_DIR]
    apply += ["--bases", BASES, "--built", BUILT, "--delta", DELTA]

    def step(ctr: dagger.Container) -> dagger.Container:
        ctr = (
            ctr.with_(with_program("conda_delta.py"))
            .with_mounted_file(REMOVED, removed)
            .with_mounted_file(BASES, comparison)
            .with_mounted_directory(BUILT, built)
            .with_mounted_directory(DELTA, changes)
            .with_exec(apply)
        )
        for mount in (REMOVED, BASES, BUILT, DELTA):
            ctr = ctr.without_mount(mount)
        return ctr.with_directory(pins.CONDA_DIR, changes)

    return step


def wheel_commands(links: Mapping[str, str]) -> Step:
    """Put commands that a wheel ships on PATH (render.py's ffmpeg, from imageio-ffmpeg)."""

    def step(ctr: dagger.Container) -> dagger.Container:
        for command, target in sorted(links.items()):
            ctr = ctr.with_symlink(
                f"{pins.CONDA_SITE_PACKAGES}/{target}", f"{pins.COMMAND_LINK_DIR}/{command}"
            )
        return ctr

    return step


def wheel_libraries(links: Mapping[str, str]) -> Step:
    """Let the loader find libraries that a wheel ships (open3d's libGL.so.1): linked into
    a default library folder, then ``ldconfig`` indexes them (it runs as root)."""

    def step(ctr: dagger.Container) -> dagger.Container:
        for soname, target in sorted(links.items()):
            ctr = ctr.with_symlink(
                f"{pins.CONDA_SITE_PACKAGES}/{target}", f"{pins.LIBRARY_LINK_DIR}/{soname}"
            )
        return ctr.with_exec(["ldconfig"])

    return step


def recorded(
    base: dagger.Container, manifest: dagger.File, records: Mapping[str, dagger.File]
) -> dagger.File:
    """The build manifest with more records (``bases``, ``weights``) under their keys.

    Written beside the image, in a container of ``base`` (any Python will do).
    """
    out = "/tmp/manifest.json"
    ctr = base.with_(with_program("manifest.py")).with_mounted_file(
        "/tmp/in/manifest.json", manifest
    )
    entries = []
    for key, record in sorted(records.items()):
        ctr = ctr.with_mounted_file(f"/tmp/in/{key}.json", record)
        entries.append(f"{key}=/tmp/in/{key}.json")
    args = ["python", program_path("manifest.py"), "/tmp/in/manifest.json", out, *entries]
    return ctr.with_exec(args).file(out)
