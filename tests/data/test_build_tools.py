"""data/build-tools.txt, tried for real: its uv installs what `make lock` writes as pip does.

Installs uv from the hash-pinned line the builder installs it from, writes a lock with
lock.py from pip's report (as `make lock` does), and installs that lock into two fresh
environments, one with pip and one with uv, with the builder's options. Needs PyPI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from egstalker import pins
from tests.programs.conftest import load_program

lock = load_program("lock.py")
DATA = Path(__file__).resolve().parents[2] / "pipeline" / "src" / "egstalker" / "data"
# a wheel, and a source distribution that is built under the build constraints
LOCKED = ("six==1.16.0", "python-speech-features==0.6")
MARKERS = ("REQUESTED", "uv_build.json")  # which installer put the package there
LISTING = (
    "import importlib.metadata as m, json; "
    "print(json.dumps(sorted(f'{d.metadata[\"Name\"]}=={d.version}' for d in m.distributions())))"
)


def run(*command: str | Path, env: dict[str, str] | None = None) -> None:
    subprocess.run([str(c) for c in command], check=True, capture_output=True, env=env)


@pytest.fixture(scope="module")
def uv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("build-tools")
    run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--require-hashes",
        "--target", target, "-r", DATA / pins.BUILD_TOOLS)  # fmt: skip
    return target / "bin" / "uv"


# pip itself, fixed: the pip a new venv gets is the one the host's Python bundles (Debian
# 3.11.2's is 23.0.1, which, without `wheel`, installs a source distribution the legacy
# way, with other metadata), not the pip that installs in the images.
PIP = "pip==23.3.1"


def environment(folder: Path) -> Path:
    run(sys.executable, "-m", "venv", folder)
    python = folder / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", PIP)
    return python


def installed(python: Path) -> tuple[list[str], set[str]]:
    """The environment's distributions and its site-packages' files, markers left out."""
    listing = subprocess.run([python, "-c", LISTING], capture_output=True, text=True, check=True)
    (site,) = python.parents[1].glob("lib/python3*/site-packages")
    files = {
        p.relative_to(site).as_posix()
        for p in site.rglob("*")
        if p.is_file() and p.name not in MARKERS
    }
    return json.loads(listing.stdout), files


def test_uv_installs_a_lock_exactly_as_pip_does(uv: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    run(sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
        "--report", report, *LOCKED)  # fmt: skip
    inputs = tmp_path / "requirements.txt"
    inputs.write_text("\n".join(LOCKED) + "\n")
    locked = tmp_path / "requirements.lock"
    locked.write_text(lock.render(json.loads(report.read_text()), [inputs]))
    hashed = ["--require-hashes", "--no-deps", "-r", locked]
    build_constraints = DATA / pins.BUILD_CONSTRAINTS
    env = dict(os.environ, PIP_CONSTRAINT=str(build_constraints))  # as the lock step builds
    with_pip = environment(tmp_path / "pip")
    run(with_pip, "-m", "pip", "install", "--no-cache-dir", *hashed,
        "-c", DATA / pins.CONSTRAINTS, env=env)  # fmt: skip
    with_uv = environment(tmp_path / "uv")
    run(uv, "pip", "install", "--python", with_uv, *hashed,
        "--build-constraints", build_constraints, "--cache-dir", tmp_path / "uv-cache",
        "--link-mode", "copy", "--compile-bytecode")  # fmt: skip
    pip_dists, pip_files = installed(with_pip)
    uv_dists, uv_files = installed(with_uv)
    assert uv_dists == pip_dists
    assert {"six==1.16.0", "python_speech_features==0.6"} <= set(uv_dists)
    assert uv_files == pip_files
