"""Compare the conda environments of the devel and runtime base images.

    python compare_bases.py inventory PREFIX > devel.json       # in each base, its own Python
    python compare_bases.py compare DEVEL.json RUNTIME.json [--result OUT.json]
        [--allow-differences]

The runtime image takes only what the builder changed in the devel base's /opt/conda,
which is right only when both bases hold the same environment there. ``inventory`` lists
a prefix as conda sees it (``conda-meta/*.json``: name, version, build string) and as pip
sees it (``*.dist-info`` and ``*.egg-info`` in ``lib/python3*/site-packages``: name,
version, installer). ``compare`` prints a short report of every difference and exits 0
when the two are identical, 3 when they differ (the report then goes to stderr) and 2 on
bad usage or unreadable input; with ``--allow-differences`` a difference exits 0 too (the
pipeline then takes the builder's whole environment). It can write its result as JSON
(``--result``), which the build manifest records.
Standard library only: it runs with the base's own Python.
"""

from __future__ import annotations

import argparse
import email.parser
import json
import re
import sys
from pathlib import Path
from typing import Any

IDENTICAL, DIFFERENT, USAGE = 0, 3, 2
DIFFERENT_HINT = (
    "the runtime base's environment differs from the devel base's: build with "
    "--base-mismatch=copy to give the runtime image the builder's whole /opt/conda"
)
VIEWS = ("conda", "pip")


class BadInput(Exception):
    """An input that cannot be read; the message names the file."""


def normalise(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): 'PyYAML' and 'pyyaml' are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"cannot read {path}: {err}") from err


def conda_view(prefix: Path) -> dict[str, dict[str, Any]]:
    """Each package of ``prefix/conda-meta``: its version and build string."""
    packages: dict[str, dict[str, Any]] = {}
    for record in sorted((prefix / "conda-meta").glob("*.json")):
        try:
            data = json.loads(_read_text(record))
        except ValueError as err:
            raise BadInput(f"cannot read {record}: it is not valid JSON ({err})") from err
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise BadInput(f"cannot read {record}: it holds no package name")
        packages[data["name"]] = {
            "version": data.get("version"),
            "build": data.get("build"),
            "file": record.relative_to(prefix).as_posix(),
        }
    return packages


def _metadata_file(info: Path) -> Path | None:
    if info.is_file():  # an egg-info file is its own PKG-INFO
        return info
    for name in ("METADATA", "PKG-INFO"):
        if (info / name).is_file():
            return info / name
    return None


def pip_view(prefix: Path) -> dict[str, dict[str, Any]]:
    """Each distribution in ``prefix/lib/python3*/site-packages``: version and installer.

    A metadata folder without a readable version, and a second copy of a distribution,
    are listed apart, as 'name (folder)'.
    """
    dists: dict[str, dict[str, Any]] = {}
    for site in sorted(prefix.glob("lib/python3*/site-packages")):
        infos = [*site.glob("*.dist-info"), *site.glob("*.egg-info")]
        for info in sorted(infos):
            metadata = _metadata_file(info)
            headers = (
                email.parser.HeaderParser().parsestr(_read_text(metadata)) if metadata else None
            )
            name = headers.get("Name") if headers else None
            version = headers.get("Version") if headers else None
            installer = None
            if info.is_dir() and (info / "INSTALLER").is_file():
                installer = _read_text(info / "INSTALLER").strip() or None
            key = normalise(name or info.name.removesuffix(info.suffix).split("-")[0])
            entry = {
                "version": version,
                "installer": installer,
                "path": info.relative_to(prefix).as_posix(),
            }
            if metadata is None or version is None:
                entry["problem"] = "no readable metadata"
            if key in dists or "problem" in entry:
                # a second copy or a broken folder: listed apart, so the comparison shows it
                key = f"{key} ({info.name})"
            dists[key] = entry
    return dists


def inventory(prefix: Path) -> dict[str, Any]:
    if not (prefix / "conda-meta").is_dir():
        raise BadInput(f"{prefix} is not a conda prefix: it has no conda-meta folder")
    return {"prefix": str(prefix), "conda": conda_view(prefix), "pip": pip_view(prefix)}


def describe(view: str, entry: dict[str, Any] | None) -> str | None:
    """How one package reads in the report: '4.65.0=py310h2f386ee_0' or '4.65.0 (conda)'."""
    if entry is None:
        return None
    version = entry.get("version") or "no version"
    if view == "conda":
        return f"{version}={entry.get('build')}"
    installer = f" ({entry['installer']})" if entry.get("installer") else ""
    problem = f" [{entry['problem']}]" if entry.get("problem") else ""
    return f"{version}{installer}{problem}"


def compare(devel: dict[str, Any], runtime: dict[str, Any]) -> dict[str, Any]:
    """The differences between two inventories, each named with both sides."""
    differences = []
    for view in VIEWS:
        for name in sorted(set(devel[view]) | set(runtime[view])):
            left = describe(view, devel[view].get(name))
            right = describe(view, runtime[view].get(name))
            if left != right:
                differences.append({"view": view, "package": name, "devel": left, "runtime": right})
    counts = {view: {"devel": len(devel[view]), "runtime": len(runtime[view])} for view in VIEWS}
    counts["differences"] = len(differences)
    return {"identical": not differences, "differences": differences, "counts": counts}


def report(result: dict[str, Any]) -> str:
    counts = result["counts"]
    sizes = f"{counts['conda']['devel']} conda packages, {counts['pip']['devel']} pip distributions"
    if result["identical"]:
        return f"the devel and runtime bases hold the same environment: {sizes}"
    lines = [
        f"the devel and runtime bases hold different environments: "
        f"{counts['differences']} difference(s)"
    ]
    for d in result["differences"]:
        devel, runtime = d["devel"] or "absent", d["runtime"] or "absent"
        lines.append(f"  {d['view']} {d['package']}: devel {devel}, runtime {runtime}")
    return "\n".join(lines)


def load_inventory(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(_read_text(path))
    except ValueError as err:
        raise BadInput(f"cannot read the inventory {path}: it is not valid JSON ({err})") from err
    if not isinstance(data, dict) or not all(isinstance(data.get(v), dict) for v in VIEWS):
        raise BadInput(
            f"{path} is not an inventory: write it with `compare_bases.py inventory PREFIX`"
        )
    return data


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = main_parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("inventory", help="print a conda prefix's inventory as JSON")
    listing.add_argument("prefix", type=Path, help="the conda prefix, e.g. /opt/conda")
    comparing = commands.add_parser("compare", help="compare two inventories")
    comparing.add_argument("devel", type=Path, help="the devel base's inventory")
    comparing.add_argument("runtime", type=Path, help="the runtime base's inventory")
    comparing.add_argument("--result", type=Path, help="where to write the result as JSON")
    comparing.add_argument(
        "--allow-differences",
        action="store_true",
        help="exit 0 when the bases differ (the report still names each difference)",
    )
    return main_parser


def main(argv: list[str]) -> int:
    args_parser = parser()
    args = args_parser.parse_args(argv)
    try:
        if args.command == "inventory":
            print(json.dumps(inventory(args.prefix), indent=2, sort_keys=True))
            return 0
        result = compare(load_inventory(args.devel), load_inventory(args.runtime))
        if args.result:
            args.result.parent.mkdir(parents=True, exist_ok=True)
            args.result.write_text(json.dumps(result, indent=2) + "\n")
    except BadInput as err:
        print(f"compare_bases.py: {err}", file=sys.stderr)
        return USAGE
    if result["identical"] or args.allow_differences:
        print(report(result))
        return IDENTICAL
    # a difference that fails the step goes to stderr, where its message is read from; the
    # fix last, so that it ends the output every caller shows (dagger call, the CLI)
    print(report(result), file=sys.stderr)
    print(f"hint: {DIFFERENT_HINT}", file=sys.stderr)
    return DIFFERENT


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
