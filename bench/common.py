"""What the benchmarks share: the programs under test, timing, and a parallel compile."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PROGRAMS = Path(__file__).resolve().parents[1] / "pipeline" / "src" / "egstalker" / "programs"
sys.path.insert(0, str(PROGRAMS))

import build_extension  # noqa: E402  (the builder's own sizing, measured as it is)

NVCC_CCACHE = PROGRAMS / "nvcc_ccache.py"


def gencode(arch: str) -> str:
    sm = arch.replace(".", "")
    return f"-gencode=arch=compute_{sm},code=sm_{sm}"


def nvcc_command(source: Path, archs: Sequence[str], threads: int, cached: bool) -> list[str]:
    """nvcc as torch's ninja rule calls it for one .cu file (optionally through ccache)."""
    out = source.with_suffix(".o")
    flags = [
        "--generate-dependencies-with-compile", "--dependency-output", f"{out}.d",
        "-c", str(source), "-o", str(out), "-O3", "-Xcompiler", "-fPIC",
        *(gencode(a) for a in archs),
    ]  # fmt: skip
    if threads > 1:
        flags.append(f"--threads={threads}")
    if cached:
        return [sys.executable, str(NVCC_CCACHE), *flags]
    return [shutil.which("nvcc") or "nvcc", *flags]


def compile_all(
    files: Sequence[Path],
    archs: Sequence[str],
    jobs: int,
    threads: int = 1,
    cached: bool = False,
    env: dict[str, str] | None = None,
) -> float:
    """Wall seconds to compile every file, ``jobs`` at a time, as ninja would."""

    def one(source: Path) -> None:
        subprocess.run(
            nvcc_command(source, archs, threads, cached), check=True, env=env or dict(os.environ)
        )

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(one, files))
    return time.monotonic() - started


QUICK_SCALE = 1.0  # the default: the quick run
FULL_SCALE = 2.4  # --full: heavy files as slow as the real rasterizer's (~65 s an architecture)


def scale_option(parser: argparse.ArgumentParser) -> None:
    """--scale and --full, the same for every benchmark."""
    parser.add_argument(
        "--scale",
        type=float,
        default=QUICK_SCALE,
        help=f"workload size (default {QUICK_SCALE}: a quick run; compile time grows with it)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help=f"the full run, --scale {FULL_SCALE}: files as heavy as the real rasterizer's",
    )


def chosen_scale(args: argparse.Namespace) -> float:
    """The scale asked for; a bad one is refused with what is allowed."""
    scale = FULL_SCALE if args.full else args.scale
    if not 0 < scale <= 10:
        raise SystemExit(f"invalid --scale {scale}: give a number above 0, at most 10")
    return scale


def announce(what: str, scale: float) -> None:
    """Say at the start what will run and at what scale; how long, once the first case ran."""
    kind = "full" if scale == FULL_SCALE else "default" if scale == QUICK_SCALE else "custom"
    print(f"{what}\nscale {scale} ({kind} run; --full: scale {FULL_SCALE})", flush=True)


def estimate_rest(first: float, rest: float) -> None:
    """The time the other cases take, from this machine's first case: ``first`` seconds
    times ``rest``, their time in units of the first case as measured (docs/performance.md)."""
    print(f"  the other cases: about {first * rest / 60:.1f} min more on this machine", flush=True)


def machine() -> tuple[int, int]:
    """Cores and memory, read the way the builder reads them."""
    return build_extension.available_cpus(), build_extension.available_memory()


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
