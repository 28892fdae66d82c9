"""Probe an EGSTalker image: imports, the build manifest, and real kernels on the GPU.

    python probe.py --mode gpu   # CUDA must be available; kernels of both extensions run
    python probe.py --mode cpu   # everything that needs no GPU; the GPU part is skipped
    python probe.py --mode cpu --app-command "train.py --help" --app-command "render.py --help"

Besides imports it checks the Python environment (``pip check``, and readable metadata for
every installed distribution) and, with ``--app-command``, runs the app's entry points from
the app folder with downloads blocked, so a missing module or a download at import time is
found before a user hits it.

Before any kernel runs, the GPU's compute capability is compared with the architectures
in the build manifest: code built for sm_86 does not run on a 9.0 GPU, and there the
kernels fail with misleading errors ("out of memory", absurd allocations), so an
uncovered GPU is reported as such and no kernel is launched. Prints a JSON report and
exits 1 when any check failed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# torch and the extensions are imported inside the checks, so that a missing one is a
# finding of the report rather than a crash of the probe.
DEFAULT_MANIFEST = Path("/opt/egstalker/manifest.json")
DEFAULT_APP_DIR = Path("/workspace/egstalker")
EXTENSIONS = ("diff_gaussian_rasterization", "simple_knn._C")
APP_MODULES = ("ikan", "arguments", "scene", "gaussian_renderer", "utils.loss_utils")
DEFAULT_COMMAND_TIMEOUT = 300.0
PIP_CHECK_TIMEOUT = 300.0
# Where downloads are sent while the app's commands run: a local port nothing listens on
# (discard), so any download fails at once instead of fetching or hanging.
CLOSED_PROXY = "http://127.0.0.1:9"
PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)
# The line a traceback ends with: "urllib.error.URLError: <urlopen error ...>".
_EXCEPTION_LINE = re.compile(r"(?:[A-Za-z_][\w.]*\.)?([A-Za-z_]\w*)(?::.*)?")
IMPORT_ERRORS = frozenset({"ModuleNotFoundError", "ImportError"})
DOWNLOAD_ERRORS = frozenset(
    {
        "URLError",
        "HTTPError",
        "ProxyError",
        "ConnectionError",
        "ConnectionRefusedError",
        "MaxRetryError",
        "NewConnectionError",
        "OfflineModeIsEnabled",
        "LocalEntryNotFoundError",
    }
)
_DOWNLOAD_TEXT = re.compile(
    r"Connection refused|127\.0\.0\.1:9\b|offline mode|couldn't connect|Unable to connect to proxy",
    re.IGNORECASE,
)
_SEPARATORS = re.compile(r"[;,\s]+")
_CAPABILITY = re.compile(r"(\d+)\.(\d+)([af]?)")


class CheckFailed(Exception):
    """A check's own verdict, with the reason to show the user."""


@dataclass
class Report:
    mode: str
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c["status"] != "failed" for c in self.checks)

    def run(self, name: str, check: Callable[[], str]) -> bool:
        try:
            detail = check()
        except CheckFailed as err:
            self.checks.append({"name": name, "status": "failed", "detail": str(err)})
            return False
        except Exception as err:
            detail = f"{type(err).__name__}: {err}".strip()
            last = traceback.format_exc(limit=-1).strip().splitlines()[-1]
            self.checks.append({"name": name, "status": "failed", "detail": detail, "at": last})
            return False
        self.checks.append({"name": name, "status": "passed", "detail": detail})
        return True

    def skip(self, name: str, reason: str) -> None:
        self.checks.append({"name": name, "status": "skipped", "detail": reason})

    def as_json(self) -> str:
        return json.dumps({"ok": self.ok, **asdict(self)}, indent=2)


def arch_entries(arch_list: str) -> list[str]:
    """The entries of an architecture list, split like torch's builder: on ';', ',' or spaces."""
    return [e for e in _SEPARATORS.split(arch_list.strip()) if e]


def normal_arch_list(arch_list: str) -> str:
    """'8.6 8.9' and '8.6,8.9' read as '8.6;8.9'."""
    return ";".join(arch_entries(arch_list))


def sm(capability: str) -> str:
    return "sm_" + capability.replace(".", "")


def compute(capability: str) -> str:
    return "compute_" + capability.replace(".", "")


def _parse(capability: str) -> tuple[int, int, str]:
    """'9.0a' -> (9, 0, 'a'): major, minor and the suffix ('' plain, 'a' arch-specific, 'f'
    family)."""
    match = _CAPABILITY.fullmatch(capability)
    if match is None:
        raise ValueError(
            f"invalid compute capability {capability!r}: write X.Y, X.Ya or X.Yf, like 8.6 or 9.0a"
        )
    return int(match[1]), int(match[2]), match[3]


def _sass_runs(target: str, gpu: tuple[int, int]) -> bool:
    """sm_XY (and family sm_XYf) runs on X.Z with Z >= Y; sm_XYa only on exactly X.Y."""
    major, minor, suffix = _parse(target)
    if suffix == "a":
        return (major, minor) == gpu
    return major == gpu[0] and minor <= gpu[1]


def _ptx_runs(target: str, gpu: tuple[int, int]) -> bool:
    """compute_XY is compiled by the driver for any X.Y or newer GPU; compute_XYf only within
    the family (same major); compute_XYa only for exactly X.Y."""
    major, minor, suffix = _parse(target)
    if suffix == "a":
        return (major, minor) == gpu
    if suffix == "f":
        return major == gpu[0] and minor <= gpu[1]
    return (major, minor) <= gpu


def runs_on(sass: list[str], ptx: list[str], gpu: str) -> bool:
    """Whether a library's code runs on a GPU of capability ``gpu`` (e.g. '9.0').

    Machine code for X.Y runs on X.Z with Z >= Y (same major only); PTX for X.Y is
    compiled by the driver for any GPU of capability X.Y or newer. Arch-specific code
    (sm_90a, compute_90a) runs only on exactly that capability.
    """
    g_major, g_minor, _ = _parse(gpu)
    here = (g_major, g_minor)
    return any(_sass_runs(t, here) for t in sass) or any(_ptx_runs(t, here) for t in ptx)


def uncovered_libraries(manifest: dict[str, Any], gpu: str) -> list[str]:
    """The manifest's libraries whose code cannot run on this GPU, as 'package/library'."""
    return [
        f"{package}/{library}"
        for package, entry in manifest["extensions"].items()
        for library, targets in entry["libraries"].items()
        if not runs_on(targets["sass"], targets["ptx"], gpu)
    ]


def describe_arch_list(arch_list: str) -> str:
    """'8.6;8.9+PTX' -> 'sm_86, sm_89 and PTX compute_89'."""
    entries = arch_entries(arch_list)
    built = ", ".join(sm(e.removesuffix("+PTX")) for e in entries)
    ptx = ", ".join(compute(e.removesuffix("+PTX")) for e in entries if e.endswith("+PTX"))
    return f"{built} and PTX {ptx}" if ptx else built


def coverage_message(manifest: dict[str, Any], gpu: str, gpu_name: str) -> str | None:
    """None when every library runs on the GPU; else the reason and the fix."""
    missing = uncovered_libraries(manifest, gpu)
    if not missing:
        return None
    arch_list = normal_arch_list(manifest["arch_list"])
    return (
        f"built for {describe_arch_list(arch_list)}; this GPU ({gpu_name}) is {sm(gpu)}: "
        f'rebuild with --arch {gpu} (or add it: --arch "{arch_list};{gpu}"). '
        f"Not runnable here: {', '.join(missing)}"
    )


def check_imports(modules: tuple[str, ...]) -> Callable[[], str]:
    def check() -> str:
        for module in modules:
            importlib.import_module(module)
        return "imported " + ", ".join(modules)

    return check


def _distribution_path(dist: importlib.metadata.Distribution) -> str:
    path = getattr(dist, "_path", None)  # the .dist-info/.egg-info folder of a PathDistribution
    return str(path if path is not None else dist.locate_file(""))


def _metadata_field(dist: importlib.metadata.Distribution, key: str) -> str | None:
    try:
        value = dist.metadata[key]
    except KeyError:  # newer Pythons raise where older ones return None
        return None
    return value or None


def metadata_problems(path: list[str] | None = None) -> list[str]:
    """Installed distributions whose metadata cannot be read, or that sit twice in one folder.

    An empty ``tqdm-4.65.0.dist-info`` folder (what removing the files of a replaced package
    but not its folder leaves) makes ``importlib.metadata.version('tqdm')`` return None and
    breaks every package that checks tqdm's version at import (transformers raises
    ValueError). ``path`` defaults to ``sys.path``.
    """
    problems = []
    seen: dict[tuple[str, str], str] = {}
    found = (
        importlib.metadata.distributions(path=path) if path else importlib.metadata.distributions()
    )
    for dist in found:
        where = _distribution_path(dist)
        name, version = _metadata_field(dist, "Name"), _metadata_field(dist, "Version")
        if name is None or version is None:
            missing = " and ".join(
                k for k, v in (("name", name), ("version", version)) if v is None
            )
            problems.append(
                f"{where} has no readable {missing} (an empty or partial metadata folder: "
                "remove it, or reinstall the package)"
            )
            continue
        key = (str(Path(where).parent), re.sub(r"[-_.]+", "-", name).lower())
        if seen.get(key, where) != where:  # a folder twice on sys.path is not a second copy
            problems.append(f"{name} is installed twice in {key[0]}: {seen[key]} and {where}")
        seen[key] = where
    return sorted(problems)


def pip_check() -> str | None:
    """None when ``pip check`` finds nothing; else what it printed."""
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "check"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=PIP_CHECK_TIMEOUT,
    )
    if result.returncode == 0:
        return None
    output = (result.stdout + result.stderr).strip() or "no output"
    return f"pip check exited with {result.returncode}: {output}"


def environment() -> str:
    """``pip check`` passes and every installed distribution has readable metadata."""
    problems = metadata_problems()
    if failed := pip_check():
        problems.insert(0, failed)
    if problems:
        raise CheckFailed("\n".join(problems))
    count = sum(1 for _ in importlib.metadata.distributions())
    return f"pip check: no broken requirements; {count} distributions with readable metadata"


def blocked_environment(app_dir: Path) -> dict[str, str]:
    """This environment with every download sent to a closed port, and the app importable."""
    env = dict(os.environ)
    env.update(dict.fromkeys(PROXY_VARIABLES, CLOSED_PROXY))
    env.update(NO_PROXY="", no_proxy="", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    app_paths = [str(app_dir), str(app_dir / "scene" / "KAN")]
    env["PYTHONPATH"] = os.pathsep.join([*app_paths, *filter(None, [env.get("PYTHONPATH")])])
    return env


def failure_reason(output: str) -> str:
    """The import error or download attempt a failed command's output ends with, else its tail."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        match = _EXCEPTION_LINE.fullmatch(line)
        if match is None or not match[1].endswith(("Error", "Exception", "Enabled")):
            continue
        if match[1] in IMPORT_ERRORS:
            return line
        if match[1] in DOWNLOAD_ERRORS or _DOWNLOAD_TEXT.search(line):
            return f"it tried to download, and downloads are blocked: {line}"
    return "\n".join(lines[-5:]) if lines else "no output"


def run_app_command(command: str, app_dir: Path, timeout: float) -> str | None:
    """Run ``python COMMAND`` in the app folder with downloads blocked; None when it exits 0."""
    return run_blocked([sys.executable, *shlex.split(command)], command, app_dir, timeout)


def run_tool_command(command: str, app_dir: Path, timeout: float) -> str | None:
    """Run a command the app calls (``ffmpeg -version``) as it would; None when it exits 0."""
    argv = shlex.split(command)
    if shutil.which(argv[0]) is None:
        return f"`{command}`: {argv[0]} is not on PATH"
    return run_blocked(argv, command, app_dir, timeout)


def run_blocked(argv: list[str], command: str, app_dir: Path, timeout: float) -> str | None:
    """Run ``argv`` in the app folder with downloads blocked; None when it exits 0."""
    process = subprocess.Popen(
        argv,
        cwd=app_dir,
        env=blocked_environment(app_dir),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, killed whole on a timeout
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):  # it may have ended meanwhile
            os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        last = (stderr or stdout).strip().splitlines()[-1:]
        tail = f"; its last output: {last[0].strip()}" if last else ""
        return f"`{command}` did not finish within {timeout:g} s and was killed{tail}"
    if process.returncode == 0:
        return None
    if process.returncode < 0:
        try:
            exited = f"was killed by {signal.Signals(-process.returncode).name}"
        except ValueError:
            exited = f"was killed by signal {-process.returncode}"
    else:
        exited = f"exited with {process.returncode}"
    return f"`{command}` {exited}: {failure_reason(stderr or stdout)}"


def check_app_commands(
    commands: list[str],
    app_dir: Path,
    timeout: float,
    run: Callable[[str, Path, float], str | None] = run_app_command,
) -> Callable[[], str]:
    def check() -> str:
        if not app_dir.is_dir():
            raise CheckFailed(f"the app folder {app_dir} does not exist")
        failures = [f for c in commands if (f := run(c, app_dir, timeout))]
        if failures:
            raise CheckFailed("\n".join(failures))
        return f"exited 0 in {app_dir} with downloads blocked: " + ", ".join(commands)

    return check


def load_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise CheckFailed(f"no readable build manifest at {path}: {err}") from err
    if not manifest.get("extensions"):
        raise CheckFailed(f"the build manifest {path} lists no extensions")
    return manifest


def finite(name: str, tensor: Any, shape: tuple[int, ...]) -> None:
    import torch

    if tuple(tensor.shape) != shape:
        raise CheckFailed(f"{name} has shape {tuple(tensor.shape)}, expected {shape}")
    if not bool(torch.isfinite(tensor).all()):
        raise CheckFailed(f"{name} holds NaN or infinite values")


def knn_kernel() -> str:
    import torch
    from simple_knn._C import distCUDA2

    points = torch.rand(1024, 3, device="cuda")
    distances = distCUDA2(points)
    torch.cuda.synchronize()
    finite("distCUDA2(points)", distances, (1024,))
    if not bool((distances > 0).all()):
        raise CheckFailed("distCUDA2 returned non-positive distances for distinct points")
    return f"distCUDA2 on 1024 points: mean {distances.mean().item():.3g}"


def projection_matrix(znear: float, zfar: float, fov: float) -> Any:
    """3DGS's perspective projection (row-major, before its transpose)."""
    import torch

    half = math.tan(fov / 2) * znear
    p = torch.zeros(4, 4)
    p[0, 0] = p[1, 1] = znear / half
    p[3, 2] = 1.0
    p[2, 2] = zfar / (zfar - znear)
    p[2, 3] = -(zfar * znear) / (zfar - znear)
    return p


def rasterizer_kernels() -> str:
    import torch
    from diff_gaussian_rasterization import (
        GaussianRasterizationSettings,
        GaussianRasterizer,
    )

    size, count, fov = 64, 32, math.radians(60)
    settings = GaussianRasterizationSettings(
        image_height=size,
        image_width=size,
        tanfovx=math.tan(fov / 2),
        tanfovy=math.tan(fov / 2),
        bg=torch.zeros(3, device="cuda"),
        scale_modifier=1.0,
        viewmatrix=torch.eye(4, device="cuda"),
        projmatrix=projection_matrix(0.01, 100.0, fov).T.contiguous().cuda(),
        sh_degree=0,
        campos=torch.zeros(3, device="cuda"),
        prefiltered=False,
        debug=False,
    )
    generator = torch.Generator().manual_seed(0)
    xy = (torch.rand(count, 2, generator=generator) - 0.5) * 1.0
    z = 2.0 + torch.rand(count, 1, generator=generator)
    means3d = torch.cat([xy, z], dim=1).cuda().requires_grad_()
    means2d = torch.zeros_like(means3d, requires_grad=True)
    outputs = GaussianRasterizer(settings)(
        means3D=means3d,
        means2D=means2d,
        opacities=torch.full((count, 1), 0.8, device="cuda"),
        colors_precomp=torch.rand(count, 3, generator=generator).cuda(),
        scales=torch.full((count, 3), 0.05, device="cuda"),
        rotations=torch.tensor([[1.0, 0.0, 0.0, 0.0]], device="cuda").repeat(count, 1),
    )
    color, radii = outputs[0], outputs[1]
    torch.cuda.synchronize()
    finite("rendered image", color, (3, size, size))
    if not int((radii > 0).sum()):
        raise CheckFailed("no Gaussian was rasterized: every radius is 0")
    if not float(color.detach().sum()):
        raise CheckFailed("the rendered image is black although Gaussians are in view")
    loss = color.sum() + sum(o.sum() for o in outputs[2:] if o.is_floating_point())
    loss.backward()
    torch.cuda.synchronize()
    finite("gradient of the means", means3d.grad, (count, 3))
    if not float(means3d.grad.abs().sum()):
        raise CheckFailed("the backward pass gave all-zero gradients")
    return (
        f"forward {size}x{size} with {count} Gaussians ({int((radii > 0).sum())} visible) "
        "and backward: finite"
    )


def cuda_missing() -> str:
    raise CheckFailed(
        "CUDA is not available: torch sees no GPU. Give the container GPUs (dagger: start "
        "the engine with _EXPERIMENTAL_DAGGER_GPU_SUPPORT=1 and verify with --gpu; "
        "docker: --gpus all)"
    )


def gpu_checks(report: Report, manifest: dict[str, Any] | None) -> None:
    import torch

    if not torch.cuda.is_available():
        report.run("cuda", cuda_missing)
        return
    major, minor = torch.cuda.get_device_capability()
    gpu, name = f"{major}.{minor}", torch.cuda.get_device_name()
    report.run("cuda", lambda: f"{name}, compute capability {gpu}, CUDA {torch.version.cuda}")
    if manifest is None:
        report.skip("kernels", "not launched: no build manifest to check the GPU against")
        return

    def coverage() -> str:
        if message := coverage_message(manifest, gpu, name):
            raise CheckFailed(message)
        return f"{sm(gpu)} is covered by {normal_arch_list(manifest['arch_list'])}"

    if not report.run("architecture", coverage):
        report.skip("kernels", "not launched: the extensions have no code for this GPU")
        return
    report.run("simple_knn kernel", knn_kernel)
    report.run("rasterizer kernels", rasterizer_kernels)


def probe(
    mode: str,
    manifest_path: Path,
    app_dir: Path | None,
    app_commands: list[str] | None = None,
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
    tool_commands: list[str] | None = None,
) -> Report:
    report = Report(mode)
    torch_imported = report.run("torch", check_imports(("torch",)))
    report.run("extensions", check_imports(EXTENSIONS))
    report.run("environment", environment)
    if app_dir is None:
        report.skip("app", "not checked (--no-app)")
        report.skip("app commands", "not run (--no-app)")
    else:
        sys.path[:0] = [str(app_dir), str(app_dir / "scene" / "KAN")]
        report.run("app", check_imports(APP_MODULES))
        if app_commands:
            report.run("app commands", check_app_commands(app_commands, app_dir, command_timeout))
        else:
            report.skip("app commands", "not run: no --app-command given")
        if tool_commands:
            tools = check_app_commands(tool_commands, app_dir, command_timeout, run_tool_command)
            report.run("app tools", tools)
    manifest: dict[str, Any] | None = None

    def read_manifest() -> str:
        nonlocal manifest
        manifest = load_manifest(manifest_path)
        arch_list = normal_arch_list(manifest["arch_list"])
        return f"arch list {arch_list}, extensions {', '.join(manifest['extensions'])}"

    report.run("manifest", read_manifest)
    if mode == "cpu":
        report.skip("gpu", "skipped: CPU mode checks only what needs no GPU")
    elif not torch_imported:
        report.skip("gpu", "not checked: torch did not import")
    else:
        gpu_checks(report, manifest)
    return report


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("gpu", "cpu"), default="gpu")
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--app-dir", type=Path, default=DEFAULT_APP_DIR)
    parser.add_argument("--no-app", action="store_true", help="skip the app's imports")
    parser.add_argument(
        "--app-command",
        action="append",
        default=[],
        metavar="COMMAND",
        help='an entry point run as "python COMMAND" in the app folder with downloads blocked, '
        'e.g. "train.py --help" (repeatable)',
    )
    parser.add_argument(
        "--tool-command",
        action="append",
        default=[],
        metavar="COMMAND",
        help='a command the app runs, e.g. "ffmpeg -version", run the same way (repeatable)',
    )
    parser.add_argument(
        "--app-command-timeout",
        type=float,
        default=DEFAULT_COMMAND_TIMEOUT,
        metavar="SECONDS",
        help=f"how long each app command may run (default: {DEFAULT_COMMAND_TIMEOUT:g})",
    )
    args = parser.parse_args(argv)
    for option, commands in (
        ("--app-command", args.app_command),
        ("--tool-command", args.tool_command),
    ):
        for command in commands:
            try:
                words = shlex.split(command)
            except ValueError as err:
                parser.error(f"invalid {option} {command!r}: {err}")
            if not words:
                parser.error(f"invalid {option} {command!r}: give a command and its arguments")
    if not args.app_command_timeout > 0:
        parser.error(
            f"invalid --app-command-timeout {args.app_command_timeout:g}: give seconds above 0"
        )
    app_dir = None if args.no_app else args.app_dir
    report = probe(
        args.mode,
        args.manifest,
        app_dir,
        args.app_command,
        args.app_command_timeout,
        args.tool_command,
    )
    print(report.as_json())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
