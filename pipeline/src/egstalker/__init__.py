"""Builds, exports and verifies the GPU container images of EGSTalker."""

from egstalker.main import Egstalker

__all__ = ["Egstalker"]
