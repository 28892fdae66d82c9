"""Files of this package that go into the images: data files and in-container programs."""

from __future__ import annotations

from importlib.resources import files


def asset_text(relative_path: str) -> str:
    """The text of a file shipped in this package, e.g. ``programs/apt_install.sh``."""
    return files("egstalker").joinpath(relative_path).read_text(encoding="utf-8")


def optional_asset_text(relative_path: str) -> str | None:
    """Like ``asset_text``, or None where the package has no such file."""
    resource = files("egstalker").joinpath(relative_path)
    return resource.read_text(encoding="utf-8") if resource.is_file() else None
