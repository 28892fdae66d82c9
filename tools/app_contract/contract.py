"""The contract: what the entry points reach, mapped to distributions, sonames and packages."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

from packaging.utils import canonicalize_name

from .app import App
from .catalog import Catalog
from .entry_points import CORE, PREPROCESSING, EntryPoint
from .environment import Environment
from .reach import Reach, Use, follow, readme_gaps, unreached_gaps
from .sonames import IMPORT, soname_record, system_needs
from .source import read_source

APP_URL = "https://github.com/ZhuTianheng/EGSTalker"
TOP_LEVEL, LAZY = "top-level", "lazy"
STDLIB = sys.stdlib_module_names


def _entries(uses: list[Use]) -> dict[str, str]:
    """entry point -> top-level when any way reaches the name at start-up, else lazy."""
    kinds: dict[str, str] = {}
    for use in uses:
        kind = LAZY if use.lazy else TOP_LEVEL
        if kinds.get(use.entry) != TOP_LEVEL:
            kinds[use.entry] = kind
    return dict(sorted(kinds.items()))


def _files(uses: list[Use]) -> list[str]:
    """The app files the uses come from, sorted, each once."""
    return sorted({use.file for use in uses})


def _core_use(part_of: dict[str, str], entries: dict[str, str]) -> bool:
    """Whether any of the entry points is a core one (train, render)."""
    return any(part_of[e] == CORE for e in entries)


def _installed(top: str, env: Environment, catalog: Catalog) -> bool:
    """Whether the venv, the builder or the base image provides a top-level module."""
    return top in env.modules or top in catalog.built or top in catalog.base_modules


def _modules(
    app: App, reach: Reach, env: Environment, catalog: Catalog, part_of: dict[str, str]
) -> tuple[dict[str, dict], list[str]]:
    """Each third-party module reached, with its distribution, and the problems found.

    A module neither installed nor provided that names a file of the app elsewhere is a
    local module the import cannot find: it moves to ``reach.gaps``.
    """
    modules: dict[str, dict] = {}
    unresolved = []
    for top, uses in sorted(reach.third_party.items()):
        providers = env.modules.get(top, [])
        if not _installed(top, env, catalog) and top in app.local_names:
            reach.gaps[("module", top)].extend(uses)
            continue
        pinned = [d for d in providers if catalog.source(d) != "missing"]
        if top in catalog.built:
            distribution = catalog.built[top]
        elif top in catalog.base_modules:
            distribution = canonicalize_name(catalog.base_modules[top])
        elif pinned or providers:
            distribution = (pinned or providers)[0]
        else:
            distribution = None
        source = catalog.source(distribution) if distribution else "missing"
        if distribution and distribution in env.dists:
            version = env.dists[distribution].version
        else:
            version = None
        entry_kinds = _entries(uses)
        record = {
            "distribution": distribution,
            "version": version,
            "source": source,
            "entry_points": entry_kinds,
            "lazy": all(kind == LAZY for kind in entry_kinds.values()),
            "optional": all(use.optional for use in uses),
            "imported_by": _files(uses),
        }
        modules[top] = record
        if source == "missing" and not record["optional"]:
            unresolved.append(f"module {top}: no requirement file or base provides it")
        elif _core_use(part_of, entry_kinds) and source == PREPROCESSING and not record["optional"]:
            unresolved.append(f"module {top}: reached by train/render, pinned only in {source}")
    return modules, unresolved


def _stdlib_needs(reach: Reach, catalog: Catalog) -> dict[str, dict]:
    """The reached standard-library modules that need system libraries (base-provides.toml)."""
    stdlib = {}
    for top, sonames in sorted(catalog.stdlib_sonames.items()):
        if top in reach.stdlib:
            uses = reach.stdlib[top]
            stdlib[top] = {
                "sonames": sorted(sonames),
                "entry_points": _entries(uses),
                "imported_by": _files(uses),
            }
    return stdlib


def _sonames(
    env: Environment,
    catalog: Catalog,
    stdlib: dict[str, dict],
    part_of: dict[str, str],
    dist_parts: dict[str, str],
) -> tuple[dict[str, dict], list[str]]:
    """The sonames the wheels and the reached standard library need, and those unmapped."""
    sonames, unresolved = system_needs(env, catalog, dist_parts)
    for top, record in stdlib.items():
        core_use = _core_use(part_of, record["entry_points"])
        for soname in record["sonames"]:
            entry = sonames.setdefault(
                soname, soname_record(catalog, soname, "preprocessing", IMPORT)
            )
            entry["needed_by"] = sorted({*entry["needed_by"], f"stdlib:{top}"})
            if core_use:
                entry["list"] = "runtime"
            if entry["apt_package"] is None and entry["link"] is None:
                unresolved.append(f"soname {soname} (needed by stdlib {top})")
    return dict(sorted(sonames.items())), unresolved


def _module_file(site: Path, dotted: str) -> Path | None:
    """The file an installed module's import runs: its package's __init__.py or its .py."""
    base = site.joinpath(*dotted.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _guarded(
    reach: Reach, env: Environment, catalog: Catalog, dist_parts: dict[str, str]
) -> dict[str, dict]:
    """The imports the app guards with ``except ImportError``, and the images they succeed in.

    Such an import succeeds where its module's own start-up imports are installed; each
    is given with the part that installs it (core, preprocessing, base, or absent).
    """
    guarded = {}
    for dotted, uses in sorted(reach.guarded.items()):
        top = dotted.split(".")[0]
        path = _module_file(env.site, dotted)
        needs: dict[str, str] = {}
        for item in read_source(path).imports if path else []:
            first = item.module.split(".")[0]
            if item.lazy or item.optional or not first or first == top or first in STDLIB:
                continue
            for name in env.modules.get(first, [first]):
                source = "base" if name in catalog.base else dist_parts.get(name, "absent")
                needs[name] = source
        guarded[dotted] = {
            "entry_points": _entries(uses),
            "imported_by": _files(uses),
            "module_found": path is not None,
            "needs": dict(sorted(needs.items())),
        }
    return guarded


def _commands(
    reach: Reach, catalog: Catalog, part_of: dict[str, str]
) -> tuple[dict[str, dict], list[str]]:
    """The external commands the app runs, with their packages, and those with none."""
    commands = {}
    unresolved = []
    for name, uses in sorted(reach.commands.items()):
        entry_kinds = _entries(uses)
        package = catalog.command_packages.get(name)
        if package is None:
            unresolved.append(f"command {name}: no package in system-packages.toml [commands]")
        commands[name] = {
            "apt_package": package,
            "link": catalog.command_links.get(name),
            "list": "runtime" if _core_use(part_of, entry_kinds) else "preprocessing",
            "entry_points": entry_kinds,
            "run_by": _files(uses),
        }
    return commands, unresolved


def _gaps(app: App, reach: Reach, env: Environment, catalog: Catalog, readme: Path) -> list[dict]:
    """What the app misses: reached and unreached local modules, scripts, README paths."""
    gaps = []
    for (kind, name), uses in sorted(reach.gaps.items()):
        gaps.append(
            {"kind": kind, "name": name, "entry_points": _entries(uses), "where": _files(uses)}
        )
    installed = partial(_installed, env=env, catalog=catalog)
    for name, files in sorted(unreached_gaps(app, reach.files, installed).items()):
        gaps.append(
            {"kind": "module", "name": name, "entry_points": {}, "where": sorted(set(files))}
        )
    for path, command in readme_gaps(app, readme):
        gaps.append({"kind": "readme-path", "name": path, "entry_points": {}, "where": [command]})
    return gaps


def _requirements(catalog: Catalog, modules: dict[str, dict]) -> dict[str, dict]:
    """Each pinned distribution: its file, its pin and the reached modules it provides."""
    requirements = {}
    for part, pins in ((CORE, catalog.core), (PREPROCESSING, catalog.preprocessing)):
        for name, specifier in sorted(pins.items()):
            requirements[name] = {
                "file": part,
                "pin": specifier,
                "modules": sorted(m for m, r in modules.items() if r["distribution"] == name),
            }
    return requirements


def build_contract(
    app: App,
    entries: list[EntryPoint],
    env: Environment,
    catalog: Catalog,
    commit: str,
    readme: Path,
) -> tuple[dict, list[str]]:
    """The contract as a JSON-ready dict, and what could not be resolved."""
    reach = Reach()
    for entry in entries:
        reach.add(follow(app, entry))
    part_of = {entry.name: entry.part for entry in entries}

    core_closure = env.closure(catalog.core)
    pre_closure = env.closure(catalog.preprocessing) - core_closure
    dist_parts = {name: CORE for name in core_closure if name not in catalog.base}
    dist_parts.update({n: PREPROCESSING for n in pre_closure if n not in catalog.base})

    # _modules first: it moves the local modules the app cannot import into reach.gaps
    modules, module_problems = _modules(app, reach, env, catalog, part_of)
    stdlib = _stdlib_needs(reach, catalog)
    sonames, soname_problems = _sonames(env, catalog, stdlib, part_of, dist_parts)
    commands, command_problems = _commands(reach, catalog, part_of)
    contract = {
        "app": {"repository": APP_URL, "commit": commit},
        "generated_by": "python -m tools.app_contract",
        "entry_points": {
            e.name: {"part": e.part, "script": e.script, "pythonpath": list(app.pythonpath)}
            for e in sorted(entries, key=lambda e: e.name)
        },
        "modules": modules,
        "requirements": _requirements(catalog, modules),
        "stdlib_needs": stdlib,
        "sonames": sonames,
        "guarded_imports": _guarded(reach, env, catalog, dist_parts),
        "commands": commands,
        "upstream_gaps": _gaps(app, reach, env, catalog, readme),
    }
    unresolved = {*module_problems, *soname_problems, *command_problems}
    return contract, sorted(unresolved)
