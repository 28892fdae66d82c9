"""The distributions installed in a site-packages folder: their modules, needs and files."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .errors import ContractError

# The images' Python: markers in the installed metadata are evaluated for it.
TARGET_ENVIRONMENT = {"python_version": "3.10", "python_full_version": "3.10.13"}


def _inferred_top_levels(dist: metadata.Distribution) -> set[str]:
    """The top-level modules a distribution's RECORD shows it installs."""
    names = set()
    for file in dist.files or []:
        parts = file.parts
        if not parts or parts[0] in ("..", "__pycache__"):
            continue
        first = parts[0]
        if len(parts) > 1:
            if not first.endswith((".dist-info", ".egg-info", ".data", ".libs")):
                names.add(first)
        elif first.endswith(".py"):
            names.add(first[:-3])
        elif ".so" in first or first.endswith(".pyd"):
            names.add(first.split(".")[0])
    return {name for name in names if name.isidentifier()}


@dataclass
class Environment:
    """The distributions installed in a site-packages folder and what they provide."""

    site: Path
    dists: dict[str, metadata.Distribution]
    modules: dict[str, list[str]]  # top-level module -> distributions

    @classmethod
    def read(cls, site: Path) -> Environment:
        """Every distribution of ``site`` and the top-level modules it declares or installs."""
        if not site.is_dir() or not any(site.glob("*.dist-info")):
            raise ContractError(
                f"site-packages {site} holds no *.dist-info: give the site-packages folder "
                "of a venv with the requirements installed"
            )
        dists: dict[str, metadata.Distribution] = {}
        modules: dict[str, set[str]] = defaultdict(set)
        for dist in metadata.distributions(path=[str(site)]):
            name = canonicalize_name(dist.metadata["Name"])
            dists[name] = dist
            declared = set((dist.read_text("top_level.txt") or "").split())
            for top in declared | _inferred_top_levels(dist):
                modules[top].add(name)
        return cls(site, dists, {m: sorted(d) for m, d in modules.items()})

    def requires(self, name: str) -> list[str]:
        """The distributions ``name`` depends on, markers evaluated for the images' Python."""
        dist = self.dists.get(name)
        if dist is None:
            return []
        environment = {**default_environment(), **TARGET_ENVIRONMENT, "extra": ""}
        needed = []
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                needed.append(canonicalize_name(requirement.name))
        return needed

    def closure(self, roots: Iterable[str]) -> set[str]:
        """``roots`` and every distribution they depend on, directly or not."""
        found: set[str] = set()
        todo = list(roots)
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo.extend(self.requires(name))
        return found

    def files(self, name: str) -> list[Path]:
        """The files distribution ``name`` installs that exist, resolved and sorted."""
        dist = self.dists[name]
        paths = []
        for file in dist.files or []:
            path = Path(dist.locate_file(file)).resolve()
            if path.is_file():
                paths.append(path)
        return sorted(set(paths))
