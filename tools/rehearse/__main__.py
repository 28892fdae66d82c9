"""Rehearse one image: build its root filesystem here from the module's plan, run the probe.

    python -m tools.rehearse --variant multistage --python PYTHON3.10 [--preprocessing all]
        [--arch 8.6] [--no-pytorch3d] [--cache DIR] [--work DIR] [--git URL=PATH ...] [--keep]

Needs root (mounts, chroot, namespaces), mmdebstrap, and a CPython 3.10 to stand for the
bases' conda Python. It exits 0 when the image's probe passes (and, for the runtime
image, the hygiene check), 1 when a step or a check fails (naming it), 2 on a bad option.
The cache (``--cache``, default ``$XDG_CACHE_HOME/egstalker-rehearse``) keeps the base
stand-ins, Debian packages, wheels (the plan's uv cache volume), git trees, the compiler cache
and the stand-in weights; ``--work`` holds the layers of this run, removed at the end
unless ``--keep``, and each step's command and output (``logs/``), which stay.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anyio

from egstalker import steps
from egstalker.errors import InvalidOption
from egstalker.images import Images
from egstalker.main import Egstalker
from egstalker.verification import VARIANTS, VerificationFailed, hygiene_verdict, verdict
from tools.rehearse.layers import private_mount_namespace
from tools.rehearse.replay import Hooks, RehearsalError, Replayer
from tools.rehearse.sources import GitTrees
from tools.rehearse.standins import STANDINS, BaseStandins, Python
from tools.rehearse.weights import StandinWeights

HOST_TOOLS = ("mmdebstrap", "unshare", "mount", "git", "tar", "ldd")
# What build steps need to reach the network through the host's own settings (a proxy,
# a TLS-inspecting one's certificates); never given to the probe, which runs cut off.
PASSED_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
HOST_CERTIFICATES = "/etc/ssl/certs/ca-certificates.crt"


def _git_source(text: str) -> tuple[str, Path]:
    url, sep, path = text.partition("=")
    if not sep or not Path(path).exists():
        raise argparse.ArgumentTypeError(f"invalid --git {text!r}: write URL=PATH to a local clone")
    return url, Path(path)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.rehearse", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--variant", choices=VARIANTS, default="multistage")
    parser.add_argument(
        "--python", type=Path, required=True, help="a CPython 3.10 to stand for the bases' Python"
    )
    parser.add_argument("--preprocessing", default=None, help="the module's --preprocessing")
    parser.add_argument("--arch", default=None, help="the module's --arch")
    parser.add_argument(
        "--no-pytorch3d", action="store_true", help="the module's --pytorch3d=false"
    )
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "egstalker-rehearse"
    parser.add_argument("--cache", type=Path, default=cache)
    parser.add_argument("--work", type=Path, default=Path("build/rehearse"))
    parser.add_argument(
        "--git",
        type=_git_source,
        action="append",
        default=[],
        help="URL=PATH: take URL's commits from a local clone",
    )
    parser.add_argument(
        "--cuda-toolchain", type=Path, default=Path(__file__).parents[1] / "cuda_toolchain.py"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder's layers")
    return parser.parse_args(argv)


WORK_MARK = ".egstalker-rehearsal"


def check_folders(args: argparse.Namespace) -> None:
    """The work folder is emptied: only an empty one or an earlier rehearsal's is taken."""
    work = args.work
    if work.exists() and not work.is_dir():
        raise RehearsalError(f"--work {work}: not a folder")
    if work.is_dir() and any(work.iterdir()) and not (work / WORK_MARK).is_file():
        raise RehearsalError(
            f"--work {work}: holds files of its own; give an empty folder, a new one or an "
            "earlier rehearsal's (it is emptied)"
        )
    if args.cache.exists() and not args.cache.is_dir():
        raise RehearsalError(f"--cache {args.cache}: not a folder")


def check_host() -> None:
    if os.geteuid() != 0:
        raise RehearsalError("a rehearsal mounts, chroots and makes namespaces: run it as root")
    missing = [tool for tool in HOST_TOOLS if shutil.which(tool) is None]
    if missing:
        raise RehearsalError(
            f"missing on this host: {', '.join(missing)} (Debian and Ubuntu: apt-get install "
            "mmdebstrap util-linux mount git tar libc-bin)"
        )


def debian_names(args: list[str]) -> list[str]:
    """The plan's apt step with standins.toml's bookworm names for its jammy packages."""
    if args[:2] != ["sh", steps.program_path("apt_install.sh")]:
        return args
    renames = STANDINS["apt"]["renames"]
    return [*args[:2], *(renames.get(package, package) for package in args[2:])]


def network_hooks(cache: Path) -> tuple[tuple[tuple[str, str, bool], ...], dict[str, str]]:
    """What build steps get besides the plan: the host's way out, and a Debian package cache."""
    env = {name: os.environ[name] for name in PASSED_VARIABLES if name in os.environ}
    debs = cache / "debs"
    (debs / "partial").mkdir(parents=True, exist_ok=True)
    binds: tuple[tuple[str, str, bool], ...] = ((str(debs), "/var/cache/apt/archives", False),)
    if Path(HOST_CERTIFICATES).is_file():
        binds += ((HOST_CERTIFICATES, HOST_CERTIFICATES, True),)
        env |= {"PIP_CERT": HOST_CERTIFICATES, "SSL_CERT_FILE": HOST_CERTIFICATES}
    return binds, env


async def plan(args: argparse.Namespace) -> Images:
    """The recipes of every image for the module's options, checked as the module checks them."""
    options: dict[str, object] = {"pytorch3d": not args.no_pytorch3d}
    if args.preprocessing is not None:
        options["preprocessing"] = args.preprocessing
    if args.arch is not None:
        options["arch"] = args.arch
    return (await Egstalker.create(**options))._images()


def rehearse(
    args: argparse.Namespace, python: Python, images: Images, log: Callable[[str], None]
) -> str:
    args.cache.mkdir(parents=True, exist_ok=True)
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / WORK_MARK).touch()  # kept with the steps' logs: the next run may empty it
    standins = BaseStandins(args.cache, python, args.cuda_toolchain, log)
    sources = GitTrees(args.cache, dict(args.git), log)
    weights = StandinWeights()
    binds, env = network_hooks(args.cache)
    hooks = Hooks(
        base=standins.base,
        git_tree=sources.tree,
        new_file=weights.new_file,
        exec_args=debian_names,
        network_binds=binds,
        network_env=env,
    )
    replayer = Replayer(work, args.cache / "volumes", hooks, log)
    standins.replayer = replayer
    started = time.monotonic()
    try:
        weights.prepare(replayer)
        log(f"image: {args.variant}, as the plan builds it")
        replayer.container(images.image(args.variant))
        if args.variant == "multistage":
            log("check: runtime hygiene, as verify runs it")
            try:
                replayer.container(images.hygiene_checked())
            except RehearsalError as failed:
                if failed.result is not None and (
                    verdict_error := hygiene_verdict(failed.result.args, failed.result.stdout)
                ):
                    raise verdict_error from None
                raise
        log("check: the probe, as verify runs it, cut off from the network")
        replayer.offline = True
        result = replayer.container(images.probed(args.variant, gpu=False, fresh=True)).result
        assert result is not None
        return verdict(args.variant, result.exit_code, result.stdout, result.stderr)
    finally:
        log("")
        log("stand-ins:")
        for line in [*standins.describe(), weights.describe(), *sources.notes]:
            log(f"  - {line}")
        log("slowest steps:")
        for label, seconds in sorted(replayer.steps, key=lambda s: -s[1])[:8]:
            log(f"  {seconds:7.1f} s  {label[:110]}")
        log(f"rehearsal of {args.variant}: {time.monotonic() - started:.0f} s")
        if not args.keep:
            replayer.cleanup()


def main(argv: list[str]) -> int:
    try:
        args = parse_args(argv)
        check_folders(args)
        images = anyio.run(plan, args)
        python = Python.of(args.python)
        check_host()
    except (RehearsalError, InvalidOption) as error:
        print(f"rehearse: {error}", file=sys.stderr)
        return 2
    private_mount_namespace()  # the layers' mounts end with the rehearsal

    def log(line: str) -> None:
        print(line, flush=True)

    try:
        report = rehearse(args, python, images, log)
    except (RehearsalError, VerificationFailed) as error:
        print(f"rehearse: FAILED: {error}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as error:
        print(
            f"rehearse: FAILED: {' '.join(map(str, error.cmd))}: exit {error.returncode}",
            file=sys.stderr,
        )
        return 1
    print(report)
    print(f"rehearse: {args.variant} passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
