"""The Dagger module: EGSTalker's devel builder, single-stage and multi-stage images."""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from typing import Annotated, Self

import dagger
from dagger import Doc, Ignore, dag

from egstalker import pins, steps
from egstalker.archs import AUTO, DEFAULT_ARCH_LIST
from egstalker.baseimages import BASE_IMAGES, BaseImage, digest_of, render
from egstalker.concurrency import run_all
from egstalker.engine_facts import engine_gpus, has
from egstalker.failures import PublishIncomplete, StepsFailed, ran
from egstalker.images import Images
from egstalker.module import Module
from egstalker.options import (
    APP_SHAPE,
    check_app_entries,
    check_app_shape,
    checked_settings,
    described_entries,
)
from egstalker.registry import check_credentials, publish_refs, registry_host
from egstalker.report import (
    UNPACKED_SIZE_COMMAND,
    ImageReport,
    parse_du,
    render_json,
    render_text,
)
from egstalker.sources import git_tree
from egstalker.verification import (
    VARIANTS,
    check_variant,
    hygiene_verdict,
    verdict,
)

LOCAL_REVISION = "local"
# The SDK's module builder, with `dagger call`'s messages for our expected failures.
mod = Module()
check, field, function, object_type = mod.check, mod.field, mod.function, mod.object_type


@object_type
class Egstalker:
    """Builds EGSTalker's GPU images: a devel builder, a single-stage and a multi-stage image."""

    arch_list: Annotated[str, Doc("TORCH_CUDA_ARCH_LIST the extensions are compiled for")] = field()
    max_jobs: Annotated[int | None, Doc("Parallel compile jobs; unset: the builder chooses")] = (
        field()
    )
    devel_image: Annotated[str, Doc("Base image of the builder and single-stage image")] = field()
    runtime_image: Annotated[str, Doc("Base image of the multi-stage image")] = field()
    rasterizer_commit: Annotated[str, Doc("Commit of diff_gaussian_rasterization")] = field()
    simple_knn_commit: Annotated[str, Doc("Commit of simple_knn")] = field()
    pytorch3d: Annotated[bool, Doc("Whether the preprocessing images get pytorch3d")] = field()
    non_root: Annotated[bool, Doc("Whether the runtime image runs as a user of its own")] = field()
    preprocessing: Annotated[
        str, Doc("Which images carry preprocessing: single-stage, all or none")
    ] = field()
    bake_weights: Annotated[bool, Doc("Whether the app's start-up downloads are baked in")] = (
        field()
    )
    base_mismatch: Annotated[
        str, Doc("When the bases' environments differ: copy the builder's, or fail")
    ] = field()
    source: Annotated[dagger.Directory, Doc("EGSTalker's source tree")] = field()
    source_revision: Annotated[str, Doc("The app's commit, or 'local' for a given tree")] = field()
    detected_gpus: Annotated[str, Doc("What --arch auto found on the engine (JSON), or empty")] = (
        field()
    )

    @classmethod
    async def create(
        cls,
        source: Annotated[
            dagger.Directory | None,
            Ignore(list(pins.APP_EXCLUDE)),
            Doc("EGSTalker checkout to build; default: the public repository at the pinned commit"),
        ] = None,
        arch: Annotated[
            str,
            Doc(
                "CUDA architectures ('8.6', '8.0;8.6', '8.6+PTX'), GPU names ('a10', "
                "'a100,a10', 'h100'), the preset 'portable', or 'auto': the GPUs of the "
                "engine that runs the build (needs its GPU support)"
            ),
        ] = DEFAULT_ARCH_LIST,
        max_jobs: Annotated[
            int | None,
            Doc("Parallel compile jobs; default: chosen in the builder from its cores and memory"),
        ] = None,
        devel_image: Annotated[
            str, Doc("Base image with CUDA's compiler, for the builder")
        ] = pins.DEVEL_IMAGE,
        runtime_image: Annotated[
            str, Doc("Base image without compilers, for the multi-stage image")
        ] = pins.RUNTIME_IMAGE,
        rasterizer_commit: Annotated[
            str, Doc("diff_gaussian_rasterization commit (custom-bg-depth fork)")
        ] = pins.RASTERIZER.commit,
        simple_knn_commit: Annotated[str, Doc("simple_knn commit")] = pins.SIMPLE_KNN.commit,
        pytorch3d: Annotated[
            bool, Doc("Compile pytorch3d into the images that preprocess (face tracking)")
        ] = True,
        non_root: Annotated[
            bool,
            Doc("Run the runtime image as user 'egstalker' (uid 1000), app and caches writable"),
        ] = True,
        preprocessing: Annotated[
            str,
            Doc(
                "Images that get preprocessing's dependencies (tensorflow, face-alignment, "
                "pytorch3d, ffmpeg; about 1.5 GB): single-stage, all or none"
            ),
        ] = pins.DEFAULT_PREPROCESSING,
        bake_weights: Annotated[
            bool,
            Doc("Bake the weights the app downloads on start (VGG16, ...) so it starts offline"),
        ] = True,
        base_mismatch: Annotated[
            str,
            Doc(
                "If the devel and runtime bases' conda environments differ: 'copy' (the "
                "runtime image takes the builder's whole /opt/conda) or 'fail'"
            ),
        ] = pins.DEFAULT_BASE_MISMATCH,
    ) -> Self:
        """Set the build options; each is checked before any container is built."""
        settings = checked_settings(
            arch=arch,
            max_jobs=max_jobs,
            devel_image=devel_image,
            runtime_image=runtime_image,
            rasterizer_commit=rasterizer_commit,
            simple_knn_commit=simple_knn_commit,
            pytorch3d=pytorch3d,
            non_root=non_root,
            preprocessing=preprocessing,
            bake_weights=bake_weights,
            base_mismatch=base_mismatch,
        )
        detected = ""
        if settings["arch_list"] == AUTO:
            found = await engine_gpus(str(settings["runtime_image"]))
            settings["arch_list"], detected = found.arch_list, found.record()
        if source is None:
            source, revision = git_tree(pins.APP), pins.APP.commit
        else:
            entries = await source.entries()
            check_app_entries(entries)
            check_app_shape(
                [name for name, kind in APP_SHAPE.items() if not await has(source, name, kind)],
                described_entries(entries),
            )
            revision = LOCAL_REVISION
        return cls(source=source, source_revision=revision, detected_gpus=detected, **settings)

    def _images(self) -> Images:
        """The recipes of every image, for these options."""
        return Images(
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(Images)},
        )

    @function
    def builder(self) -> dagger.Container:
        """The devel builder of the single-stage image: dependencies, compiled extensions, no app.

        Nothing here reads the app's source, so editing it recompiles nothing.
        """
        return self._images().builder("single-stage")

    @function
    def build_single_stage(self) -> dagger.Container:
        """The builder with the app in place: big, keeps the compilers for development."""
        return self._images().single_stage()

    @function
    def build_multistage(self) -> dagger.Container:
        """The runtime image: runtime base, the builder's conda environment, the app.

        No compilers. It takes only what the builder changed in /opt/conda (its removals,
        then its additions), after checking that both bases hold the same environment.
        """
        return self._images().multistage()

    @function(cache="never")
    async def verify(
        self,
        variant: Annotated[str, Doc("Image to verify: single-stage or multistage")] = "multistage",
        gpu: Annotated[
            bool,
            Doc("Attach the engine's GPUs and launch the extensions' kernels (needs GPU support)"),
        ] = False,
    ) -> str:
        """Run the in-image probe: imports, the build manifest and, with --gpu, real kernels.

        Never cached: each call runs the probe again. Returns the probe's JSON report and
        fails with the reason of every failed check. The multistage image is also checked
        for compilers and build leftovers.
        """
        variant = check_variant(variant)
        if variant == "multistage":
            await self._runtime_hygiene()
        return await self._probe(variant, gpu=gpu, fresh=True)

    @function(cache="never")
    async def verify_all(
        self,
        gpu: Annotated[bool, Doc("Attach the engine's GPUs and launch kernels")] = False,
    ) -> str:
        """Verify both images concurrently; returns both reports, fails naming every failure.

        Never cached. One image's failure does not stop the other's verification.
        """
        reports = await run_all(
            {variant: functools.partial(self.verify, variant, gpu) for variant in VARIANTS}
        )
        return json.dumps({v: json.loads(r) for v, r in reports.items()}, indent=2)

    @check
    @function
    async def probe_without_gpu(self) -> None:
        """Check: both images import the app and extensions and carry a valid manifest (no GPU)."""
        for variant in VARIANTS:
            await self._probe(variant, gpu=False, fresh=False)

    @check
    @function
    async def runtime_hygiene(self) -> None:
        """Check: the multistage image has no compiler on PATH and no build leftovers."""
        await self._runtime_hygiene()

    @function(cache="never")
    async def report(self) -> dagger.Directory:
        """Build both images and report their sizes and build times (report.txt, report.json).

        Each image's size unpacked (its files, as `docker images` counts them) and exported
        (the gzipped OCI tarball). Never cached: each call measures anew.
        """
        images = await self._measure()
        return (
            dag.directory()
            .with_new_file("report.txt", render_text(images))
            .with_new_file("report.json", render_json(images))
        )

    @function(cache="never")
    async def export_all(self) -> dagger.Directory:
        """Both images as OCI tarballs (egstalker-<variant>.tar) with the report beside them.

        Never cached, as the report it holds measures this run.
        """
        exported = dag.directory().with_directory(".", await self.report())
        for variant in VARIANTS:
            exported = exported.with_file(
                f"egstalker-{variant}.tar", self._images().image(variant).as_tarball()
            )
        return exported

    @function(cache="never")
    async def publish(
        self,
        address: Annotated[str, Doc("Repository to push to, without tag: ghcr.io/me/egstalker")],
        tag: Annotated[
            str, Doc("Tag of the runtime image; the single-stage image gets TAG-single-stage")
        ] = "latest",
        username: Annotated[str | None, Doc("Registry user; with --password")] = None,
        password: Annotated[
            dagger.Secret | None, Doc("Registry password or token, e.g. env:REGISTRY_TOKEN")
        ] = None,
    ) -> str:
        """Push both images and return their references with digests, one a line.

        Never cached: each call pushes. A failed push does not stop the other one, and a
        partial failure names what was pushed, with its digest, beside what failed.
        """
        refs = publish_refs(address, tag)
        check_credentials(username, password is not None)
        pushed: dict[str, str] = {}

        async def push(variant: str) -> None:
            image = self._publishable(variant, address, username, password)
            pushed[variant] = await image.publish(refs[variant])

        try:
            await run_all({variant: functools.partial(push, variant) for variant in VARIANTS})
        except Exception as error:
            if not pushed:
                raise
            failed = [v for v in VARIANTS if v not in pushed]
            errors = error.errors if isinstance(error, StepsFailed) else [error]
            raise PublishIncomplete(pushed, dict(zip(failed, errors, strict=True))) from None
        return "\n".join(f"{variant}: {pushed[variant]}" for variant in VARIANTS)

    def _publishable(
        self, variant: str, address: str, username: str | None, password: dagger.Secret | None
    ) -> dagger.Container:
        """The image with the registry's credentials attached: the secret only by reference."""
        image = self._images().image(variant)
        if username and password is not None:
            image = image.with_registry_auth(registry_host(address), username, password)
        return image

    @function(cache="never")
    def lock(self) -> dagger.Directory:
        """Resolve the requirements in the devel base and lock them with hashes (make lock).

        Two locks: requirements.lock, and requirements-preprocessing.lock with what
        preprocessing adds. Export them to pipeline/src/egstalker/data; the builders then
        install exactly those files, hash-checked. Never cached: the package index moves.
        """
        return steps.requirements_locks(self._images().devel_base())

    @function(cache="never")
    async def pin_bases(self) -> dagger.File:
        """The base images' tags with their current digests: base-images.toml (make pin-bases).

        Never cached: a tag moves when its image is rebuilt.
        """
        pinned = {}
        for role, image in BASE_IMAGES.items():
            resolved = await dag.container().from_(image.tag).image_ref()
            pinned[role] = BaseImage(image.tag, digest_of(resolved))
        return (
            dag.directory()
            .with_new_file("base-images.toml", render(pinned))
            .file("base-images.toml")
        )

    async def _measure(self) -> list[ImageReport]:
        images = self._images()

        async def one(variant: str) -> ImageReport:
            started = time.monotonic()
            image = images.image(variant)
            measured = image.with_user("root").with_exec(list(UNPACKED_SIZE_COMMAND))
            unpacked = parse_du(await measured.stdout())
            built = time.monotonic() - started
            return ImageReport(
                variant=variant,
                unpacked_bytes=unpacked,
                export_bytes=await image.as_tarball().size(),
                build_seconds=built,
                arch_list=self.arch_list,
                base_image=images.base_image(variant),
            )

        measured = await run_all({v: functools.partial(one, v) for v in VARIANTS})
        return list(measured.values())

    async def _probe(self, variant: str, gpu: bool, fresh: bool) -> str:
        """The probe's verdict; a probe killed by a signal (which the engine raises) too."""
        probed = self._images().probed(variant, gpu, fresh)
        try:
            code, out, err = await probed.exit_code(), await probed.stdout(), await probed.stderr()
        except dagger.ExecError as failed:
            if not ran(failed.command, "probe.py"):
                raise  # a build step before the probe keeps its own name and hint
            code, out, err = failed.exit_code, failed.stdout, failed.stderr
        return verdict(variant, code, out, err)

    async def _runtime_hygiene(self) -> None:
        try:
            await self._images().hygiene_checked().sync()
        except dagger.ExecError as err:
            if (failed := hygiene_verdict(err.command, err.stdout)) is None:
                raise
            raise failed from None

    @function
    async def size_breakdown(self) -> str:
        """What each package and compiled extension adds to the runtime image, largest first.

        With --preprocessing all, the runtime image's preprocessing packages show too.
        """
        images = self._images()
        return await (
            images.runtime_base()
            .with_mounted_directory("/delta", images.conda_changes())
            .with_(steps.with_program("size_breakdown.py"))
            .with_exec(["python", steps.program_path("size_breakdown.py"), "/delta"])
            .stdout()
        )
