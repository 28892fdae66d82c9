"""The tests' view of a lazy Dagger object's plan, read offline through ``tools/plan.py``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tools.plan import Call, calls, is_lazy

__all__ = ["Call", "calls", "env", "execs", "is_lazy", "named", "render", "strings"]


def render(obj: Any) -> tuple:
    """The whole plan as plain nested tuples, nested Dagger objects expanded, for comparing."""

    def plain(value: Any) -> Any:
        if is_lazy(value):
            return render(value)
        if isinstance(value, list | tuple):
            return tuple(plain(v) for v in value)
        return value

    return tuple(
        (c.type_name, c.name, tuple(sorted((k, plain(v)) for k, v in c.args.items())))
        for c in calls(obj)
    )


def named(obj: Any, name: str) -> list[Call]:
    return [c for c in calls(obj) if c.name == name]


def execs(obj: Any) -> list[list[str]]:
    """The argument lists of every withExec in the chain, in order."""
    return [c.args["args"] for c in named(obj, "withExec")]


def env(obj: Any) -> dict[str, str]:
    """Environment variables the chain sets, the last setting winning."""
    return {c.args["name"]: c.args["value"] for c in named(obj, "withEnvVariable")}


def strings(obj: Any, skip: tuple[type, ...] = ()) -> Iterator[str]:
    """Every string argument anywhere in the plan, nested objects (but ``skip``'s) included."""

    def walk(value: Any) -> Iterator[str]:
        if isinstance(value, skip):
            return
        if is_lazy(value):
            yield from strings(value, skip)
        elif isinstance(value, str):
            yield value
        elif isinstance(value, list | tuple):
            for v in value:
                yield from walk(v)

    for c in calls(obj):
        for v in c.args.values():
            yield from walk(v)


def nested(obj: Any) -> Iterator[Any]:
    """Every Dagger object that the plan of ``obj`` takes as an argument, at any depth."""

    def walk(value: Any) -> Iterator[Any]:
        if is_lazy(value):
            yield value
            yield from nested(value)
        elif isinstance(value, list | tuple):
            for v in value:
                yield from walk(v)

    for c in calls(obj):
        for v in c.args.values():
            yield from walk(v)


def all_execs(obj: Any) -> list[list[str]]:
    """The withExec argument lists of ``obj`` and of every object its plan takes."""
    return [*execs(obj), *(args for inner in nested(obj) for args in execs(inner))]
