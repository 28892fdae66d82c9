"""Benchmark (c): a cold compile against rebuilds through the builder's compiler cache.

    python bench/rebuild.py [--scale 2.4]

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

from common import compile_all, machine, table
from workload import write_workload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=2.4, help="workload size")
    args = parser.parse_args()
    if shutil.which("ccache") is None:
        raise SystemExit("rebuild.py needs ccache (apt-get install ccache)")
    cpus, _ = machine()
    with tempfile.TemporaryDirectory() as tmp:
        files = write_workload(Path(tmp) / "src", args.scale)
        env = dict(
            os.environ,
            CCACHE_DIR=str(Path(tmp) / "ccache"),
            EGSTALKER_NVCC=shutil.which("nvcc") or "nvcc",
        )
        seconds = {}

        def run(label: str, archs: list[str]) -> None:
            seconds[label] = compile_all(files, archs, cpus, cached=True, env=env)
            print(f"{label}: {seconds[label]:.1f} s", flush=True)

        run("cold, empty cache", ["8.6"])
        run("warm, nothing changed", ["8.6"])
        files[0].write_text(files[0].read_text().replace("0.25f", "0.26f"))  # a code change
        run("one file changed", ["8.6"])
        run("architecture 9.0 added", ["8.6", "9.0"])
    cold = seconds["cold, empty cache"]
    rows = [["run", "seconds", "vs cold"]]
    rows += [[label, f"{s:.1f}", f"{s / cold:.2f}x"] for label, s in seconds.items()]
    print(f"\n{cpus} cores, scale {args.scale}, 1 arch (8.6) unless said")
    print(table(rows))


if __name__ == "__main__":
    main()
