"""Whether this host can reach a Dagger engine, decided as the Dagger CLI decides it.

Used by the CLI's ``doctor`` and before each engine command, so that a missing engine is one
clear line instead of a traceback. The order follows Dagger 0.21's own: a running ``dagger
run`` session (the SDK's DAGGER_SESSION_PORT), a Dagger Cloud engine (DAGGER_CLOUD_ENGINE),
an engine named by _EXPERIMENTAL_DAGGER_RUNNER_HOST, else the engine image started with the
first container runtime found among docker, Apple's ``container``, podman, finch and nerdctl.
Every check runs the real host command. No ``dag`` here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from egstalker.pins import DAGGER_VERSION

# An estimate, not a measurement (README: Prerequisites): both bases compressed and
# unpacked, the builder's layers and caches, the engine and an exported tarball.
DISK_NEEDED: Final = 50 * 1000**3
GPU_SUPPORT_VARIABLE: Final = "_EXPERIMENTAL_DAGGER_GPU_SUPPORT"
RUNNER_HOST_VARIABLE: Final = "_EXPERIMENTAL_DAGGER_RUNNER_HOST"
CLI_BIN_VARIABLE: Final = "_EXPERIMENTAL_DAGGER_CLI_BIN"
ENGINE_IMAGE: Final = f"registry.dagger.io/engine:v{DAGGER_VERSION}"
INSTALL_DAGGER: Final = (
    f"install the Dagger CLI {DAGGER_VERSION} (https://docs.dagger.io/install, "
    f"with DAGGER_VERSION={DAGGER_VERSION})"
)


@dataclass(frozen=True)
class Runtime:
    """A container runtime the Dagger CLI can start its engine with."""

    name: str  # as in a runner host's scheme, e.g. image+podman://
    command: str
    answers: tuple[str, ...]  # what the CLI runs to see whether its daemon answers


# In the CLI's order (engine/client/drivers/container.go); the availability commands are
# those of drivers/docker.go and drivers/apple.go.
RUNTIMES: Final = (
    Runtime("docker", "docker", ("version",)),
    Runtime("apple", "container", ("system", "status")),
    Runtime("podman", "podman", ("version",)),
    Runtime("finch", "finch", ("version",)),
    Runtime("nerdctl", "nerdctl", ("version",)),
)
# Runner-host schemes that reach an engine running elsewhere (drivers/dial.go, cloud.go).
REMOTE_SCHEMES: Final = ("tcp", "unix", "ssh", "kube-pod", "tls", "dagger-cloud")
# Schemes the CLI dials through a local command, which runs `buildctl dial-stdio` where the
# engine is (internal/buildkit/client/connhelper/ssh/ssh.go, kubepod/kubepod.go).
DIAL_COMMANDS: Final = {
    "ssh": (
        "ssh",
        "it runs `ssh HOST buildctl dial-stdio`, so the remote host also needs `buildctl` on "
        "its PATH and the engine's socket; the `ssh -L` + tcp:// recipe needs neither "
        "(docs/remote-engines.md)",
    ),
    "kube-pod": (
        "kubectl",
        "it runs `kubectl exec -i POD -- buildctl dial-stdio` with your kubeconfig, which "
        "must allow pods/exec in the engine's namespace",
    ),
}
# Schemes that start (image) or reuse (container) an engine container through a runtime.
RUNTIME_SCHEMES: Final = ("image", "container")
LEGACY_DOCKER_SCHEMES: Final = ("docker-image", "docker-container")


@dataclass(frozen=True)
class Finding:
    """One doctor line: what was checked, whether it is fine, and what to do if not."""

    name: str
    ok: bool
    detail: str
    required: bool = True


def _run(args: Sequence[str]) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(args, capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def check_runtimes(runtimes: Sequence[Runtime], target: str) -> Finding:
    """The first runtime found decides, as in the CLI: a found one whose daemon is down stops."""
    for runtime in runtimes:
        if shutil.which(runtime.command) is None:
            continue
        command = [runtime.command, *runtime.answers]
        result = _run(command)
        if result is None or result.returncode != 0:
            reason = _first_line((result.stderr or result.stdout) if result else "") or "no answer"
            return Finding(
                "engine",
                False,
                f"{runtime.command} is installed but `{' '.join(command)}` failed ({reason}): "
                f"start its daemon (e.g. systemctl start {runtime.command}); the Dagger CLI "
                "uses the first runtime it finds",
            )
        return Finding("engine", True, f"{target}, started with {runtime.command}")
    names = ", ".join(r.command for r in runtimes)
    return Finding(
        "engine",
        False,
        f"no container runtime to start the engine ({names} not found): install Docker, or "
        f"point {RUNNER_HOST_VARIABLE} at a running engine (README: Build on a bigger machine)",
    )


def check_runner_host(value: str) -> Finding:
    """An engine named by _EXPERIMENTAL_DAGGER_RUNNER_HOST."""
    scheme = value.partition("://")[0]
    base, _, runtime = scheme.partition("+")
    if scheme in DIAL_COMMANDS:
        command, how = DIAL_COMMANDS[scheme]
        if shutil.which(command) is None:
            return Finding(
                "engine", False, f"{RUNNER_HOST_VARIABLE}={value}: {command} not found: {how}"
            )
        return Finding("engine", True, f"the engine at {value} ({RUNNER_HOST_VARIABLE}); {how}")
    if scheme in REMOTE_SCHEMES:
        return Finding("engine", True, f"the engine at {value} ({RUNNER_HOST_VARIABLE})")
    if scheme in LEGACY_DOCKER_SCHEMES:
        return check_runtimes(RUNTIMES[:1], f"the engine {value}")
    if base in RUNTIME_SCHEMES:
        chosen = [r for r in RUNTIMES if not runtime or r.name == runtime]
        if chosen:
            return check_runtimes(chosen, f"the engine {value}")
    schemes = [*REMOTE_SCHEMES, *RUNTIME_SCHEMES]
    return Finding(
        "engine",
        False,
        f"{RUNNER_HOST_VARIABLE}={value!r}: the Dagger CLI has no driver for it; use one of "
        + ", ".join(f"{s}://" for s in schemes),
    )


def check_engine(environ: Mapping[str, str] | None = None) -> Finding:
    """How an engine will be reached from here, in the Dagger CLI's and SDK's order."""
    env = os.environ if environ is None else environ
    if port := env.get("DAGGER_SESSION_PORT"):
        if not env.get("DAGGER_SESSION_TOKEN"):
            return Finding(
                "engine",
                False,
                "DAGGER_SESSION_PORT is set without DAGGER_SESSION_TOKEN: run inside "
                "`dagger run`, or unset DAGGER_SESSION_PORT",
            )
        return Finding("engine", True, f"the `dagger run` session on port {port}")
    if "DAGGER_CLOUD_ENGINE" in env:
        return Finding(
            "engine",
            True,
            "a Dagger Cloud engine (DAGGER_CLOUD_ENGINE; needs `dagger login` or "
            "DAGGER_CLOUD_TOKEN)",
        )
    if runner := env.get(RUNNER_HOST_VARIABLE):
        return check_runner_host(runner)
    return check_runtimes(RUNTIMES, f"the engine image {engine_image(env)}")


def engine_image(environ: Mapping[str, str] | None = None) -> str:
    """The image the CLI starts: the ``-gpu`` one when GPU support is set to anything.

    cmd/dagger/engine.go (engineVersion) tests the variable for non-empty only.
    """
    env = os.environ if environ is None else environ
    return f"{ENGINE_IMAGE}-gpu" if env.get(GPU_SUPPORT_VARIABLE) else ENGINE_IMAGE


def engine_is_local(environ: dict[str, str] | None = None) -> bool:
    """Whether the engine (and so its cache and the images) lives on this host."""
    env = os.environ if environ is None else environ
    if env.get("DAGGER_SESSION_PORT") or "DAGGER_CLOUD_ENGINE" in env:
        return False
    scheme = env.get(RUNNER_HOST_VARIABLE, "image://").partition("://")[0]
    return scheme not in REMOTE_SCHEMES


def parse_dagger_version(output: str) -> str | None:
    """'dagger v0.21.11 (...) linux/amd64' -> '0.21.11'."""
    match = re.search(r"\bv(\d+\.\d+\.\d+\S*)", output)
    return match[1] if match else None


def check_dagger_cli(required: bool = True) -> Finding:
    """The `dagger` on PATH, which `dagger call`, `make shell` and the publish targets run."""
    if shutil.which("dagger") is None:
        return Finding(
            "dagger",
            False,
            f"dagger not found: {INSTALL_DAGGER}; `dagger call` and the make targets that call "
            "it need it on PATH (the egstalker commands fetch their own)",
            required,
        )
    result = _run(["dagger", "version"])
    version = parse_dagger_version(result.stdout if result else "")
    if version != DAGGER_VERSION:
        return Finding(
            "dagger",
            False,
            f"dagger is {version or 'of unknown version'}: {INSTALL_DAGGER}",
            required,
        )
    return Finding("dagger", True, f"v{version}, as dagger.json asks", required)


def check_sdk_cli() -> Finding:
    """The CLI the egstalker commands use: _EXPERIMENTAL_DAGGER_CLI_BIN, else fetched."""
    if binary := os.environ.get(CLI_BIN_VARIABLE):
        if shutil.which(binary) is None:
            return Finding("sdk cli", False, f"{CLI_BIN_VARIABLE}={binary!r} is not an executable")
        return Finding("sdk cli", True, f"{binary} ({CLI_BIN_VARIABLE})", required=False)
    return Finding(
        "sdk cli",
        True,
        f"the egstalker commands fetch the Dagger CLI {DAGGER_VERSION} on first use",
        required=False,
    )


def check_gpu_toolkit() -> Finding:
    for tool in ("nvidia-ctk", "nvidia-container-runtime", "nvidia-container-cli"):
        if shutil.which(tool):
            return Finding("nvidia toolkit", True, f"{tool} found", required=False)
    return Finding(
        "nvidia toolkit",
        False,
        "NVIDIA Container Toolkit not found: install it for `verify --gpu` on an engine "
        "started here (building needs no GPU)",
        required=False,
    )


# Why the variable must be the same for every command: with and without it the CLI starts
# different engine containers and removes the other one with its cache volume
# (cmd/dagger/engine.go engineVersion; engine/client/drivers/container.go, docker.go rm -fv).
SAME_FOR_EVERY_COMMAND: Final = (
    "keep it set for every command on this host (build, verify, report), or each switch "
    "starts the other engine and removes this one's cache"
)


def check_gpu_variable() -> Finding:
    """GPU support as the CLI reads it: set to anything non-empty (``1``, ``true``)."""
    if value := os.environ.get(GPU_SUPPORT_VARIABLE):
        return Finding(
            "gpu support",
            True,
            f"{GPU_SUPPORT_VARIABLE}={value}: dagger starts {engine_image()}; "
            + SAME_FOR_EVERY_COMMAND,
            required=False,
        )
    return Finding(
        "gpu support",
        False,
        f"on a GPU host, export {GPU_SUPPORT_VARIABLE}=1 for every command (make: GPU=1), not "
        "only for `verify --gpu`: dagger then starts its GPU engine, "
        f"{ENGINE_IMAGE}-gpu, and a switch removes the other engine's cache",
        required=False,
    )


def check_disk(path: Path = Path("/"), required: bool = True) -> Finding:
    free = shutil.disk_usage(path).free
    detail = f"{free / 1000**3:.0f} GB free at {path}"
    if free < DISK_NEEDED:
        return Finding(
            "disk",
            False,
            f"{detail}: free at least {DISK_NEEDED // 1000**3} GB for the engine and the images",
            required,
        )
    return Finding("disk", True, detail, required)


def doctor() -> list[Finding]:
    """Every check; disk matters only where the engine, its cache and the images live here."""
    return [
        check_engine(),
        check_sdk_cli(),
        check_dagger_cli(required=False),
        check_gpu_toolkit(),
        check_gpu_variable(),
        check_disk(required=engine_is_local()),
    ]


def engine_problem() -> str | None:
    """Why no engine can be reached from here, or None. The SDK fetches the CLI itself."""
    engine = check_engine()
    return None if engine.ok else f"no Dagger engine can be reached: {engine.detail}"


def main(argv: Sequence[str]) -> int:
    """`python -m egstalker.hostcheck dagger-cli`: one line and exit 2 without a usable CLI."""
    if list(argv) != ["dagger-cli"]:
        print("usage: python -m egstalker.hostcheck dagger-cli", file=sys.stderr)
        return 2
    cli = check_dagger_cli()
    if not cli.ok:
        print(f"error: {cli.detail}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
