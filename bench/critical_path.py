"""Benchmark: the critical path of a cold build, today's chain against the plan's graph.

    python bench/critical_path.py

Reads the builders' plans offline (no engine), finds their installs and compiles and what
each waits for, and puts on each step the time measured for it (docs/performance.md):
the Python installs on a 2-core machine from PyPI with an empty cache, the compiles on an
H200 host (16 cores, 8.6), alone and side by side. Before the compiles were branched,
every step ran one after the other; the plan's graph runs a step as soon as what it waits
for is done, so its length is the longest path. The base images' pulls and the apt steps
come before all of these in both and are left out (not measured); so is the assembly of
the images. pytorch3d's times are lower bounds: v0.7.5 fails to compile with CUDA 13, so
it was timed up to its failure at 53-56 of 67 steps.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import table  # noqa: E402

from egstalker import Egstalker  # noqa: E402
from tests import plan  # noqa: E402  (the one reader of the SDK's lazy objects)

# Seconds, measured (docs/performance.md, "A cold build's critical path").
INSTALLS = {  # training and rendering ("core"), then preprocessing on top, nothing cached
    "pip": {"core": 111.9, "preprocessing": 89.9},  # the faster of pip's runs
    "uv": {"core": 49.2, "preprocessing": 40.0},
}
COMPILES = {  # one at a time with the whole host, or all three at once, each its share
    "alone": {"simple_knn": 65.1, "diff_gaussian_rasterization": 67.7, "pytorch3d": 126.8},
    "side by side": {
        "simple_knn": 67.2,
        "diff_gaussian_rasterization": 72.5,
        "pytorch3d": 141.4,
    },
}
BUILD_EXTENSION = "build_extension.py"


def step(args: list[str]) -> str | None:
    """The measured step an exec is, if any: an install of a set, or a compile."""
    for index, arg in enumerate(args):
        if arg.endswith(BUILD_EXTENSION):
            return args[index + 1]
    if "install" not in args[:3] or args[:1] not in (["pip"], ["uv"]):
        return None
    preprocessing = any("requirements-preprocessing" in arg for arg in args)
    return "preprocessing" if preprocessing else "core"


def lazy_arguments(call: plan.Call) -> Iterator[Any]:
    def walk(value: Any) -> Iterator[Any]:
        if plan.is_lazy(value):
            yield value
        elif isinstance(value, list | tuple):
            for v in value:
                yield from walk(v)

    for value in call.args.values():
        yield from walk(value)


def dependencies(obj: Any, graph: dict[str, set[str]]) -> set[str]:
    """Record in ``graph`` what each step of ``obj``'s plan waits for; its steps."""
    before: set[str] = set()
    for call in plan.calls(obj):
        for inner in lazy_arguments(call):
            before |= dependencies(inner, graph)
        if call.name == "withExec" and (name := step(call.args["args"])) is not None:
            graph.setdefault(name, set()).update(before - {name})
            before.add(name)
    return before


def longest(graph: dict[str, set[str]], seconds: dict[str, float]) -> tuple[float, list[str]]:
    """The length of the graph's longest path, and its steps."""
    finish: dict[str, tuple[float, list[str]]] = {}

    def done(name: str) -> tuple[float, list[str]]:
        if name not in finish:
            start, path = max((done(d) for d in graph[name]), default=(0.0, []))
            finish[name] = (start + seconds[name], [*path, name])
        return finish[name]

    return max(done(name) for name in graph)


def durations(installer: str, compiles: str) -> dict[str, float]:
    return {**INSTALLS[installer], **COMPILES[compiles]}


async def builders() -> dict[str, list[Any]]:
    images = (await Egstalker.create())._images()  # the default options
    return {
        "runtime image (multistage)": [images.builder("multistage")],
        "single-stage image": [images.builder("single-stage")],
        "both images": [images.builder("multistage"), images.builder("single-stage")],
    }


def main() -> None:
    print(__doc__.splitlines()[0], flush=True)
    rows = [["builds", "chain, pip", "graph, pip", "graph, uv", "graph, uv / chain, pip"]]
    paths = []
    for label, containers in asyncio.run(builders()).items():
        graph: dict[str, set[str]] = {}
        for ctr in containers:
            dependencies(ctr, graph)
        chain = sum(durations("pip", "alone")[name] for name in graph)
        with_pip, _ = longest(graph, durations("pip", "side by side"))
        with_uv, path = longest(graph, durations("uv", "side by side"))
        rows.append(
            [label, f"{chain:.0f} s", f"{with_pip:.0f} s", f"{with_uv:.0f} s",
             f"{with_uv / chain:.2f}x"]
        )  # fmt: skip
        paths.append(f"{label}: {' -> '.join(path)}")
    print(table(rows))
    print("\ncritical path of the graph (uv):")
    print("\n".join(paths))


if __name__ == "__main__":
    main()
