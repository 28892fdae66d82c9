"""The app's tree, and where an import of its code leads, as Python would resolve it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .errors import ContractError
from .source import SourceFacts, read_source


class App:
    """An app tree: its Python files and how names resolve against a sys.path."""

    def __init__(self, root: Path, pythonpath: Iterable[str]) -> None:
        if not root.is_dir():
            raise ContractError(f"app folder {root} does not exist: give a checkout of the app")
        self.root = root.resolve()
        self.pythonpath = tuple(pythonpath)
        self._facts: dict[Path, SourceFacts] = {}
        self.local_names = {
            p.stem if p.suffix == ".py" else p.name
            for p in self.root.rglob("*")
            if (p.suffix == ".py" or (p / "__init__.py").is_file())
            and not any(part.startswith(".") for part in p.relative_to(self.root).parts)
        }

    def facts(self, path: Path) -> SourceFacts:
        """What a file of the app imports and runs, read once."""
        if path not in self._facts:
            self._facts[path] = read_source(path)
        return self._facts[path]

    def rel(self, path: Path) -> str:
        """A path inside the app, relative to its root."""
        return path.relative_to(self.root).as_posix()

    def search_path(self, script: Path) -> list[Path]:
        """sys.path of `python SCRIPT` run from the app folder: the script's folder first."""
        return [script.parent, *(self.root / p for p in self.pythonpath)]

    @staticmethod
    def _module_file(base: Path, parts: list[str]) -> Path | None:
        """The file (or namespace folder) of module ``parts`` under ``base``, if any."""
        target = base.joinpath(*parts)
        if (target / "__init__.py").is_file():
            return target / "__init__.py"
        if target.with_suffix(".py").is_file():
            return target.with_suffix(".py")
        if target.is_dir():
            return target  # a namespace package: nothing runs
        return None

    def resolve(
        self, name: str, names: tuple[str, ...], importer: Path, search: list[Path]
    ) -> tuple[list[Path], list[str]] | None:
        """Local files an import runs and local modules it misses; None when not local."""
        if name.startswith("."):
            level = len(name) - len(name.lstrip("."))
            base = importer.parent
            for _ in range(level - 1):
                base = base.parent
            dotted = name.lstrip(".")
            parts = dotted.split(".") if dotted else []
            roots = [base]
            label_prefix = self.rel(base).replace("/", ".") if base != self.root else ""
        else:
            parts = name.split(".")
            roots = [root for root in search if self._module_file(root, parts[:1])]
            if not roots:
                return None
            label_prefix = ""
        root = roots[0]
        files: list[Path] = []
        missing: list[str] = []
        for depth in range(1, len(parts) + 1):
            found = self._module_file(root, parts[:depth])
            if found is None:
                missing.append(".".join(filter(None, [label_prefix, *parts[:depth]])))
                return files, missing
            if found.is_file():
                files.append(found)
        package = root.joinpath(*parts)
        if package.is_dir():
            for item in names:
                sub = self._module_file(package, [item])
                if sub is not None and sub.is_file():
                    files.append(sub)
        return files, missing
