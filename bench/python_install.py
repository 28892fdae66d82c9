"""Benchmark: the builder's Python installs with pip against uv, cold and warm cache.

    python bench/python_install.py --base VENV --work DIR [--uv UV] [--locked]

VENV is a Python 3.10 environment that already holds what the devel base brings (torch
2.1.2, torchvision 0.16.2, torchaudio 2.1.2, numpy<2): each run installs into a fresh
copy of it (``cp -a``), as the builder installs into the base's conda environment. Each
installer installs the builder's two requirement sets in the builder's order, training
and rendering first, then preprocessing on top, with ``constraints.txt`` and the build
constraints of ``build-constraints.txt`` for the source distributions it builds (mmcv,
pyaudio: the latter needs portaudio's headers, ``portaudio19-dev``). Runs, one after
another: pip with an empty cache, uv with an empty cache, then both again with the cache
each filled (each installer reads only its own cache). uv installs the way the builder
would run it: files copied from its cache (the cache is a volume of its own there) and
bytecode compiled, as pip does. Afterwards each environment's distributions (name and
version), its files and ``pip check`` are compared with the first pip run's; the files
differ by installer markers only when every difference is a ``REQUESTED`` file (uv marks
every package, pip the requested ones) or uv's ``uv_build.json``. With ``--locked`` both
installers then install, hash-checked and with no resolution, the locks that ``make
lock`` writes, made here the way ``lock.py`` makes them (pip's report of a dry run in a
copy of VENV). Needs network access to PyPI and about 20 GB of disk under DIR; takes
15-30 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import table

DATA = Path(__file__).resolve().parents[1] / "pipeline" / "src" / "egstalker" / "data"
CORE = ["-r", str(DATA / "requirements.txt")]
PREPROCESSING = [*CORE, "-r", str(DATA / "requirements-preprocessing.txt")]
CONSTRAINTS = ["-c", str(DATA / "constraints.txt")]
BUILD_CONSTRAINTS = str(DATA / "build-constraints.txt")
STEPS = (("core", CORE), ("preprocessing", PREPROCESSING))
LOCK_PROGRAM = DATA.parent / "programs" / "lock.py"
INPUTS = [DATA / name for name in (
    "requirements.txt", "requirements-preprocessing.txt", "constraints.txt",
    "build-constraints.txt",
)]  # fmt: skip
MARKERS = ("REQUESTED", "uv_build.json")  # which installer put it there, nothing more
LISTING = """
import importlib.metadata as m, json, sys
dists = sorted(f"{d.metadata['Name'].lower().replace('_', '-')}=={d.version}"
               for d in m.distributions())
print(json.dumps(dists))
"""


def install_command(installer: str, uv: str, python: Path, requirements: list[str]) -> list[str]:
    if installer == "pip":
        return [str(python), "-m", "pip", "install", *requirements, *CONSTRAINTS]
    # a lock goes without -c: uv's hash-checking mode takes exact pins only, and the lock
    # was resolved under the constraints (as steps.python_dependencies installs it)
    constraints = [] if "--require-hashes" in requirements else CONSTRAINTS
    return [uv, "pip", "install", "--python", str(python), *requirements, *constraints,
            "--build-constraints", BUILD_CONSTRAINTS]  # fmt: skip


def locks(args: argparse.Namespace) -> tuple[tuple[str, list[str]], ...]:
    """The two locks of `make lock`, made in a copy of the base; the steps that install them."""
    venv = args.work / "lock-base"
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run(["cp", "-a", str(args.base), str(venv)], check=True)
    env = install_environment("pip", args.work / "cache-lock")
    previous: list[str] = []
    steps = []
    for step, requirements in STEPS:
        report, lock = args.work / f"{step}-report.json", args.work / f"{step}.lock"
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--dry-run", "--quiet",
             "--report", str(report), *requirements, *CONSTRAINTS],
            env=env, check=True,
        )  # fmt: skip
        with lock.open("w") as out:
            subprocess.run(
                [sys.executable, str(LOCK_PROGRAM), str(report), *map(str, INPUTS), *previous],
                stdout=out, check=True,
            )  # fmt: skip
        previous = ["--over", str(lock)]
        steps.append((step, ["--require-hashes", "--no-deps", "-r", str(lock)]))
    shutil.rmtree(venv)
    return tuple(steps)


def install_environment(installer: str, cache: Path) -> dict[str, str]:
    """The installer's own settings only: no user config, its own cache, the builder's ways."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull  # no host configuration (a host may cap torch)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    if installer == "pip":
        env["PIP_CACHE_DIR"] = str(cache)
        env["PIP_CONSTRAINT"] = BUILD_CONSTRAINTS  # pip < 25.3 passes it to build envs
        env["PIP_BUILD_CONSTRAINT"] = BUILD_CONSTRAINTS
    else:
        env.update(UV_CACHE_DIR=str(cache), UV_LINK_MODE="copy", UV_COMPILE_BYTECODE="1")
        env["UV_NO_CONFIG"] = "1"
    return env


def site_files(venv: Path) -> set[str]:
    """Every file of the environment's site-packages, bytecode included, by relative path."""
    (site,) = venv.glob("lib/python3*/site-packages")
    return {p.relative_to(site).as_posix() for p in site.rglob("*") if not p.is_dir()}


def run(args: argparse.Namespace, installer: str, cache_state: str, steps: tuple = STEPS) -> dict:
    """One measured run: a fresh copy of the base, both sets installed; what it holds."""
    venv = args.work / f"{installer}-{cache_state}"
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run(["cp", "-a", str(args.base), str(venv)], check=True)
    python = venv / "bin" / "python"
    cache = args.work / f"cache-{installer}"
    env = install_environment(installer, cache)
    seconds = {}
    for step, requirements in steps:
        started = time.monotonic()
        log = args.work / f"{installer}-{cache_state}-{step}.log"
        with log.open("w") as out:
            done = subprocess.run(
                install_command(installer, args.uv, python, requirements),
                env=env, stdout=out, stderr=subprocess.STDOUT, check=False,
            )  # fmt: skip
        seconds[step] = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit(f"{installer} ({cache_state}) failed in {step}: see {log}")
        print(f"{installer}, {cache_state} cache, {step}: {seconds[step]:.1f} s", flush=True)
    dists = json.loads(subprocess.run(
        [str(python), "-c", LISTING], capture_output=True, text=True, check=True
    ).stdout)  # fmt: skip
    check = subprocess.run(
        [str(python), "-m", "pip", "check"], capture_output=True, text=True, env=env, check=False
    )
    cached = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) / 1e6
    print(f"{installer}'s cache now holds {cached:.0f} MB", flush=True)
    result = {
        "seconds": seconds,
        "cache_mb": round(cached),
        "dists": dists,
        "files": sorted(site_files(venv)),
        "pip_check": (check.returncode, check.stdout.strip()),
    }
    (args.work / f"{installer}-{cache_state}.json").write_text(json.dumps(result, indent=1))
    shutil.rmtree(venv)  # keep the disk in bounds: one environment at a time
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="the Python 3.10 environment")
    parser.add_argument("--work", type=Path, required=True, help="where copies and caches go")
    parser.add_argument("--uv", default=shutil.which("uv") or "uv", help="the uv to measure")
    parser.add_argument("--locked", action="store_true", help="also install the locks")
    args = parser.parse_args()
    if not (args.base / "bin" / "python").exists():
        raise SystemExit(f"invalid --base {str(args.base)!r}: no bin/python in it")
    args.work.mkdir(parents=True, exist_ok=True)
    for installer in ("pip", "uv"):
        shutil.rmtree(args.work / f"cache-{installer}", ignore_errors=True)
    version = subprocess.run([args.uv, "--version"], capture_output=True, text=True, check=True)
    print(f"uv: {version.stdout.strip()}; base: {args.base}", flush=True)
    results = {
        (installer, state): run(args, installer, state)
        for state in ("cold", "warm")
        for installer in ("pip", "uv")
    }
    if args.locked:
        for installer in ("pip", "uv"):
            shutil.rmtree(args.work / f"cache-{installer}", ignore_errors=True)
        steps = locks(args)
        for installer in ("pip", "uv"):
            results[installer, "locked-cold"] = run(args, installer, "locked-cold", steps)
    reference = results["pip", "cold"]
    rows = [["installer", "cache", "core", "preprocessing", "total", "vs pip", "same set",
             "same files", "pip check"]]  # fmt: skip
    for (installer, state), result in results.items():
        total = sum(result["seconds"].values())
        pip_total = sum(results["pip", state]["seconds"].values())  # the same cache state
        only = set(result["files"]) ^ set(reference["files"])
        markers = {f for f in only if f.rsplit("/", 1)[-1] in MARKERS}
        rows.append([
            installer, state,
            *(f"{result['seconds'][step]:.1f}" for step, _ in STEPS),
            f"{total:.1f}", f"{total / pip_total:.2f}x",
            "yes" if result["dists"] == reference["dists"] else "NO",
            "yes" if not only else
            f"yes, but {len(markers)} markers" if only == markers else f"{len(only)} differ",
            "clean" if result["pip_check"][0] == 0 else "FAILS",
        ])  # fmt: skip
    print(f"\nseconds, on {os.cpu_count()} cores ({sys.platform})")
    print(table(rows))
    for (installer, state), result in results.items():
        extra = set(result["dists"]) ^ set(reference["dists"])
        if extra:
            print(f"{installer} {state}: distributions differing from pip cold: {sorted(extra)}")
        only = {
            f for f in set(result["files"]) ^ set(reference["files"])
            if f.rsplit("/", 1)[-1] not in MARKERS
        }  # fmt: skip
        if only:
            print(f"{installer} {state}: files differing from pip cold: {sorted(only)[:40]}")
        if result["pip_check"][0] != 0:
            print(f"{installer} {state}: pip check: {result['pip_check'][1]}")


if __name__ == "__main__":
    main()
