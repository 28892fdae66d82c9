"""The system libraries the installed wheels' shared objects need, found as the loader finds them.

For each NEEDED soname of an object, the dynamic loader (ld.so(8); glibc's _dl_map_object)
searches, in this order:

1. unless the object has a DT_RUNPATH: the DT_RPATH of the object, then of each object
   that loaded it, up the chain to the extension module, then of the executable (conda's
   python carries RPATH ``$ORIGIN/../lib``: base-provides.toml's ``conda`` sonames); an
   object's DT_RPATH counts for nobody when it has a DT_RUNPATH too;
2. LD_LIBRARY_PATH (the bases set only the NVIDIA driver's folders: none of ours);
3. the object's own DT_RUNPATH, never inherited;
4. ld.so.cache and the default folders: the base's system libraries (base-provides.toml),
   the links of system-packages.toml's ``[libraries]``, and the apt packages reported here.

``$ORIGIN`` is the folder the object was found in. A copy of the soname inside another
distribution's folder is none of these: the loader takes it only when an object of that
soname is already loaded, because something else was imported first. Such copies are
reported with the need (``load_order``), never counted as found.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .catalog import Catalog
from .elf import Dynamic, read_dynamic
from .entry_points import CORE
from .environment import Environment

# Python extension modules: the objects an import maps, with all they link.
EXTENSION_MODULE = re.compile(r"\.(cpython-[^.]+|abi3)\.so$")
IMPORT, ON_DEMAND = "import", "on-demand"
# The default folder the loader finds [libraries] links in: $ORIGIN of an object loaded
# through such a link; it holds nothing of the wheels but the other links.
LINK_FOLDER = Path("/usr/local/lib")


def elf_files(env: Environment, names: Iterable[str]) -> dict[Path, tuple[str, Dynamic]]:
    """Every dynamically linked ELF file the distributions install, with its owner."""
    found: dict[Path, tuple[str, Dynamic]] = {}
    for name in sorted(names):
        for path in env.files(name):
            dynamic = read_dynamic(path)
            if dynamic is not None:
                found.setdefault(path, (name, dynamic))
    return found


def _folders(entries: Iterable[str], origin: Path) -> tuple[Path, ...]:
    """RPATH or RUNPATH entries as folders, ``$ORIGIN`` being ``origin``."""
    text = (e.replace("${ORIGIN}", "$ORIGIN").replace("$ORIGIN", str(origin)) for e in entries)
    return tuple(Path(entry) for entry in text if entry)


@dataclass(frozen=True)
class Load:
    """An object as the loader maps it: where from, and the DT_RPATH its loaders pass on."""

    path: Path  # the file (resolved)
    origin: Path  # the folder it was found in: $ORIGIN
    inherited: tuple[Path, ...]  # DT_RPATH folders of the objects that loaded it


@dataclass(frozen=True)
class Found:
    """Where a soname was found: ``how`` (rpath, runpath, conda, system, link) and the file."""

    how: str
    load: Load | None  # the wheel's object to follow, if it is one


@dataclass
class Loader:
    """The loader's search (module docstring) over the wheels' objects and the image."""

    site: Path
    elf: dict[Path, tuple[str, Dynamic]]
    catalog: Catalog
    dynamics: dict[Path, Dynamic | None] = field(default_factory=dict)

    def dynamic(self, path: Path) -> Dynamic | None:
        """The dynamic section of ``path``, read once."""
        if path in self.elf:
            return self.elf[path][1]
        if path not in self.dynamics:
            self.dynamics[path] = read_dynamic(path)
        return self.dynamics[path]

    def _in(self, folders: Iterable[Path], soname: str, how: str, load: Load) -> Found | None:
        """The first of ``folders`` holding ``soname``, as the object to follow next.

        Only the wheels' folders count: a folder elsewhere (a build machine's
        ``/usr/lib/llvm-7/lib``) holds in the image only what its packages put there.
        """
        for folder in folders:
            if not folder.resolve().is_relative_to(self.site.resolve()):
                continue
            candidate = folder / soname
            if candidate.is_file():
                inherited = self._passed_on(load)
                return Found(how, Load(candidate.resolve(), folder, inherited))
        return None

    def _passed_on(self, load: Load) -> tuple[Path, ...]:
        """The DT_RPATH folders the objects ``load`` loads inherit: its own, then its loaders'."""
        dynamic = self.dynamic(load.path)
        own = _folders(dynamic.own_rpath(), load.origin) if dynamic else ()
        return (*own, *load.inherited)

    def find(self, load: Load, soname: str) -> Found | None:
        """Where the loader finds ``soname`` for the object ``load``, or None."""
        dynamic = self.dynamic(load.path)
        if dynamic is None:
            return None
        if not dynamic.runpath:
            found = self._in(self._passed_on(load), soname, "rpath", load)
            if found is not None:
                return found
            if soname in self.catalog.conda_sonames:
                return Found("conda", None)
        runpath = _folders(dynamic.runpath, load.origin)
        if (found := self._in(runpath, soname, "runpath", load)) is not None:
            return found
        if soname in self.catalog.system_sonames:
            return Found("system", None)
        target = self.catalog.library_links.get(soname)
        if target is not None and (self.site / target).is_file():
            return Found("link", Load((self.site / target).resolve(), LINK_FOLDER, ()))
        return None


@dataclass
class Needs:
    """What the walks found: the needs missing, those served by links, the loads seen."""

    missing: dict[str, dict[str, set[str]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(set))
    )
    linked: dict[str, dict[str, set[str]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(set))
    )
    seen: set[Load] = field(default_factory=set)


def _walk(
    loader: Loader, roots: Iterable[Load], when: str, parts: dict[str, str], needs: Needs
) -> None:
    """Follow each root's NEEDED entries as the loader does, recording what is missing."""
    todo = list(roots)
    while todo:
        load = todo.pop()
        dynamic = loader.dynamic(load.path)
        if load in needs.seen or dynamic is None:
            continue
        needs.seen.add(load)
        owner = loader.elf.get(load.path, (None,))[0]
        for soname in dynamic.needed:
            found = loader.find(load, soname)
            if found is not None and found.load is not None:
                todo.append(found.load)
            if owner not in parts or (found is not None and found.how != "link"):
                continue
            facts = (needs.linked if found is not None else needs.missing)[soname]
            facts["distributions"].add(owner)
            facts["parts"].add(parts[owner])
            facts["objects"].add(load.path.relative_to(loader.site).as_posix())
            facts["when"].add(when)


def _copies(elf: dict[Path, tuple[str, Dynamic]], site: Path) -> dict[str, set[str]]:
    """soname -> the wheels' files of that name or SONAME: found only if loaded first."""
    copies: dict[str, set[str]] = defaultdict(set)
    for path, (_, dynamic) in elf.items():
        for name in {path.name, dynamic.soname} - {""}:
            copies[name].add(path.relative_to(site).as_posix())
    return copies


def soname_record(catalog: Catalog, soname: str, listed: str, when: str) -> dict:
    """A soname's row of the contract, before its users are added."""
    return {
        "apt_package": catalog.soname_packages.get(soname),
        "link": catalog.library_links.get(soname),
        "list": listed,
        "loaded": when,
        "skipped": catalog.skipped_sonames.get(soname),
        "load_order": [],
        "needed_by": [],
        "objects": [],
    }


def system_needs(
    env: Environment, catalog: Catalog, parts: dict[str, str]
) -> tuple[dict[str, dict], list[str]]:
    """The sonames the non-base wheels need from the image, each with its package or link.

    A soname is needed at ``import`` when an extension module links it, directly or
    through the objects the loader finds for it; otherwise only ``on-demand``, by a plugin
    or program that a feature loads (Qt's window plugins, Mesa drivers, threading layers).
    ``parts`` maps each non-base distribution to the part of the app that installs it.
    A soname served by a ``[libraries]`` link is listed with it; its object is followed.
    """
    # PyPI torch's CUDA 12 wheels (nvidia-*) stand in for the base's CUDA 11.8 libraries,
    # which have other sonames: only the base's own packages (torch's libraries) count.
    base_own = [n for n in catalog.base if n in env.dists and not n.startswith("nvidia-")]
    elf = elf_files(env, [*parts, *base_own])
    loader = Loader(env.site, elf, catalog)
    needs = Needs()
    roots = [
        Load(path, path.parent, ())
        for path, (name, _) in sorted(elf.items())
        if name in parts and EXTENSION_MODULE.search(path.name)
    ]
    _walk(loader, roots, IMPORT, parts, needs)
    # then what a feature loads (plugins, programs): first the objects nothing links, so
    # that the libraries they load inherit their DT_RPATH; last whatever is left
    linked = {soname for _, dynamic in elf.values() for soname in dynamic.needed}
    for top_only in (True, False):
        loaded = {load.path for load in needs.seen}
        others = [
            Load(path, path.parent, ())
            for path, (name, dynamic) in sorted(elf.items())
            if name in parts
            and path not in loaded
            and not (top_only and {path.name, dynamic.soname} & linked)
        ]
        _walk(loader, others, ON_DEMAND, parts, needs)

    copies = _copies(elf, env.site)
    table: dict[str, dict] = {}
    unmapped = []
    for soname, facts in sorted({**needs.missing, **needs.linked}.items()):
        when = IMPORT if IMPORT in facts["when"] else ON_DEMAND
        listed = "runtime" if CORE in facts["parts"] else "preprocessing"
        record = soname_record(catalog, soname, listed, when)
        found_by_link = soname in needs.linked
        if not found_by_link:
            record["link"] = None
            record["load_order"] = sorted(copies.get(soname, ()))
        record["needed_by"] = sorted(facts["distributions"])
        record["objects"] = sorted(facts["objects"])
        table[soname] = record
        if not found_by_link and record["apt_package"] is None and record["skipped"] is None:
            objects = ", ".join(record["objects"])
            problem = f"soname {soname} ({when}; needed by {objects})"
            if record["load_order"]:
                problem += "; found only if loaded first, from a folder the loader does "
                problem += "not search for it: " + ", ".join(record["load_order"])
            unmapped.append(problem)
    return table, unmapped
