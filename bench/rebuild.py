"""Benchmark (c): a cold compile against rebuilds through the builder's compiler cache.

    python bench/rebuild.py [--scale 0.5 | --full]

Compiles the workload as torch's builder calls nvcc, through nvcc_ccache.py and ccache:
cold (empty cache), warm (nothing changed), after a one-file change, and after adding an
architecture. Side by side in one process; prints ratios to the cold compile.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from common import (
    announce,
    chosen_scale,
    compile_all,
    estimate_rest,
    machine,
    scale_option,
    table,
)
from workload import write_workload

# The three cases after the cold one, in units of it: 0.00x, 0.48x and 1.97x on 2 cores
# (docs/performance.md).
REST = 0.00 + 0.48 + 1.97


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scale_option(parser)
    args = parser.parse_args()
    scale = chosen_scale(args)
    if shutil.which("ccache") is None:
        raise SystemExit("rebuild.py needs ccache (apt-get install ccache)")
    cpus, _ = machine()
    announce(
        "rebuild: 5 files compiled through ccache 4 times (cold, warm, one file changed,"
        " an architecture added)",
        scale,
    )
    with tempfile.TemporaryDirectory() as tmp:
        files = write_workload(Path(tmp) / "src", scale)
        env = dict(
            os.environ,
            CCACHE_DIR=str(Path(tmp) / "ccache"),
            EGSTALKER_NVCC=shutil.which("nvcc") or "nvcc",
        )
        seconds = {}

        def run(label: str, archs: list[str]) -> None:
            seconds[label] = compile_all(files, archs, cpus, cached=True, env=env)
            print(f"{label}: {seconds[label]:.1f} s", flush=True)
            if len(seconds) == 1:
                estimate_rest(seconds[label], REST)

        run("cold, empty cache", ["8.6"])
        run("warm, nothing changed", ["8.6"])
        files[0].write_text(files[0].read_text().replace("0.25f", "0.26f"))  # a code change
        run("one file changed", ["8.6"])
        run("architecture 9.0 added", ["8.6", "9.0"])
    cold = seconds["cold, empty cache"]
    rows = [["run", "seconds", "vs cold"]]
    rows += [[label, f"{s:.1f}", f"{s / cold:.2f}x"] for label, s in seconds.items()]
    print(f"\n{cpus} cores, scale {scale}, 1 arch (8.6) unless said")
    print(table(rows))


if __name__ == "__main__":
    main()
