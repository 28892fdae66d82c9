"""What the entry points reach: imports and ``python X.py`` commands followed, and gaps."""

from __future__ import annotations

import re
import shlex
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .app import App
from .entry_points import EntryPoint
from .errors import ContractError
from .source import PYTHON_COMMANDS


@dataclass(frozen=True)
class Use:
    """How one entry point reaches a name: at start-up or lazily, and from where."""

    entry: str
    lazy: bool
    optional: bool
    file: str


@dataclass
class Reach:
    """What entry points reach, each name with every way it is reached."""

    third_party: dict[str, list[Use]] = field(default_factory=lambda: defaultdict(list))
    commands: dict[str, list[Use]] = field(default_factory=lambda: defaultdict(list))
    gaps: dict[tuple[str, str], list[Use]] = field(default_factory=lambda: defaultdict(list))
    stdlib: dict[str, list[Use]] = field(default_factory=lambda: defaultdict(list))
    # third-party modules imported inside a try that catches ImportError, by dotted name
    guarded: dict[str, list[Use]] = field(default_factory=lambda: defaultdict(list))
    files: set[Path] = field(default_factory=set)

    def add(self, other: Reach) -> None:
        """Take in what another entry point reaches."""
        for mine, theirs in (
            (self.third_party, other.third_party),
            (self.commands, other.commands),
            (self.gaps, other.gaps),
            (self.stdlib, other.stdlib),
            (self.guarded, other.guarded),
        ):
            for key, uses in theirs.items():
                mine[key].extend(uses)
        self.files |= other.files


def _is_stdlib(top: str) -> bool:
    """Whether a top-level module is Python's own."""
    return top in sys.stdlib_module_names or top == "__future__"


def follow(app: App, entry: EntryPoint) -> Reach:
    """Everything one entry point reaches, through imports and `python X.py` commands."""
    reach = Reach()
    script = app.root / entry.script
    if not script.is_file():
        raise ContractError(f"entry point {entry.name}: {entry.script} is not a file of the app")
    # (file, sys.path of its process, lazily reached, run as __main__)
    queue: list[tuple[Path, tuple[Path, ...], bool, bool]] = [
        (script, tuple(app.search_path(script)), False, True)
    ]
    seen: dict[tuple[Path, tuple[Path, ...]], bool] = {}
    while queue:
        path, search, lazy, is_main = queue.pop(0)
        key = (path, search)
        if key in seen and (seen[key] is False or lazy):
            continue
        seen[key] = lazy
        reach.files.add(path)
        facts = app.facts(path)
        for item in facts.imports:
            if item.main_only and not is_main:
                continue
            use = Use(entry.name, lazy or item.lazy, item.optional, app.rel(path))
            resolved = app.resolve(item.module, item.names, path, list(search))
            if resolved is not None:
                files, missing = resolved
                for target in files:
                    queue.append((target, search, use.lazy, False))
                for name in missing:
                    reach.gaps[("module", name)].append(use)
                continue
            top = item.module.split(".")[0]
            if _is_stdlib(top):
                reach.stdlib[top].append(use)
            else:
                reach.third_party[top].append(use)
                if item.optional:
                    reach.guarded[item.module].append(use)
        for command in facts.commands:
            if command.main_only and not is_main:
                continue
            use = Use(entry.name, True, False, app.rel(path))
            if command.argument:
                child = app.root / command.argument
                if child.is_file():
                    queue.append((child, tuple(app.search_path(child)), True, True))
                else:
                    reach.gaps[("script", command.argument)].append(use)
            elif command.argv0 not in PYTHON_COMMANDS:
                reach.commands[command.argv0].append(use)
    return reach


def unreached_gaps(
    app: App, reached: set[Path], installed: Callable[[str], bool]
) -> dict[str, list[str]]:
    """Local modules that files no entry point reaches import but the app lacks."""
    gaps: dict[str, list[str]] = defaultdict(list)
    search = [app.root, *(app.root / p for p in app.pythonpath)]
    for path in sorted(app.root.rglob("*.py")):
        if path in reached or any(p.startswith(".") for p in path.relative_to(app.root).parts):
            continue
        for item in app.facts(path).imports:
            resolved = app.resolve(item.module, item.names, path, [path.parent, *search])
            top = item.module.split(".")[0]
            if resolved is not None:
                for name in resolved[1]:
                    gaps[name].append(app.rel(path))
            elif top in app.local_names and not _is_stdlib(top) and not installed(top):
                gaps[top].append(app.rel(path))
    return gaps


def readme_gaps(app: App, readme: Path) -> list[tuple[str, str]]:
    """Paths named in the README's shell blocks that the app does not have: (path, command)."""
    if not readme.is_file():
        return []
    gaps = []
    for block in re.findall(r"```(?:bash|sh|shell)?\n(.*?)```", readme.read_text(), re.S):
        cwd = app.root
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            try:
                words = shlex.split(line, comments=True)
            except ValueError:
                continue
            if words[:1] == ["cd"] and len(words) > 1:
                cwd = (cwd / words[1]).resolve()
                continue
            if not words or Path(words[0]).name not in PYTHON_COMMANDS:
                continue
            for word in words[1:]:
                if word.endswith(".py") and "$" not in word and not (cwd / word).exists():
                    command = " ".join(line.split())
                    gaps.append(((cwd / word).relative_to(app.root).as_posix(), command))
    return sorted(set(gaps))
