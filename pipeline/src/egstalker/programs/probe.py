"""Probe an EGSTalker image: imports, the build manifest, and real kernels on the GPU.

    python probe.py --mode gpu   # CUDA must be available; kernels of both extensions run
    python probe.py --mode cpu   # everything that needs no GPU; the GPU part is skipped

Before any kernel runs, the GPU's compute capability is compared with the architectures
in the build manifest: code built for sm_86 does not run on a 9.0 GPU, and there the
kernels fail with misleading errors ("out of memory", absurd allocations), so an
uncovered GPU is reported as such and no kernel is launched. Prints a JSON report and
exits 1 when any check failed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
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


def sm(capability: str) -> str:
    return "sm_" + capability.replace(".", "")


def _major_minor(capability: str) -> tuple[int, int]:
    major, minor = capability.split(".")
    return int(major), int(minor)


def runs_on(sass: list[str], ptx: list[str], gpu: str) -> bool:
    """Whether a library's code runs on a GPU of capability ``gpu`` (e.g. '9.0').

    Machine code for X.Y runs on X.Z with Z >= Y (same major only); PTX for X.Y is
    compiled by the driver for any GPU of capability X.Y or newer.
    """
    g_major, g_minor = _major_minor(gpu)
    for cap in sass:
        major, minor = _major_minor(cap)
        if major == g_major and minor <= g_minor:
            return True
    return any(_major_minor(cap) <= (g_major, g_minor) for cap in ptx)


def uncovered_libraries(manifest: dict[str, Any], gpu: str) -> list[str]:
    """The manifest's libraries whose code cannot run on this GPU, as 'package/library'."""
    return [
        f"{package}/{library}"
        for package, entry in manifest["extensions"].items()
        for library, targets in entry["libraries"].items()
        if not runs_on(targets["sass"], targets["ptx"], gpu)
    ]


def coverage_message(manifest: dict[str, Any], gpu: str, gpu_name: str) -> str | None:
    """None when every library runs on the GPU; else the reason and the fix."""
    missing = uncovered_libraries(manifest, gpu)
    if not missing:
        return None
    built = ", ".join(sm(c) for c in manifest["arch_list"].replace("+PTX", "").split(";"))
    return (
        f"built for {built}; this GPU ({gpu_name}) is {sm(gpu)}: rebuild with --arch {gpu} "
        f'(or add it: --arch "{manifest["arch_list"]};{gpu}"). '
        f"Not runnable here: {', '.join(missing)}"
    )


def check_imports(modules: tuple[str, ...]) -> Callable[[], str]:
    def check() -> str:
        for module in modules:
            importlib.import_module(module)
        return "imported " + ", ".join(modules)

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
        return f"{sm(gpu)} is covered by {manifest['arch_list']}"

    if not report.run("architecture", coverage):
        report.skip("kernels", "not launched: the extensions have no code for this GPU")
        return
    report.run("simple_knn kernel", knn_kernel)
    report.run("rasterizer kernels", rasterizer_kernels)


def probe(mode: str, manifest_path: Path, app_dir: Path | None) -> Report:
    report = Report(mode)
    torch_imported = report.run("torch", check_imports(("torch",)))
    report.run("extensions", check_imports(EXTENSIONS))
    if app_dir is None:
        report.skip("app", "not checked (--no-app)")
    else:
        sys.path[:0] = [str(app_dir), str(app_dir / "scene" / "KAN")]
        report.run("app", check_imports(APP_MODULES))
    manifest: dict[str, Any] | None = None

    def read_manifest() -> str:
        nonlocal manifest
        manifest = load_manifest(manifest_path)
        return f"arch list {manifest['arch_list']}, extensions {', '.join(manifest['extensions'])}"

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
    args = parser.parse_args(argv)
    report = probe(args.mode, args.manifest, None if args.no_app else args.app_dir)
    print(report.as_json())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
