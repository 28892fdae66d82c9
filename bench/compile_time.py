"""Benchmarks (a) and (b): nvcc compile time against the number of architectures.

    python bench/compile_time.py [--scale 0.5 | --full]

(a) one, two and five architectures, each file's architectures compiled one after
another (nvcc's default), jobs = cores; (b) five architectures as the builder compiles
them: nvcc's --threads and MAX_JOBS from build_extension.parallel_settings. All runs
are side by side in one process on a synthetic workload shaped like the rasterizer;
ratios are printed, not absolute goals.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import (
    announce,
    build_extension,
    chosen_scale,
    compile_all,
    estimate_rest,
    machine,
    scale_option,
    table,
)
from workload import write_workload

ONE, TWO = ["8.6"], ["8.0", "8.6"]
FIVE = ["7.5", "8.0", "8.6", "8.9", "9.0"]  # the "portable" preset
# The three cases after the first, in units of the first: 1.80x, 4.38x and 4.53x on 2 cores
# (docs/performance.md); fewer with more cores.
REST = 1.80 + 4.38 + 4.53


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scale_option(parser)
    args = parser.parse_args()
    scale = chosen_scale(args)
    cpus, memory = machine()
    jobs5, threads5 = build_extension.parallel_settings(cpus, memory, len(FIVE))
    announce(
        "compile_time: 5 files compiled 4 times (1, 2 and 5 architectures serially,"
        f" then 5 with MAX_JOBS={jobs5} --threads={threads5})",
        scale,
    )
    with tempfile.TemporaryDirectory() as tmp:
        files = write_workload(Path(tmp), scale)
        runs = [
            ("1 arch", ONE, cpus, 1),
            ("2 archs", TWO, cpus, 1),
            ("5 archs, serial nvcc", FIVE, cpus, 1),
            (f"5 archs, builder: MAX_JOBS={jobs5} --threads={threads5}", FIVE, jobs5, threads5),
        ]
        seconds = {}
        for label, archs, jobs, threads in runs:
            seconds[label] = compile_all(files, archs, jobs, threads)
            print(f"{label}: {seconds[label]:.1f} s", flush=True)
            if len(seconds) == 1:
                estimate_rest(seconds[label], REST)
    base = seconds["1 arch"]
    rows = [["run", "seconds", "vs 1 arch"]]
    rows += [[label, f"{s:.1f}", f"{s / base:.2f}x"] for label, s in seconds.items()]
    print(f"\n{cpus} cores, {memory / 1024**3:.0f} GiB available, scale {scale}")
    print(table(rows))
    serial, builder = list(seconds.values())[2:]
    print(
        f"\n(a) 2 archs / 1 arch: {seconds['2 archs'] / base:.2f}x;"
        f" 5 archs / 1 arch: {serial / base:.2f}x"
    )
    print(
        f"(b) 5 archs with --threads / 1 arch: {builder / base:.2f}x;"
        f" speed-up over serial nvcc: {serial / builder:.2f}x"
    )


if __name__ == "__main__":
    main()
