"""Derive EGSTalker's dependency contract from its source and an installed environment.

    python -m tools.app_contract APP_DIR --site-packages SITE [--commit SHA] [--output FILE]

APP_DIR is a checkout of the app; SITE the site-packages folder of a Python 3.10 venv
holding the pinned requirement files (core and preprocessing) plus torch, torchvision,
torchaudio and numpy<2 standing for the base image. From the app's entry points the
program follows the app's own imports with ``ast`` (imports inside functions, and the
``python other_script.py`` commands the app runs, included) and writes, as sorted JSON:

- every third-party module reached, the distribution providing it (read from SITE's
  metadata, or from data/base-provides.toml for the base image and the compiled
  extensions), which requirement file pins it, and which entry points reach it, at
  start-up or lazily;
- the system libraries the installed wheels' shared objects need that neither the wheels
  nor the base image provide, each with the Ubuntu package that provides it
  (data/system-packages.toml), and the external commands the app runs;
- the upstream gaps: local modules, scripts and README paths that do not exist.

It exits 1 (after writing) when something is unresolved: a module no requirement file or
base provides, a soname or command with no package. A developer tool, not shipped.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

from .app import App
from .catalog import Catalog
from .contract import build_contract
from .entry_points import DEFAULT_ENTRY_POINTS, DEFAULT_PYTHONPATH, EntryPoint
from .environment import Environment
from .errors import ContractError

DATA_DIR = Path(__file__).resolve().parents[2] / "pipeline" / "src" / "egstalker" / "data"


def _entry(text: str) -> EntryPoint:
    """An ``--entry NAME=PART:SCRIPT`` value."""
    match = re.fullmatch(r"([\w-]+)=(core|preprocessing):(\S+\.py)", text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"invalid entry point {text!r}: write NAME=PART:SCRIPT, PART being core or "
            "preprocessing, SCRIPT a .py path inside the app (train=core:train.py)"
        )
    return EntryPoint(*match.groups())


def _commit(app: Path) -> str:
    """The commit a git checkout of the app is at."""
    result = subprocess.run(
        ["git", "-C", str(app), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ContractError(f"{app} is not a git checkout: pass the app's commit with --commit")
    return result.stdout.strip()


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line's options, the data files defaulting to the module's data folder."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.app_contract", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("app", type=Path, help="a checkout of the app")
    parser.add_argument("--site-packages", type=Path, required=True)
    parser.add_argument("--commit", help="the app's commit (default: the checkout's HEAD)")
    parser.add_argument("--entry", type=_entry, action="append", help="NAME=PART:SCRIPT")
    parser.add_argument("--pythonpath", action="append", help="app folders on PYTHONPATH")
    parser.add_argument("--readme", default="README.md", help="relative to the app")
    parser.add_argument("--requirements", type=Path, default=DATA_DIR / "requirements.txt")
    parser.add_argument(
        "--preprocessing-requirements",
        type=Path,
        default=DATA_DIR / "requirements-preprocessing.txt",
    )
    parser.add_argument("--base", type=Path, default=DATA_DIR / "base-provides.toml")
    parser.add_argument("--system-packages", type=Path, default=DATA_DIR / "system-packages.toml")
    parser.add_argument("--output", type=Path, help="write here instead of standard output")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Write the contract; exit 2 on a bad input, 1 when something is unresolved, else 0."""
    args = parse_args(argv)
    try:
        entries = args.entry or list(DEFAULT_ENTRY_POINTS)
        if len({e.name for e in entries}) != len(entries):
            raise ContractError("entry point names must differ")
        pythonpath = args.pythonpath if args.pythonpath is not None else DEFAULT_PYTHONPATH
        app = App(args.app, pythonpath)
        commit = args.commit or _commit(args.app)
        if not re.fullmatch(r"[0-9a-f]{40}", commit):
            raise ContractError(f"commit {commit!r} is not a 40-digit hexadecimal git commit")
        env = Environment.read(args.site_packages)
        catalog = Catalog.read(
            args.requirements, args.preprocessing_requirements, args.base, args.system_packages
        )
        contract, unresolved = build_contract(
            app, entries, env, catalog, commit, app.root / args.readme
        )
    except ContractError as error:
        print(f"app_contract: {error}", file=sys.stderr)
        return 2
    text = json.dumps(contract, indent=2, sort_keys=True) + "\n"
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    for problem in unresolved:
        print(f"unresolved: {problem}", file=sys.stderr)
    return 1 if unresolved else 0
