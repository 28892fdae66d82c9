"""What the benchmarks share: the programs under test, timing, and a parallel compile."""

from __future__ import annotations

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


def machine() -> tuple[int, int]:
    """Cores and memory, read the way the builder reads them."""
    return build_extension.available_cpus(), build_extension.available_memory()


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
