"""List the GPUs this container was given, with their compute capabilities, as JSON.

    python gpu_archs.py

Runs in a container with the engine's GPUs attached (`--arch auto`). nvidia-smi is put into
the container by the NVIDIA Container Toolkit's hook, with the GPUs; it answers
``--query-gpu=name,compute_cap --format=csv,noheader`` with one line a GPU:
``NVIDIA H200, 9.0``. Prints ``{"gpus": [{"name": ..., "capability": ...}, ...]}`` and exits
0; exits 3 when no GPU can be listed (no nvidia-smi, it fails, or lists none), saying why
and what to do; 2 on bad usage. Standard library only; Python 3.10.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys

QUERY = ["nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader"]
NO_GPU = 3
CAPABILITY = re.compile(r"\d+\.\d+")
HINT = (
    "hint: start dagger with _EXPERIMENTAL_DAGGER_GPU_SUPPORT=1 on a host with the NVIDIA "
    "driver and Container Toolkit, or name the architectures instead of auto (--arch 9.0)"
)


class NoGpu(Exception):
    """No GPU could be listed; the message says why."""


def parse(output: str) -> list[dict[str, str]]:
    """nvidia-smi's CSV lines, header or not, as name and capability; refuses anything else."""
    gpus = []
    for line in output.splitlines():
        if not line.strip() or line.replace(" ", "") == "name,compute_cap":
            continue
        name, comma, capability = line.rpartition(",")
        name, capability = name.strip(), capability.strip()
        if not (comma and name and CAPABILITY.fullmatch(capability)):
            raise NoGpu(f"nvidia-smi printed a line that is not 'NAME, X.Y': {line.strip()!r}")
        gpus.append({"name": name, "capability": capability})
    if not gpus:
        raise NoGpu("nvidia-smi listed no GPU")
    return gpus


def query() -> str:
    try:
        result = subprocess.run(QUERY, capture_output=True, text=True, check=False, timeout=120)
    except FileNotFoundError:
        raise NoGpu("nvidia-smi is not in the container: the engine attached no GPU") from None
    except subprocess.TimeoutExpired:
        raise NoGpu("nvidia-smi did not answer within 120 s") from None
    if result.returncode != 0:
        said = (result.stderr or result.stdout).strip().splitlines()
        raise NoGpu(f"nvidia-smi failed with exit code {result.returncode}: {' '.join(said)}")
    return result.stdout


def main(argv: list[str]) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    try:
        gpus = parse(query())
    except NoGpu as error:
        print(f"gpu_archs: {error}\n{HINT}", file=sys.stderr)
        return NO_GPU
    print(json.dumps({"gpus": gpus}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
