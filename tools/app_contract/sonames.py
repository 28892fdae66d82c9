"""The system libraries the installed wheels' shared objects need, and when they load."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from .catalog import Catalog
from .elf import Dynamic, read_dynamic
from .entry_points import CORE
from .environment import Environment

# Python extension modules: the objects an import maps, with all they link.
EXTENSION_MODULE = re.compile(r"\.(cpython-[^.]+|abi3)\.so$")
IMPORT, ON_DEMAND = "import", "on-demand"


def elf_files(env: Environment, names: Iterable[str]) -> dict[Path, tuple[str, Dynamic]]:
    """Every dynamically linked ELF file the distributions install, with its owner."""
    found: dict[Path, tuple[str, Dynamic]] = {}
    for name in sorted(names):
        for path in env.files(name):
            dynamic = read_dynamic(path)
            if dynamic is not None:
                found.setdefault(path, (name, dynamic))
    return found


def _in_rpath(path: Path, dynamic: Dynamic, soname: str) -> Path | None:
    """Where the RPATH/RUNPATH of the object at ``path`` finds ``soname``, if anywhere."""
    for entry in dynamic.rpaths:
        folder = entry.replace("${ORIGIN}", "$ORIGIN").replace("$ORIGIN", str(path.parent))
        candidate = Path(folder) / soname
        if candidate.exists():
            return candidate.resolve()
    return None


def system_needs(
    env: Environment, catalog: Catalog, parts: dict[str, str]
) -> tuple[dict[str, dict], list[str]]:
    """The sonames the non-base wheels need from the system, each with its package.

    A soname is needed at ``import`` when an extension module links it, directly or
    through the wheels' own libraries; otherwise only ``on-demand``, by a plugin or
    program that a feature loads (Qt's window plugins, Mesa drivers, threading layers).
    ``parts`` maps each non-base distribution to the part of the app that installs it.
    """
    # PyPI torch's CUDA 12 wheels (nvidia-*) stand in for the base's CUDA 11.8 libraries,
    # which have other sonames: only the base's own packages (torch's libraries) count.
    base_own = [n for n in catalog.base if n in env.dists and not n.startswith("nvidia-")]
    elf = elf_files(env, [*parts, *base_own])
    by_name: dict[str, Path] = {}
    for path, (_, dynamic) in sorted(elf.items()):
        by_name.setdefault(path.name, path)
        if dynamic.soname:
            by_name.setdefault(dynamic.soname, path)

    def locate(path: Path, dynamic: Dynamic, soname: str) -> Path | None:
        return _in_rpath(path, dynamic, soname) or by_name.get(soname)

    loaded: set[Path] = set()
    todo = [p for p, (n, _) in elf.items() if n in parts and EXTENSION_MODULE.search(p.name)]
    while todo:
        path = todo.pop()
        if path in loaded or path not in elf:
            continue
        loaded.add(path)
        dynamic = elf[path][1]
        todo.extend(t for s in dynamic.needed if (t := locate(path, dynamic, s)) is not None)

    needs: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path, (name, dynamic) in sorted(elf.items()):
        if name not in parts:
            continue
        for soname in dynamic.needed:
            if locate(path, dynamic, soname) is not None or soname in catalog.system_sonames:
                continue
            if soname in catalog.conda_sonames and not dynamic.rpaths:
                # conda's python carries RPATH $ORIGIN/../lib, which the loader also
                # searches for objects that have no RUNPATH of their own
                continue
            facts = needs[soname]
            facts["distributions"].add(name)
            facts["parts"].add(parts[name])
            facts["objects"].add(path.relative_to(env.site).as_posix())
            facts["when"].add(IMPORT if path in loaded else ON_DEMAND)
    table: dict[str, dict] = {}
    unmapped = []
    for soname, facts in sorted(needs.items()):
        package = catalog.soname_packages.get(soname)
        skipped = catalog.skipped_sonames.get(soname)
        when = IMPORT if IMPORT in facts["when"] else ON_DEMAND
        if package is None and skipped is None:
            objects = ", ".join(sorted(facts["objects"]))
            unmapped.append(f"soname {soname} ({when}; needed by {objects})")
        table[soname] = {
            "apt_package": package,
            "list": "runtime" if CORE in facts["parts"] else "preprocessing",
            "loaded": when,
            "skipped": skipped,
            "needed_by": sorted(facts["distributions"]),
            "objects": sorted(facts["objects"]),
        }
    return table, unmapped
