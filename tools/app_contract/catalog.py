"""Our data files: requirement files, base-provides.toml and system-packages.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .entry_points import CORE, PREPROCESSING
from .errors import ContractError


def requirement_names(path: Path) -> dict[str, str]:
    """The distributions a requirement file names, with their specifiers."""
    if not path.is_file():
        raise ContractError(f"requirement file {path} does not exist")
    names = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-"):
            raise ContractError(f"{path}:{number}: options ({line!r}) are not allowed here")
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            message = f"{path}:{number}: {line!r} is not a requirement: {error}"
            raise ContractError(message) from None
        names[canonicalize_name(requirement.name)] = str(requirement.specifier)
    return names


@dataclass(frozen=True)
class Catalog:
    """Where distributions come from: our requirement files, the base image, the builder."""

    core: dict[str, str]
    preprocessing: dict[str, str]
    base: frozenset[str]
    built: dict[str, str]  # module -> distribution compiled by the builder
    base_modules: dict[str, str]  # module -> base distribution, where no venv provides it
    system_sonames: frozenset[str]
    conda_sonames: frozenset[str]
    stdlib_sonames: dict[str, list[str]]
    soname_packages: dict[str, str]
    skipped_sonames: dict[str, str]
    command_packages: dict[str, str]
    command_links: dict[str, str]
    library_links: dict[str, str]  # soname -> a wheel's file, linked into a default folder

    @classmethod
    def read(cls, core: Path, preprocessing: Path, base: Path, system: Path) -> Catalog:
        """The two requirement files, base-provides.toml and system-packages.toml."""
        base_data = _toml(base)
        system_data = _toml(system)
        try:
            return cls(
                core=requirement_names(core),
                preprocessing=requirement_names(preprocessing),
                base=frozenset(canonicalize_name(n) for n in base_data["distributions"]["base"]),
                built=dict(base_data["built"]),
                base_modules=dict(base_data["modules"]),
                system_sonames=frozenset(base_data["sonames"]["system"]),
                conda_sonames=frozenset(base_data["sonames"]["conda"]),
                stdlib_sonames={k: list(v) for k, v in base_data["stdlib"].items()},
                soname_packages=dict(system_data["sonames"]),
                skipped_sonames=dict(system_data["skipped"]),
                command_packages=dict(system_data["commands"]),
                command_links=dict(system_data.get("links", {})),
                library_links=dict(system_data.get("libraries", {})),
            )
        except KeyError as error:
            raise ContractError(f"{base} or {system} lacks the table or key {error}") from None

    def source(self, distribution: str) -> str:
        """core, preprocessing, base, built or missing: where ``distribution`` comes from."""
        if distribution in self.core:
            return CORE
        if distribution in self.preprocessing:
            return PREPROCESSING
        if distribution in self.base:
            return "base"
        if distribution in self.built.values():
            return "built"
        return "missing"


def _toml(path: Path) -> dict:
    """A data file's TOML tables."""
    if not path.is_file():
        raise ContractError(f"data file {path} does not exist")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ContractError(f"{path} is not valid TOML: {error}") from None
