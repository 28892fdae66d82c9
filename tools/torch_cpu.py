"""torch's CPU build for the `torch` extra, from torch's own index when it answers in seconds.

    python -m tools.torch_cpu [--timeout 3]

Installs the `torch` extra's pin (pipeline/pyproject.toml) from torch's CPU index into the
running Python when that index answers within the timeout: about 200 MB with its
dependencies. Otherwise it installs nothing and says so, and pip then takes PyPI's build of
the same pin, which is CUDA's, with its libraries: about 2.8 GB. An index that cannot be
reached costs the timeout, never pip's retries.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PYPROJECT = Path(__file__).resolve().parents[1] / "pipeline" / "pyproject.toml"


def torch_pin() -> str:
    """The `torch` extra's requirement on torch itself, e.g. ``torch==2.13.0``."""
    extra = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]["torch"]
    (pin,) = (requirement for requirement in extra if requirement.startswith("torch"))
    return pin


def reachable(index: str, timeout: float) -> bool:
    """Whether ``index`` answers an HTTP request within ``timeout`` seconds."""
    try:
        with urllib.request.urlopen(f"{index}/torch/", timeout=timeout):
            return True
    except (OSError, ValueError):  # URLError, a timeout, a refused or unknown host
        return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.torch_cpu", description=__doc__)
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait (3)")
    parser.add_argument("--index", default=CPU_INDEX, help=f"torch's CPU index ({CPU_INDEX})")
    args = parser.parse_args(argv)
    pin = torch_pin()
    if not reachable(args.index, args.timeout):
        print(f"{args.index} did not answer within {args.timeout:g} s: {pin} comes from PyPI")
        return 0
    print(f"{pin}: the CPU build, from {args.index}")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--index-url", args.index, pin]
    return subprocess.run(command).returncode


if __name__ == "__main__":
    sys.exit(main())
