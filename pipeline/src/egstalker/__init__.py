"""Builds, exports and verifies the GPU container images of EGSTalker."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from egstalker.main import Egstalker

__all__ = ["Egstalker"]


def __getattr__(name: str) -> Any:
    """The main class, imported when first asked for (Dagger loads it as egstalker:Egstalker).

    The Dagger SDK takes seconds to import: the CLI's commands that need no engine skip it.
    """
    if name == "Egstalker":
        from egstalker.main import Egstalker

        return Egstalker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
