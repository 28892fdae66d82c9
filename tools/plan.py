"""Reads the plan of a lazy Dagger object offline: the one place that touches SDK internals.

Pinned to dagger-io 0.21.11, whose objects keep their query chain in ``_ctx.selections``:
each selection has ``type_name``, ``name`` (GraphQL name, e.g. ``withExec``) and ``args``.
The tests read plans through ``tests/plan.py``, the rehearsal replays them
(``tools/rehearse``); both come here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Call:
    type_name: str
    name: str
    args: dict[str, Any]


def calls(obj: Any) -> list[Call]:
    """The chain of calls that builds ``obj``, root first."""
    return [Call(s.type_name, s.name, dict(s.args)) for s in obj._ctx.selections]


def is_lazy(value: Any) -> bool:
    return hasattr(value, "_ctx")
