"""Compile and install one CUDA extension (e.g. simple_knn) inside the devel builder.

Usage: python build_extension.py NAME SOURCE_DIR [--ccache-dir DIR] [--concurrent-builds N]

TORCH_CUDA_ARCH_LIST must be set: with no GPU visible (any container build) torch's
builder crashes on an empty list. The parallelism fills the builder's cores within its
memory: each nvcc compiles the architectures of its file side by side, up to one per core
(``--threads``, passed through NVCC_APPEND_FLAGS), and ninja runs one such compiler per
core (MAX_JOBS), as many as fit in memory (``parallel_settings``). With --concurrent-builds N
(the compiles of one build that may run at the same time), each gets an Nth of the
memory; the cores are shared by all, so that one that ends early leaves its cores to the
others. An explicit MAX_JOBS wins. With --ccache-dir, gcc and nvcc go through ccache
(nvcc by way of nvcc_ccache.py), so a rebuild recompiles only what changed. The install
uses the image's torch (no build isolation) and installs no dependencies. A failed build
gets the fix for each known failure that its output shows, wherever in the output it is.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

GIB = 1024**3
# Memory for each architecture that one nvcc compiles, with a margin: on the real
# rasterizer and simple_knn (docs/performance.md) cicc reads torch's headers once per
# architecture, 2.6 GiB each, side by side with --threads; the host side (gcc, 1.9 GiB)
# comes after them.
MEMORY_PER_THREAD = 3 * GIB
CCACHE_COMPILER_LINKS = Path("/usr/lib/ccache")  # Debian/Ubuntu: gcc, g++, cc, c++ -> ccache
SHOWN_LINE = 300  # characters of a matched line quoted beside its hint

# What a failed build's log says, and what fixes it: the classic failures of these builds.
HINTS = (
    (
        re.compile(r"glm/glm\.hpp: No such file or directory"),
        "the rasterizer's glm headers are missing: fetch its third_party/glm submodule "
        "(clone recursively) or install libglm-dev",
    ),
    (
        re.compile(r"\bKilled\b|signal 9|died due to signal|cannot allocate memory|out of memory"),
        "a compiler was killed, most likely for lack of memory: lower --max-jobs "
        "(each job needs up to 3 GB per architecture it compiles)",
    ),
    (
        re.compile(r'has no member "uintptr_t"|"uint32_t" is undefined'),
        "this gcc is newer than the extension expects (gcc >= 13): add #include <cstdint> "
        "to cuda_rasterizer/rasterizer_impl.h or build on the gcc 11 devel base",
    ),
    (
        re.compile(r'identifier "FLT_MAX" is undefined'),
        "simple-knn needs #include <float.h> on CUDA >= 12.5: use a simple-knn commit "
        "with that fix (60f461f or later)",
    ),
    (
        re.compile(r"CUDA_HOME environment variable is not set"),
        "no CUDA toolkit in this image: build on a -devel base image, which has nvcc",
    ),
)


def code_targets(arch_list: str) -> int:
    """How many -gencode targets torch derives: one per entry, one more for each +PTX."""
    entries = [e for e in re.split(r"[;\s]+", arch_list.strip()) if e]
    return len(entries) + sum(e.endswith("+PTX") for e in entries)


def parallel_settings(
    cpus: int, memory_bytes: int, targets: int, max_jobs: int | None = None
) -> tuple[int, int]:
    """(ninja jobs, nvcc threads per job): a job per core, each nvcc's targets side by side.

    These extensions are a few files, one of which takes most of the time (cicc over
    torch's headers). Threads split that file's architectures, up to one per core, so
    they shorten the critical path; jobs follow the cores, not cores / threads, so that
    file starts at once. Memory caps both, at MEMORY_PER_THREAD for each thread of each job; threads
    are kept before jobs.
    """
    slots = max(1, memory_bytes // MEMORY_PER_THREAD)
    if max_jobs is not None:
        return max_jobs, max(1, min(targets, cpus, slots // max(1, max_jobs)))
    threads = max(1, min(targets, cpus, slots))
    return max(1, min(cpus, slots // threads)), threads


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


def find_nvcc(environ: dict[str, str]) -> str:
    cuda_home = environ.get("CUDA_HOME", "/usr/local/cuda")
    return shutil.which("nvcc", path=environ.get("PATH")) or str(Path(cuda_home, "bin", "nvcc"))


def with_ccache(environ: dict[str, str], ccache_dir: Path) -> dict[str, str]:
    """Route gcc/g++ (compiler links first on PATH) and nvcc (PYTORCH_NVCC) through ccache."""
    if shutil.which("ccache", path=environ.get("PATH")) is None:
        raise SystemExit("build_extension.py: --ccache-dir given but ccache is not installed")
    wrapper = Path(__file__).with_name("nvcc_ccache.py")
    env = dict(
        environ,
        CCACHE_DIR=str(ccache_dir),
        EGSTALKER_NVCC=find_nvcc(environ),
        PYTORCH_NVCC=f"{sys.executable} {wrapper}",
    )
    if CCACHE_COMPILER_LINKS.is_dir():
        env["PATH"] = f"{CCACHE_COMPILER_LINKS}{os.pathsep}{environ.get('PATH', '')}"
    return env


def max_jobs(value: str) -> int | None:
    """MAX_JOBS as given (None when unset): a whole number of at least 1."""
    if not value.strip():
        return None
    if not value.strip().isdigit() or int(value) < 1:
        raise SystemExit(
            f"build_extension.py: invalid MAX_JOBS {value!r}: give a whole number of at least 1"
        )
    return int(value)


def build_environment(
    environ: dict[str, str],
    cpus: int | None = None,
    memory_bytes: int | None = None,
    concurrent: int = 1,
) -> dict[str, str]:
    """The environment of the build: MAX_JOBS and nvcc's --threads chosen, unless given.

    ``concurrent`` compiles run at once on the same machine: each is sized for its share
    of the memory, so that all of them at their peak still fit.
    """
    arch_list = environ.get("TORCH_CUDA_ARCH_LIST", "").strip()
    if not arch_list:
        raise SystemExit(
            "build_extension.py: TORCH_CUDA_ARCH_LIST is not set; torch cannot guess the "
            "architectures when no GPU is visible (set it, e.g. to 8.6)"
        )
    explicit = max_jobs(environ.get("MAX_JOBS", ""))
    memory = available_memory() if memory_bytes is None else memory_bytes
    jobs, threads = parallel_settings(
        available_cpus() if cpus is None else cpus,
        memory // concurrent,
        code_targets(arch_list),
        explicit,
    )
    env = dict(environ, MAX_JOBS=str(jobs))
    if threads > 1:
        # one token, so that a compiler cache in front of nvcc reads no stray argument
        appended = f"{environ.get('NVCC_APPEND_FLAGS', '')} --threads={threads}"
        env["NVCC_APPEND_FLAGS"] = appended.strip()
    return env


def positive(value: str) -> int:
    """A whole number of at least 1, for --concurrent-builds."""
    if not value.strip().isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(
            f"invalid value {value!r}: give a whole number of at least 1"
        )
    return int(value)


def hints(log: str) -> list[str]:
    """The fixes for the known failures that ``log`` shows."""
    finder = HintFinder()
    for line in log.splitlines():
        finder.feed(line)
    return [hint for hint, _ in finder.matches()]


class HintFinder:
    """Matches the known failures line by line, keeping only each one's first line."""

    def __init__(self) -> None:
        self.lines = 0
        self.found: dict[int, tuple[int, str]] = {}  # index in HINTS -> (line number, line)

    def feed(self, line: str) -> None:
        self.lines += 1
        for index, (pattern, _) in enumerate(HINTS):
            if index not in self.found and pattern.search(line):
                self.found[index] = (self.lines, line.strip()[:SHOWN_LINE])

    def matches(self) -> list[tuple[str, str]]:
        """(hint, where it was seen) for each known failure found, in HINTS order."""
        return [
            (HINTS[index][1], f"line {number} of the build output: {line}")
            for index, (number, line) in sorted(self.found.items())
        ]


def run_logged(command: list[str], env: dict[str, str]) -> tuple[int, HintFinder]:
    """Run ``command``, showing its output as it comes and matching every line of it."""
    finder = HintFinder()
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        errors="replace",
    ) as process:  # fmt: skip
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            finder.feed(line)
    sys.stdout.flush()
    return process.returncode, finder


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="build_extension.py", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the extension, for the log")
    parser.add_argument("source", help="its source tree (with setup.py)")
    parser.add_argument("--ccache-dir", type=Path, help="compiler cache to use")
    parser.add_argument(
        "--concurrent-builds",
        type=positive,
        default=1,
        metavar="N",
        help="how many compiles may run at once on the builder, sharing its memory (default 1)",
    )
    args = parser.parse_args(argv)
    env = build_environment(dict(os.environ), concurrent=args.concurrent_builds)
    if args.ccache_dir:
        env = with_ccache(env, args.ccache_dir)
    print(
        f"compiling {args.name} for {env['TORCH_CUDA_ARCH_LIST']} with MAX_JOBS={env['MAX_JOBS']}"
        f" NVCC_APPEND_FLAGS={env.get('NVCC_APPEND_FLAGS', '')!r}"
        + (f", beside {args.concurrent_builds - 1} other(s)" if args.concurrent_builds > 1 else "")
        + (" through ccache" if args.ccache_dir else ""),
        flush=True,
    )
    command = [
        sys.executable, "-m", "pip", "install",
        "--no-build-isolation", "--no-deps", "--no-cache-dir", args.source,
    ]  # fmt: skip
    code, finder = run_logged(command, env)
    if args.ccache_dir:
        subprocess.run(["ccache", "--show-stats"], env=env, check=False)
    if code != 0:
        step = f"compile {args.name} for {env['TORCH_CUDA_ARCH_LIST']}"
        print(f"error: step '{step}' failed with exit code {code}", file=sys.stderr)
        for hint, seen in finder.matches():
            print(f"hint: {hint}\n  ({seen})", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
