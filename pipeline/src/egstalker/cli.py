"""The local dev loop: `egstalker build|verify|report|arch|doctor|shell`.

It runs the same pipeline as `dagger call`, through dagger-io's client mode (which fetches
the pinned Dagger CLI itself). Expected problems become one line and exit code 2; a
failed build step or verification is one message and exit code 1. Never imported by
the Dagger module. The Dagger SDK takes seconds to import: only the commands that talk to
an engine import it (and what imports it: the module, its failures), when they run.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import click

from egstalker import pins
from egstalker.archs import DEFAULT_ARCH_LIST, resolve_arch_list
from egstalker.concurrency import run_all
from egstalker.errors import InvalidOption
from egstalker.failures import PublishIncomplete, StepsFailed, describe
from egstalker.hostcheck import check_dagger_cli, doctor, engine_problem
from egstalker.options import check_local_source, check_output_folder, checked_settings
from egstalker.verification import VARIANTS, VerificationFailed

if TYPE_CHECKING:
    import dagger

    from egstalker.main import Egstalker

T = TypeVar("T")


class UsageProblem(click.ClickException):
    """Something the user can fix before anything runs: exit code 2."""

    exit_code = 2


class RunFailed(click.ClickException):
    """A build step or a verification failed: exit code 1."""


class OneLineUsage:
    """Usage errors as one line: click's own show a usage header first."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)  # type: ignore[misc]
        except click.UsageError as err:
            raise UsageProblem(err.format_message()) from None


class OneLineCommand(OneLineUsage, click.Command):
    """A command whose usage errors are one line."""


class OneLineGroup(OneLineUsage, click.Group):
    """The CLI's group: one-line usage errors for itself and for every command in it."""

    command_class = OneLineCommand

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as err:
            raise UsageProblem(err.format_message()) from None


def error_kinds() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """What the user can fix before anything runs (exit 2), and what failed while running (1)."""
    import dagger

    usage = (InvalidOption, dagger.ProvisionError, dagger.ClientConnectionError)
    return usage, (dagger.QueryError, VerificationFailed, PublishIncomplete, OSError)


def leaves(error: BaseException) -> list[BaseException]:
    """Every failure inside exception groups and ``StepsFailed``, in order."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    if isinstance(error, StepsFailed):
        return [leaf for inner in error.errors for leaf in leaves(inner)]
    return [error]


def usage_message(error: BaseException) -> str:
    import dagger

    if isinstance(error, dagger.ProvisionError):
        return f"could not start the Dagger engine: {error}"
    if isinstance(error, dagger.ClientConnectionError):
        return f"could not reach the Dagger engine: {error}"
    return str(error)


def as_click_error(error: BaseException) -> click.ClickException:
    """One exception for the user: every failure it holds, each with its step and hints.

    Anything unexpected is raised as it is, traceback and all.
    """
    failures = leaves(error)
    usage_errors, run_errors = error_kinds()
    unexpected = [f for f in failures if not isinstance(f, usage_errors + run_errors)]
    if unexpected:
        raise unexpected[0]
    if all(isinstance(f, usage_errors) for f in failures):
        return UsageProblem("\n".join(usage_message(f) for f in failures))
    return RunFailed("\n\n".join(describe(f) for f in failures))


def run_pipeline(work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` against an engine, turning every expected failure into its message."""
    if problem := engine_problem():
        raise UsageProblem(problem)
    import dagger

    async def connected() -> T:
        async with dagger.connection(dagger.Config(log_output=sys.stderr)):
            return await work()

    try:
        return anyio.run(connected)
    except (Exception, BaseExceptionGroup) as error:
        raise as_click_error(error) from None


@contextlib.contextmanager
def output_folder(path: Path) -> Iterator[Path]:
    """A folder for results, removed again if it is new and a failure left it empty."""
    created = not path.exists()
    try:
        yield path
    except BaseException:
        if created and path.is_dir() and not any(path.iterdir()):
            path.rmdir()
        raise


def checked_source(source: Path | None) -> Path | None:
    """A local checkout, checked here before anything is sent to an engine."""
    try:
        return None if source is None else check_local_source(source).resolve()
    except InvalidOption as err:
        raise UsageProblem(str(err)) from None


# The module's build options, as the CLI offers them; the values are checked by
# checked_settings (and the checkout here), before any engine work.
BUILD_OPTIONS = (
    click.option(
        "--arch",
        default=DEFAULT_ARCH_LIST,
        show_default=True,
        help="CUDA architectures ('8.0;8.6', '8.6+PTX'), GPU names ('a100,a10') or 'portable'.",
    ),
    click.option(
        "--max-jobs",
        type=int,
        default=None,
        help="Parallel compile jobs [default: from the builder].",
    ),
    # A plain string: the checkout is checked by us, naming the path, before any engine work.
    click.option(
        "--source",
        type=click.Path(path_type=Path),
        default=None,
        help="Local EGSTalker checkout [default: the pinned public commit].",
    ),
    click.option(
        "--pytorch3d/--no-pytorch3d",
        default=True,
        show_default=True,
        help="Compile pytorch3d into the images that preprocess.",
    ),
    click.option(
        "--preprocessing",
        type=click.Choice(pins.PREPROCESSING_CHOICES),
        default=pins.DEFAULT_PREPROCESSING,
        show_default=True,
        help="Which images get preprocessing's dependencies.",
    ),
    click.option(
        "--bake-weights/--no-bake-weights",
        default=True,
        show_default=True,
        help="Bake the weights the app downloads on start.",
    ),
    click.option(
        "--base-mismatch",
        type=click.Choice(pins.BASE_MISMATCH_CHOICES),
        default=pins.DEFAULT_BASE_MISMATCH,
        show_default=True,
        help="If the bases' environments differ: copy the builder's, or fail.",
    ),
)


def build_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The module's build options, checked; ``command`` gets them as ``options``.

    ``options`` holds the module's option names and values, ``source`` the checked
    checkout's path (or None).
    """

    @functools.wraps(command)
    def wrapper(
        arch: str,
        max_jobs: int | None,
        source: Path | None,
        pytorch3d: bool,
        preprocessing: str,
        bake_weights: bool,
        base_mismatch: str,
        **kwargs: Any,
    ) -> Any:
        options = {
            "arch": arch,
            "max_jobs": max_jobs,
            "pytorch3d": pytorch3d,
            "preprocessing": preprocessing,
            "bake_weights": bake_weights,
            "base_mismatch": base_mismatch,
        }
        try:
            checked_settings(**options)
        except InvalidOption as err:
            raise UsageProblem(str(err)) from None
        return command(options=options, source=checked_source(source), **kwargs)

    for option in reversed(BUILD_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


def uploaded(source: Path) -> dagger.Directory:
    """A local checkout as sent to the engine: what the images never use stays here.

    The same list as the module's ``Ignore`` on its ``source`` argument (pins.APP_EXCLUDE).
    """
    from dagger import dag

    return dag.host().directory(str(source), exclude=list(pins.APP_EXCLUDE))


def pipeline_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The build options every engine command takes; ``command`` gets ``create``."""

    @build_options
    @functools.wraps(command)
    def wrapper(options: dict[str, Any], source: Path | None, **kwargs: Any) -> Any:
        async def create() -> Egstalker:
            from egstalker.main import Egstalker

            directory = uploaded(source) if source else None
            return await Egstalker.create(source=directory, **options)

        return command(create=create, **kwargs)

    return wrapper


def chosen(variant: str) -> tuple[str, ...]:
    return VARIANTS if variant == "all" else (variant,)


variant_option = click.option(
    "--variant",
    type=click.Choice([*VARIANTS, "all"]),
    default="all",
    show_default=True,
    help="Which image(s).",
)


@click.group(cls=OneLineGroup)
@click.version_option(package_name="egstalker")
def main() -> None:
    """Build, export and verify EGSTalker's GPU container images with Dagger."""


def checked_output(_ctx: click.Context, _param: click.Parameter, value: str) -> Path:
    """The output folder, checked as the options are parsed: before any engine work."""
    try:
        return check_output_folder(value)
    except InvalidOption as err:
        raise UsageProblem(str(err)) from None


def output_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--output",
        "-o",
        default="build",
        show_default=True,
        callback=checked_output,
        help=f"Directory for {what}.",
    )


@main.command()
@pipeline_options
@variant_option
@output_option("the tarballs")
def build(create: Callable[[], Awaitable[Egstalker]], variant: str, output: Path) -> None:
    """Build the images concurrently and export them as OCI tarballs.

    A failed image does not stop the other; every failure is reported.
    """

    async def work() -> None:
        egs = await create()
        images = {"single-stage": egs.build_single_stage, "multistage": egs.build_multistage}
        output.mkdir(parents=True, exist_ok=True)

        async def export(name: str) -> None:
            started = time.monotonic()
            click.echo(f"building {name} for {egs.arch_list} ...", err=True)
            path = await images[name]().export(str(output / f"egstalker-{name}.tar"))
            click.echo(f"{name}: {path} ({time.monotonic() - started:.0f} s)")

        await run_all({name: functools.partial(export, name) for name in chosen(variant)})

    with output_folder(output):
        run_pipeline(work)


@main.command()
@pipeline_options
@variant_option
@click.option("--gpu/--no-gpu", default=False, show_default=True, help="Launch kernels on the GPU.")
def verify(create: Callable[[], Awaitable[Egstalker]], variant: str, gpu: bool) -> None:
    """Verify the images: imports, manifest, hygiene and, with --gpu, real kernels."""

    async def work() -> str:
        egs = await create()
        if variant == "all":
            return await egs.verify_all(gpu)
        return await egs.verify(variant, gpu)

    click.echo(run_pipeline(work))


@main.command()
@pipeline_options
@output_option("report.txt and report.json")
def report(create: Callable[[], Awaitable[Egstalker]], output: Path) -> None:
    """Build both images and report their sizes and build times (text table and JSON)."""

    async def work() -> None:
        await (await (await create()).report()).export(str(output))

    with output_folder(output):
        run_pipeline(work)
    click.echo((output / "report.txt").read_text(), nl=False)


@main.command()
@click.argument("gpus", nargs=-1)
def arch(gpus: tuple[str, ...]) -> None:
    """Print the architecture list for GPU names, or for this machine's GPUs (nvidia-smi)."""
    try:
        value = ",".join(gpus) if gpus else ";".join(local_capabilities())
        click.echo(resolve_arch_list(value))
    except InvalidOption as err:
        raise UsageProblem(str(err)) from None


def local_capabilities() -> list[str]:
    """Compute capabilities of this machine's GPUs, as nvidia-smi reports them."""
    if shutil.which("nvidia-smi") is None:
        raise UsageProblem(
            "nvidia-smi not found (no NVIDIA driver here): name the GPUs instead, "
            "e.g. `egstalker arch a10 h100`"
        )
    result = subprocess.run(
        ["nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=False,
    )
    capabilities = sorted({line.strip() for line in result.stdout.splitlines() if line.strip()})
    if result.returncode != 0 or not capabilities:
        reason = (result.stderr or result.stdout).strip() or "no GPU listed"
        raise UsageProblem(f"nvidia-smi could not list the GPUs: {reason}")
    return capabilities


@main.command(name="doctor")
def doctor_command() -> None:
    """Check Docker, the Dagger CLI, GPU support and disk, and say what to fix."""
    findings = doctor()
    for finding in findings:
        mark = "ok" if finding.ok else ("missing" if finding.required else "optional")
        click.echo(f"{mark:>8}  {finding.name}: {finding.detail}")
    if any(not f.ok and f.required for f in findings):
        raise UsageProblem("fix the lines marked 'missing' above")


@main.command()
@build_options
def shell(options: dict[str, Any], source: Path | None) -> None:
    """Open a terminal in the builder with the app in place (needs the Dagger CLI)."""
    if not (cli := check_dagger_cli()).ok:
        raise UsageProblem(cli.detail)
    command = ["dagger", "call", *module_arguments(options, source)]
    sys.exit(subprocess.run([*command, "build-single-stage", "terminal"], check=False).returncode)


def module_arguments(options: dict[str, Any], source: Path | None) -> list[str]:
    """`dagger call`'s module options for these values: the arch, and what is not a default."""
    arguments = ["--arch", options["arch"]]
    if options["max_jobs"] is not None:
        arguments += ["--max-jobs", str(options["max_jobs"])]
    if source:
        arguments += ["--source", str(source)]
    for name, default in (
        ("pytorch3d", True),
        ("preprocessing", pins.DEFAULT_PREPROCESSING),
        ("bake_weights", True),
        ("base_mismatch", pins.DEFAULT_BASE_MISMATCH),
    ):
        value, flag = options[name], "--" + name.replace("_", "-")
        if value != default:
            arguments += [f"{flag}=false"] if value is False else [flag, value]
    return arguments
