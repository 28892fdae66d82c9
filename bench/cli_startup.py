"""Benchmark: how long the CLI's commands that need no engine take, start to exit.

    python bench/cli_startup.py [--runs 5]

Runs `egstalker --version`, `--help`, `arch a10` and `doctor` as a user does (the installed
`egstalker` beside this Python), each several times, and prints the median against the goal
of 0.5 s, with Python's own start and the Dagger SDK's import for scale: those commands
must not import the SDK.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import machine, table

GOAL = 0.5  # seconds, for each command
COMMANDS = (["--version"], ["--help"], ["arch", "a10"], ["doctor"])


def egstalker() -> str:
    beside = Path(sys.executable).with_name("egstalker")
    found = str(beside) if beside.exists() else shutil.which("egstalker")
    if found is None:
        raise SystemExit("cli_startup.py needs the egstalker CLI: make install")
    return found


def median_seconds(command: list[str], runs: int) -> float:
    def once() -> float:
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        return time.perf_counter() - started

    once()  # the first run fills the file cache; it is not counted
    return statistics.median(once() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (5)")
    args = parser.parse_args()
    if args.runs < 1:
        raise SystemExit(f"invalid --runs {args.runs}: give a whole number, at least 1")
    cli = egstalker()
    print(f"cli_startup: {len(COMMANDS)} commands, {args.runs} runs each (about 30 s)", flush=True)
    rows = [["command", "median s", "vs goal 0.5 s"]]
    for arguments in COMMANDS:
        seconds = median_seconds([cli, *arguments], args.runs)
        rows.append(
            [f"egstalker {' '.join(arguments)}", f"{seconds:.2f}", f"{seconds / GOAL:.2f}x"]
        )
    for label, code in (("python, nothing imported", "pass"), ("import dagger", "import dagger")):
        seconds = median_seconds([sys.executable, "-c", code], args.runs)
        rows.append([label, f"{seconds:.2f}", f"{seconds / GOAL:.2f}x"])
    cpus, _ = machine()
    print(f"\n{cpus} cores")
    print(table(rows))


if __name__ == "__main__":
    main()
