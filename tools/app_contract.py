"""Derive EGSTalker's dependency contract from its source and an installed environment.

    python tools/app_contract.py APP_DIR --site-packages SITE [--commit SHA] [--output FILE]

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
import ast
import json
import re
import shlex
import struct
import subprocess
import sys
import tomllib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

DATA_DIR = Path(__file__).resolve().parents[1] / "pipeline" / "src" / "egstalker" / "data"
APP_URL = "https://github.com/ZhuTianheng/EGSTalker"
# The images' Python: markers in the installed metadata are evaluated for it.
TARGET_ENVIRONMENT = {"python_version": "3.10", "python_full_version": "3.10.13"}

CORE, PREPROCESSING = "core", "preprocessing"
PARTS = (CORE, PREPROCESSING)
TOP_LEVEL, LAZY = "top-level", "lazy"


@dataclass(frozen=True)
class EntryPoint:
    """A script the app's README (or the app itself) runs, and the part it belongs to."""

    name: str
    part: str
    script: str


# EGSTalker's documented entry points, run from the app folder with scene/KAN on PYTHONPATH.
# render.py also covers inference (--custom_aud): the same script and imports.
DEFAULT_ENTRY_POINTS = (
    EntryPoint("train", CORE, "train.py"),
    EntryPoint("render", CORE, "render.py"),
    EntryPoint("process", PREPROCESSING, "data_utils/process.py"),
    EntryPoint(
        "deepspeech", PREPROCESSING, "data_utils/deepspeech_features/extract_ds_features.py"
    ),
    EntryPoint("face-parsing", PREPROCESSING, "data_utils/face_parsing/test.py"),
    EntryPoint("face-tracking", PREPROCESSING, "data_utils/face_tracking/face_tracker.py"),
    EntryPoint("convert-bfm", PREPROCESSING, "data_utils/face_tracking/convert_BFM.py"),
    EntryPoint("wav2vec", PREPROCESSING, "data_utils/wav2vec.py"),
    EntryPoint("wav2vec2", PREPROCESSING, "data_utils/wav2vec2.py"),
    EntryPoint("hubert", PREPROCESSING, "data_utils/hubert.py"),
    # evaluation: face-alignment (+ numba, llvmlite) and its weights, as preprocessing has
    EntryPoint("metrics", PREPROCESSING, "metrics.py"),
)
DEFAULT_PYTHONPATH = ("scene/KAN",)

COMMAND_RUNNERS = {
    ("os", "system"),
    ("os", "popen"),
    ("subprocess", "run"),
    ("subprocess", "call"),
    ("subprocess", "check_call"),
    ("subprocess", "check_output"),
    ("subprocess", "Popen"),
}
PYTHON_COMMANDS = {"python", "python3"}
IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


class ContractError(Exception):
    """A bad input: the message names the value and what is allowed."""


# --- reading the app's source -------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    """One import statement's module, where it sits and how it runs."""

    module: str  # absolute dotted name, or relative with leading dots
    names: tuple[str, ...]  # the names of a `from X import a, b`
    line: int
    lazy: bool  # inside a function body
    main_only: bool  # inside `if __name__ == "__main__":`
    optional: bool  # inside a try that catches ImportError


@dataclass(frozen=True)
class Command:
    """An external command the source runs through os.system/subprocess."""

    argv0: str
    argument: str  # the script, for `python X.py`
    line: int
    lazy: bool
    main_only: bool


@dataclass
class SourceFacts:
    imports: list[Import] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def _catches_import_error(node: ast.Try) -> bool:
    for handler in node.handlers:
        if handler.type is None:
            return True
        types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(isinstance(t, ast.Name) and t.id in IMPORT_ERRORS for t in types):
            return True
    return False


def _leading_texts(node: ast.expr, strings: dict[str, list[str]]) -> list[str]:
    """The literal starts a command may have: a string's, an f-string's, a variable's."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        text = ""
        for part in node.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                text += part.value
            else:
                return [text + "\0"]  # a placeholder ends what is known
        return [text]
    if isinstance(node, ast.List | ast.Tuple) and node.elts:
        words = []
        for element in node.elts[:2]:
            texts = _leading_texts(element, strings)
            if len(texts) != 1 or "\0" in texts[0]:
                break
            words.append(shlex.quote(texts[0]))
        return [" ".join(words)] if words else []
    if isinstance(node, ast.Name):
        # every string the variable was given in this scope, on any branch
        return strings.get(node.id, [])
    return []


def _command(text: str, line: int, lazy: bool, main_only: bool) -> Command | None:
    known = text.split("\0", 1)[0]
    try:
        words = shlex.split(known)
    except ValueError:
        words = known.split()
    if not words:
        return None
    argv0 = Path(words[0]).name
    argument = ""
    if argv0 in PYTHON_COMMANDS and len(words) > 1 and words[1].endswith(".py"):
        argument = words[1]
    return Command(argv0, argument, line, lazy, main_only)


class _Visitor(ast.NodeVisitor):
    def __init__(self) -> None:
        self.facts = SourceFacts()
        self._function_depth = 0
        self._main_depth = 0
        self._optional_depth = 0
        self._strings: list[dict[str, list[str]]] = [{}]

    def _context(self) -> tuple[bool, bool, bool]:
        return self._function_depth > 0, self._main_depth > 0, self._optional_depth > 0

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self._function_depth += 1
        self._strings.append({})
        self.generic_visit(node)
        self._strings.pop()
        self._function_depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        if _is_main_guard(node.test):
            self.visit(node.test)
            self._main_depth += 1
            for statement in node.body:
                self.visit(statement)
            self._main_depth -= 1
            for statement in node.orelse:
                self.visit(statement)
        else:
            self.generic_visit(node)

    def visit_Try(self, node: ast.Try) -> None:
        optional = _catches_import_error(node)
        self._optional_depth += optional
        for statement in node.body:
            self.visit(statement)
        self._optional_depth -= optional
        for part in (*node.handlers, *node.orelse, *node.finalbody):
            self.visit(part)

    def visit_Import(self, node: ast.Import) -> None:
        lazy, main_only, optional = self._context()
        for alias in node.names:
            self.facts.imports.append(
                Import(alias.name, (), node.lineno, lazy, main_only, optional)
            )

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        lazy, main_only, optional = self._context()
        module = "." * node.level + (node.module or "")
        names = tuple(alias.name for alias in node.names)
        self.facts.imports.append(Import(module, names, node.lineno, lazy, main_only, optional))

    def visit_Assign(self, node: ast.Assign) -> None:
        texts = _leading_texts(node.value, self._strings[-1])
        for target in node.targets:
            if isinstance(target, ast.Name) and texts:
                self._strings[-1].setdefault(target.id, []).extend(texts)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and (func.value.id, func.attr) in COMMAND_RUNNERS
            and node.args
        ):
            lazy, main_only, _ = self._context()
            for text in _leading_texts(node.args[0], self._strings[-1]):
                command = _command(text, node.lineno, lazy, main_only)
                if command is not None:
                    self.facts.commands.append(command)
        self.generic_visit(node)


def read_source(path: Path) -> SourceFacts:
    """The imports and external commands of one Python file."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as error:
        raise ContractError(f"cannot parse {path}: {error}") from error
    visitor = _Visitor()
    visitor.visit(tree)
    return visitor.facts


# --- following the imports ----------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """How one entry point reaches a name: at start-up or lazily, and from where."""

    entry: str
    lazy: bool
    optional: bool
    file: str


@dataclass
class Reach:
    third_party: dict[str, list[Use]] = field(default_factory=lambda: defaultdict(list))
    commands: dict[str, list[Use]] = field(default_factory=lambda: defaultdict(list))
    gaps: dict[tuple[str, str], list[Use]] = field(default_factory=lambda: defaultdict(list))
    stdlib: dict[str, list[Use]] = field(default_factory=lambda: defaultdict(list))
    files: set[Path] = field(default_factory=set)


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
        if path not in self._facts:
            self._facts[path] = read_source(path)
        return self._facts[path]

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def search_path(self, script: Path) -> list[Path]:
        """sys.path of `python SCRIPT` run from the app folder: the script's folder first."""
        return [script.parent, *(self.root / p for p in self.pythonpath)]

    @staticmethod
    def _module_file(base: Path, parts: list[str]) -> Path | None:
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


def _is_stdlib(top: str) -> bool:
    return top in sys.stdlib_module_names or top == "__future__"


def follow(app: App, entry: EntryPoint) -> Reach:
    """Everything one entry point reaches, through imports and `python X.py` commands."""
    reach = Reach()
    script = app.root / entry.script
    if not script.is_file():
        raise ContractError(f"entry point {entry.name}: {entry.script} is not a file of the app")
    # (file, sys.path of its process, lazily reached)
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


# --- the installed environment --------------------------------------------------------------


def _inferred_top_levels(dist: metadata.Distribution) -> set[str]:
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
        found: set[str] = set()
        todo = list(roots)
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo.extend(self.requires(name))
        return found

    def files(self, name: str) -> list[Path]:
        dist = self.dists[name]
        paths = []
        for file in dist.files or []:
            path = Path(dist.locate_file(file)).resolve()
            if path.is_file():
                paths.append(path)
        return sorted(set(paths))


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

    @classmethod
    def read(cls, core: Path, preprocessing: Path, base: Path, system: Path) -> Catalog:
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
            )
        except KeyError as error:
            raise ContractError(f"{base} or {system} lacks the table or key {error}") from None

    def source(self, distribution: str) -> str:
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
    if not path.is_file():
        raise ContractError(f"data file {path} does not exist")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ContractError(f"{path} is not valid TOML: {error}") from None


# --- shared objects ---------------------------------------------------------------------------

DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH = 1, 14, 15, 29
SHT_DYNAMIC = 6


@dataclass(frozen=True)
class Dynamic:
    needed: tuple[str, ...]
    soname: str
    rpaths: tuple[str, ...]  # RPATH and RUNPATH entries, as written


def read_dynamic(path: Path) -> Dynamic | None:
    """The dynamic section of a 64-bit little-endian ELF file; None for anything else."""
    with path.open("rb") as file:
        head = file.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            return None
        (shoff,) = struct.unpack_from("<Q", head, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", head, 0x3A)
        if shoff == 0 or shnum == 0:
            return None
        file.seek(shoff)
        table = file.read(shentsize * shnum)
        sections = [struct.unpack_from("<IIQQQQIIQQ", table, i * shentsize) for i in range(shnum)]
        for section in sections:
            if section[1] != SHT_DYNAMIC:
                continue
            offset, size, link = section[4], section[5], section[6]
            strtab = sections[link]
            file.seek(strtab[4])
            strings = file.read(strtab[5])
            file.seek(offset)
            data = file.read(size)
            needed, soname, rpaths = [], "", []
            for i in range(0, len(data) - 15, 16):
                tag, value = struct.unpack_from("<qQ", data, i)
                if tag == 0:
                    break
                if tag in (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH):
                    text = strings[value : strings.index(b"\0", value)].decode()
                    if tag == DT_NEEDED:
                        needed.append(text)
                    elif tag == DT_SONAME:
                        soname = text
                    else:
                        rpaths.extend(text.split(":"))
            return Dynamic(tuple(needed), soname, tuple(rpaths))
    return None


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


# --- the contract -------------------------------------------------------------------------------


def _entries(uses: list[Use]) -> dict[str, str]:
    """entry point -> top-level when any way reaches the name at start-up, else lazy."""
    kinds: dict[str, str] = {}
    for use in uses:
        kind = LAZY if use.lazy else TOP_LEVEL
        if kinds.get(use.entry) != TOP_LEVEL:
            kinds[use.entry] = kind
    return dict(sorted(kinds.items()))


def _files(uses: list[Use]) -> list[str]:
    return sorted({use.file for use in uses})


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
        found = follow(app, entry)
        for target, source in (
            (reach.third_party, found.third_party),
            (reach.commands, found.commands),
            (reach.gaps, found.gaps),
            (reach.stdlib, found.stdlib),
        ):
            for key, uses in source.items():
                target[key].extend(uses)
        reach.files |= found.files
    part_of = {entry.name: entry.part for entry in entries}
    unresolved: list[str] = []

    core_closure = env.closure(catalog.core)
    pre_closure = env.closure(catalog.preprocessing) - core_closure
    dist_parts = {name: CORE for name in core_closure if name not in catalog.base}
    dist_parts.update({n: PREPROCESSING for n in pre_closure if n not in catalog.base})

    modules = {}
    for top, uses in sorted(reach.third_party.items()):
        providers = env.modules.get(top, [])
        known = providers or top in catalog.built or top in catalog.base_modules
        if not known and top in app.local_names:
            # not installed, and the app has a file of that name elsewhere: a local module
            # the import cannot find
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
        core_use = any(part_of[e] == CORE for e in entry_kinds)
        if source == "missing" and not record["optional"]:
            unresolved.append(f"module {top}: no requirement file or base provides it")
        elif core_use and source == PREPROCESSING and not record["optional"]:
            unresolved.append(f"module {top}: reached by train/render, pinned only in {source}")

    stdlib = {}
    for top, sonames in sorted(catalog.stdlib_sonames.items()):
        if top in reach.stdlib:
            uses = reach.stdlib[top]
            stdlib[top] = {
                "sonames": sorted(sonames),
                "entry_points": _entries(uses),
                "imported_by": _files(uses),
            }

    sonames, unmapped = system_needs(env, catalog, dist_parts)
    unresolved.extend(unmapped)
    for top, record in stdlib.items():
        core_use = any(part_of[e] == CORE for e in record["entry_points"])
        for soname in record["sonames"]:
            entry = sonames.setdefault(
                soname,
                {
                    "apt_package": catalog.soname_packages.get(soname),
                    "list": "preprocessing",
                    "loaded": IMPORT,
                    "skipped": None,
                    "needed_by": [],
                    "objects": [],
                },
            )
            entry["needed_by"] = sorted({*entry["needed_by"], f"stdlib:{top}"})
            if core_use:
                entry["list"] = "runtime"
            if entry["apt_package"] is None:
                unresolved.append(f"soname {soname} (needed by stdlib {top})")

    commands = {}
    for name, uses in sorted(reach.commands.items()):
        entry_kinds = _entries(uses)
        package = catalog.command_packages.get(name)
        if package is None:
            unresolved.append(f"command {name}: no package in system-packages.toml [commands]")
        core_use = any(part_of[e] == CORE for e in entry_kinds)
        commands[name] = {
            "apt_package": package,
            "link": catalog.command_links.get(name),
            "list": "runtime" if core_use else "preprocessing",
            "entry_points": entry_kinds,
            "run_by": _files(uses),
        }

    gaps = []
    for (kind, name), uses in sorted(reach.gaps.items()):
        gaps.append(
            {"kind": kind, "name": name, "entry_points": _entries(uses), "where": _files(uses)}
        )

    def installed(top: str) -> bool:
        return top in env.modules or top in catalog.built or top in catalog.base_modules

    for name, files in sorted(unreached_gaps(app, reach.files, installed).items()):
        gaps.append(
            {"kind": "module", "name": name, "entry_points": {}, "where": sorted(set(files))}
        )
    for path, command in readme_gaps(app, readme):
        gaps.append({"kind": "readme-path", "name": path, "entry_points": {}, "where": [command]})

    requirements = {}
    for part, pins in ((CORE, catalog.core), (PREPROCESSING, catalog.preprocessing)):
        for name, specifier in sorted(pins.items()):
            requirements[name] = {
                "file": part,
                "pin": specifier,
                "modules": sorted(m for m, r in modules.items() if r["distribution"] == name),
            }

    contract = {
        "app": {"repository": APP_URL, "commit": commit},
        "generated_by": "tools/app_contract.py",
        "entry_points": {
            e.name: {"part": e.part, "script": e.script, "pythonpath": list(app.pythonpath)}
            for e in sorted(entries, key=lambda e: e.name)
        },
        "modules": modules,
        "requirements": requirements,
        "stdlib_needs": stdlib,
        "sonames": dict(sorted(sonames.items())),
        "commands": commands,
        "upstream_gaps": gaps,
    }
    return contract, sorted(set(unresolved))


# --- command line --------------------------------------------------------------------------------


def _entry(text: str) -> EntryPoint:
    match = re.fullmatch(r"([\w-]+)=(core|preprocessing):(\S+\.py)", text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"invalid entry point {text!r}: write NAME=PART:SCRIPT, PART being core or "
            "preprocessing, SCRIPT a .py path inside the app (train=core:train.py)"
        )
    return EntryPoint(*match.groups())


def _commit(app: Path) -> str:
    result = subprocess.run(
        ["git", "-C", str(app), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ContractError(f"{app} is not a git checkout: pass the app's commit with --commit")
    return result.stdout.strip()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
