"""Compile and install one of EGSTalker's CUDA extensions inside the devel builder.

Usage: python build_extension.py NAME SOURCE_DIR

TORCH_CUDA_ARCH_LIST must be set: with no GPU visible (any container build) torch's
builder crashes on an empty list. MAX_JOBS is used when set; otherwise it is chosen
here from the cores and memory the builder has, about 3 GB per nvcc job. The install
uses the image's torch (no build isolation) and installs no dependencies.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GIB = 1024**3
MEMORY_PER_JOB = 3 * GIB


def parallel_jobs(cpus: int, memory_bytes: int) -> int:
    """As many jobs as there are cores, but no more than memory holds at ~3 GB each."""
    return max(1, min(cpus, memory_bytes // MEMORY_PER_JOB))


def available_cpus() -> int:
    return len(os.sched_getaffinity(0))


def available_memory(
    meminfo: Path = Path("/proc/meminfo"),
    cgroup_limit: Path = Path("/sys/fs/cgroup/memory.max"),
) -> int:
    """Available memory in bytes: the host's MemAvailable, capped by a cgroup v2 limit."""
    available = 0
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemAvailable:"):
            available = int(line.split()[1]) * 1024
    try:
        limit = cgroup_limit.read_text().strip()
    except OSError:
        return available
    return min(available, int(limit)) if limit.isdigit() else available


def build_environment(environ: dict[str, str]) -> dict[str, str]:
    """The environment for the build: MAX_JOBS filled in when the caller left it out."""
    if not environ.get("TORCH_CUDA_ARCH_LIST", "").strip():
        raise SystemExit(
            "build_extension.py: TORCH_CUDA_ARCH_LIST is not set; torch cannot guess the "
            "architectures when no GPU is visible (set it, e.g. to 8.6)"
        )
    env = dict(environ)
    if not env.get("MAX_JOBS"):
        env["MAX_JOBS"] = str(parallel_jobs(available_cpus(), available_memory()))
    return env


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python build_extension.py NAME SOURCE_DIR", file=sys.stderr)
        return 2
    name, source = argv
    env = build_environment(dict(os.environ))
    print(
        f"compiling {name} for {env['TORCH_CUDA_ARCH_LIST']} with MAX_JOBS={env['MAX_JOBS']}",
        flush=True,
    )
    command = [
        sys.executable, "-m", "pip", "install",
        "--no-build-isolation", "--no-deps", "--no-cache-dir", source,
    ]  # fmt: skip
    return subprocess.run(command, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
