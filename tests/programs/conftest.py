from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

PROGRAMS = Path(__file__).resolve().parents[2] / "pipeline" / "src" / "egstalker" / "programs"


def load_program(name: str) -> ModuleType:
    """Import an in-container program by path, as the images run it (no package around it)."""
    path = PROGRAMS / name
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def programs_dir() -> Path:
    return PROGRAMS
