"""Failures turned into what a user can act on: the step that failed, and the known fixes.

Pure: used by the module and the CLI on the errors the engine returns. The in-container
programs print their own hints at the end of their output (so that `dagger call`, which
shows a failed exec's output as it is, shows them too); they arrive here in the stderr tail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Final

STDERR_LINES: Final = 15

# The programs the pipeline runs in containers, and the step each one is.
STEPS: Final = {
    "apt_install.sh": "install system packages",
    "build_extension.py": "compile {0}",
    "check_archs.py": "check the compiled architectures",
    "conda_delta.py": "list or apply the builder's removals from /opt/conda",
    "probe.py": "probe the image",
    "check_runtime.py": "check the runtime image's hygiene",
    "size_breakdown.py": "measure the packages' sizes",
    "compare_bases.py": "compare the devel and runtime bases",
    "manifest.py": "record the build manifest",
    "bake_weights.py": "bake the weights the app downloads on start",
    "lock.py": "lock the Python dependencies",
}

ENGINE_HINTS: Final = (
    (
        re.compile(
            r"pull access denied|failed to resolve source metadata|401 Unauthorized|"
            r"manifest unknown|not found: manifest|no such host|i/o timeout|TLS handshake",
            re.IGNORECASE,
        ),
        "a base image could not be pulled: check --devel-image/--runtime-image, log in to "
        "a private registry (docker login), and the network",
    ),
    (
        re.compile(r"GPU support is not enabled", re.IGNORECASE),
        "start dagger with _EXPERIMENTAL_DAGGER_GPU_SUPPORT=1 (the host needs the NVIDIA "
        "driver and Container Toolkit), or verify without --gpu",
    ),
)


def describe_step(command: Sequence[str]) -> str:
    """A short name for the command a failed exec ran."""
    for position, arg in enumerate(command):
        name = PurePosixPath(arg).name
        if name in STEPS:
            return STEPS[name].format(*command[position + 1 :], "")
    if list(command[:2]) == ["pip", "install"] or list(command[:3]) == ["uv", "pip", "install"]:
        return "install the Python dependencies"
    return " ".join(command)


def engine_hints(message: str) -> list[str]:
    return [hint for pattern, hint in ENGINE_HINTS if pattern.search(message)]


def ran(command: Sequence[str], program: str) -> bool:
    """Whether a command ran this in-container program (named by its file)."""
    return any(PurePosixPath(arg).name == program for arg in command)


def exec_failure(command: Sequence[str], exit_code: int, stderr: str) -> str:
    """One message for a failed step: its name, exit code and the end of its stderr.

    The programs print their fixes last, so the tail holds them.
    """
    tail = "\n".join(stderr.strip().splitlines()[-STDERR_LINES:])
    return f"step '{describe_step(command)}' failed with exit code {exit_code}:\n{tail}".rstrip()


def query_failure(message: str) -> str:
    return "\n".join([message.strip(), *(f"hint: {h}" for h in engine_hints(message))])


class StepsFailed(Exception):
    """Several steps that ran side by side failed; ``errors`` holds each one, in order."""

    def __init__(self, errors: Sequence[Exception]) -> None:
        self.errors = list(errors)
        super().__init__("\n\n".join(describe(e) for e in self.errors))


class PublishIncomplete(Exception):
    """Some images were pushed and others not: what was pushed, beside what failed."""

    def __init__(self, pushed: Mapping[str, str], failed: Mapping[str, Exception]) -> None:
        self.pushed = dict(pushed)
        self.failed = dict(failed)
        lines = ["pushed:", *(f"  {name}: {ref}" for name, ref in self.pushed.items())]
        for name, error in self.failed.items():
            lines += [f"not pushed: {name}:", describe(error)]
        super().__init__("\n".join(lines))


def describe(error: BaseException) -> str:
    """What a user reads for a failure: a failed step's name, exit code, stderr and hints."""
    import dagger  # here, not on import: the CLI's commands that need no engine stay fast

    if isinstance(error, dagger.ExecError):
        return exec_failure(error.command, error.exit_code, error.stderr)
    if isinstance(error, dagger.QueryError):
        return query_failure(str(error))
    return str(error)
