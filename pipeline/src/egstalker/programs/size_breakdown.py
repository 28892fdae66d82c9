"""Bytes each installed distribution adds under a prefix, largest first.

    python size_breakdown.py ROOT

ROOT is a conda prefix, or the part of one that the builder added (the runtime image's
delta). Each file is charged to the distribution whose ``*.dist-info/RECORD`` lists it
(compiled extensions included); files no RECORD claims are grouped by their top folder.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path

MB = 1000**2


def owners(site_packages: Path) -> dict[Path, str]:
    """Every file named by a RECORD under ``site_packages``, mapped to its distribution."""
    owned: dict[Path, str] = {}
    for record in site_packages.glob("*.dist-info/RECORD"):
        name = record.parent.name.removesuffix(".dist-info").rsplit("-", 1)[0]
        with record.open(newline="") as rows:
            for row in csv.reader(rows):
                if row:
                    owned[(site_packages / row[0]).resolve()] = name
    return owned


def breakdown(root: Path) -> Counter[str]:
    owned: dict[Path, str] = {}
    for site_packages in root.glob("lib/python*/site-packages"):
        owned.update(owners(site_packages))
    sizes: Counter[str] = Counter()
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            relative = path.relative_to(root)
            label = owned.get(path.resolve()) or f"(other files in {relative.parts[0]}/)"
            sizes[label] += path.stat().st_size
    return sizes


def render(sizes: Counter[str]) -> str:
    total = sum(sizes.values()) or 1
    lines = [f"{'MB':>9}  {'share':>6}  package"]
    for name, size in sizes.most_common():
        lines.append(f"{size / MB:9.1f}  {size / total:6.1%}  {name}")
    lines.append(f"{total / MB:9.1f}  {1:6.0%}  total")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python size_breakdown.py ROOT (an existing folder)", file=sys.stderr)
        return 2
    sizes = breakdown(Path(argv[0]))
    if not sizes:
        print(f"{argv[0]} holds no files")
        return 0
    print(render(sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
