"""Reading one Python file of the app with ``ast``: its imports and the commands it runs."""

from __future__ import annotations

import ast
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ContractError

# (module, function) calls whose first argument is a command line
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
# exceptions whose handler makes the imports of its try optional
IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


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
    """What one file imports and runs."""

    imports: list[Import] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)


def _is_main_guard(test: ast.expr) -> bool:
    """Whether an ``if`` tests ``__name__ == "__main__"``."""
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def _catches_import_error(node: ast.Try) -> bool:
    """Whether a handler of the ``try`` catches a failed import."""
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
    """The command a (known start of a) command line runs; None when nothing is known."""
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
    """Collects imports and commands with their context: function, main block, try."""

    def __init__(self) -> None:
        self.facts = SourceFacts()
        self._function_depth = 0
        self._main_depth = 0
        self._optional_depth = 0
        self._strings: list[dict[str, list[str]]] = [{}]

    def _context(self) -> tuple[bool, bool, bool]:
        """(lazy, main_only, optional) of the statement being visited."""
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
