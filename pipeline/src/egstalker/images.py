"""Every image of one set of options, as lazy Dagger chains: builders, the two images, weights.

``main.Egstalker`` holds the options and exposes thin functions; the recipes live here. Each
chain reads as a list of steps, ordered for the cache: what changes least often first.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass

import dagger
from dagger import dag

from egstalker import conda_env, pins, steps
from egstalker.assets import asset_text, optional_asset_text
from egstalker.pins import GitPin
from egstalker.sources import git_tree

BAKED = "/tmp/baked"
WEIGHTS_RECORD = "/tmp/weights-record.json"


def lock_text(requirements: pins.RequirementSet) -> str | None:
    """The committed lock of a requirement set (``make lock``), if there is one."""
    return optional_asset_text(f"data/{requirements.lock}")


@dataclass(frozen=True)
class Images:
    """The builders and images for one set of checked options."""

    arch_list: str
    max_jobs: int | None
    devel_image: str
    runtime_image: str
    rasterizer_commit: str
    simple_knn_commit: str
    pytorch3d: bool
    non_root: bool
    preprocessing: str
    bake_weights: bool
    base_mismatch: str
    source: dagger.Directory
    source_revision: str
    detected_gpus: str = ""  # --arch auto: what the engine has (DetectedGpus.record)

    # --- what each image is made of ---

    def preprocesses(self, variant: str) -> bool:
        """Whether an image carries preprocessing's dependencies (--preprocessing)."""
        return self.preprocessing == "all" or self.preprocessing == variant

    def devel_base(self) -> dagger.Container:
        return dag.container().from_(self.devel_image)

    def runtime_base(self) -> dagger.Container:
        return dag.container().from_(self.runtime_image)

    def base_image(self, variant: str) -> str:
        return self.devel_image if variant == "single-stage" else self.runtime_image

    def extensions(self) -> dict[str, tuple[GitPin, str]]:
        """The CUDA extensions every image has, with their commits."""
        return {
            pins.SIMPLE_KNN.name: (pins.SIMPLE_KNN, self.simple_knn_commit),
            pins.RASTERIZER.name: (pins.RASTERIZER, self.rasterizer_commit),
        }

    def uv(self) -> dagger.File:
        """The installer of the builders' Python dependencies (a build tool, in no image)."""
        return steps.uv_tool(self.devel_base())

    def compiles_pytorch3d(self) -> bool:
        """Whether some image of these options gets pytorch3d (it preprocesses)."""
        return self.pytorch3d and self.preprocessing != "none"

    def help_commands(self, variant: str) -> tuple[str, ...]:
        """The app's entry points ``verify`` runs in an image."""
        if self.preprocesses(variant):
            return (*pins.APP_HELP_COMMANDS, *pins.PREPROCESSING_HELP_COMMANDS)
        return pins.APP_HELP_COMMANDS

    def tool_commands(self, variant: str) -> tuple[str, ...]:
        """The commands the app runs, which ``verify`` runs too."""
        if self.preprocesses(variant):
            return (*pins.APP_TOOL_COMMANDS, *pins.PREPROCESSING_TOOL_COMMANDS)
        return pins.APP_TOOL_COMMANDS

    # --- builders ---

    def python_environment(self) -> dagger.Container:
        """The devel base with what training and rendering need: packages, no compiled code.

        System packages come first (they change least), then the Python dependencies
        (which change with the requirement files only). Nothing here reads the app's
        source or the architecture list, so changing either reinstalls nothing.
        """
        return (
            self.devel_base()
            .with_(steps.apt_install(pins.BUILD_APT_PACKAGES + pins.RUNTIME_APT_PACKAGES))
            .with_(
                steps.python_dependencies(
                    pins.CORE_REQUIREMENTS, lock_text(pins.CORE_REQUIREMENTS), self.uv()
                )
            )
        )

    def preprocessing_environment(self) -> dagger.Container:
        """The Python environment plus what only preprocessing needs; nothing compiled yet.

        It waits for no compile: the extensions are compiled beside it and brought in.
        """
        return (
            self.python_environment()
            .with_(steps.apt_install(pins.PREPROCESSING_APT_PACKAGES))
            .with_(
                steps.python_dependencies(
                    pins.PREPROCESSING_REQUIREMENTS,
                    lock_text(pins.PREPROCESSING_REQUIREMENTS),
                    self.uv(),
                )
            )
        )

    def _compile_settings(self, ctr: dagger.Container) -> dagger.Container:
        """The architecture settings and the compile programs, after the installs."""
        return ctr.with_(steps.cuda_build_settings(self.arch_list, self.max_jobs)).with_(
            steps.extension_tools
        )

    def compiled(self) -> dict[str, dagger.Directory]:
        """What each compile adds to site-packages, each in a branch of its own.

        The extensions compile from the Python environment, pytorch3d from preprocessing's:
        no compile waits for another, so Dagger runs them side by side, each sized for
        its share of the builder's memory (two shares, three when an image of these
        options gets pytorch3d). Both builders take the same results, so each is
        compiled once for a set of options.
        """
        concurrent = 3 if self.compiles_pytorch3d() else 2
        core = self._compile_settings(self.python_environment())
        compiled = {
            name: steps.compiled_extension(core, name, git_tree(pin, commit), concurrent)
            for name, (pin, commit) in self.extensions().items()
        }
        if self.pytorch3d:
            preprocessing = self._compile_settings(self.preprocessing_environment())
            source = git_tree(pins.PYTORCH3D, pins.PYTORCH3D.commit)
            compiled[pins.PYTORCH3D.name] = steps.compiled_extension(
                preprocessing, pins.PYTORCH3D.name, source, concurrent
            )
        return compiled

    def core_builder(self) -> dagger.Container:
        """The Python environment with the extensions compiled in and checked."""
        return self._with_compiled(self.python_environment(), self._commits())

    def preprocessing_builder(self) -> dagger.Container:
        """The preprocessing environment with the same extensions, and pytorch3d."""
        commits = self._commits()
        if self.pytorch3d:
            commits[pins.PYTORCH3D.name] = pins.PYTORCH3D.commit
        return self._with_compiled(self.preprocessing_environment(), commits)

    def builder(self, variant: str) -> dagger.Container:
        """The builder an image is made from."""
        if self.preprocesses(variant):
            return self.preprocessing_builder()
        return self.core_builder()

    def _commits(self) -> dict[str, str]:
        return {name: commit for name, (_, commit) in self.extensions().items()}

    def _with_compiled(self, ctr: dagger.Container, commits: dict[str, str]) -> dagger.Container:
        """Bring in what the compiles of ``commits``' packages added; check their GPU code.

        ``commits`` maps each package to the commit it is compiled from, for the manifest.
        """
        compiled = self.compiled()
        return (
            self._compile_settings(ctr)
            .with_(steps.compiled_packages([compiled[name] for name in commits]))
            .with_(steps.architecture_check(commits))
        )

    # --- the images ---

    def single_stage(self) -> dagger.Container:
        """The builder with the app in place: big, keeps the compilers for development."""
        variant = "single-stage"
        builder = self.builder(variant)
        ctr = builder.with_(steps.user_caches(pins.ROOT_HOME)).with_(self._commands(variant))
        if records := self._records(variant):
            manifest = conda_env.recorded(builder, builder.file(pins.MANIFEST), records)
            ctr = ctr.with_file(pins.MANIFEST, manifest)
        return self._finished(ctr, variant, home=pins.ROOT_HOME, owner="")

    def multistage(self) -> dagger.Container:
        """The runtime base, the builder's environment, the app: no compilers."""
        variant = "multistage"
        builder, devel, runtime = self.builder(variant), self.devel_base(), self.runtime_base()
        comparison = conda_env.bases_comparison(
            devel, runtime, allow_differences=self.base_mismatch == "copy"
        )
        packages = pins.RUNTIME_APT_PACKAGES
        if self.preprocesses(variant):
            packages += pins.PREPROCESSING_APT_PACKAGES
        records = {"bases": comparison, **self._records(variant)}
        ctr = (
            runtime.with_(steps.apt_install(packages))
            .with_(
                conda_env.builder_environment(
                    conda_env.removals(devel, builder),
                    comparison,
                    builder.directory(pins.CONDA_DIR),
                    self.conda_changes(),
                )
            )
            .with_(self._commands(variant))
            .with_file(
                pins.MANIFEST,
                conda_env.recorded(runtime, builder.file(pins.MANIFEST), records),
            )
        )
        if not self.non_root:
            return self._finished(ctr, variant, home=pins.ROOT_HOME, owner="")
        ctr = ctr.with_(steps.non_root_user)
        return self._finished(ctr, variant, home=pins.RUNTIME_HOME, owner=pins.RUNTIME_USER)

    def image(self, variant: str) -> dagger.Container:
        return self.single_stage() if variant == "single-stage" else self.multistage()

    def probed(self, variant: str, gpu: bool, fresh: bool) -> dagger.Container:
        """An image with the probe run in it: its checks, the app's commands and tools."""
        probe = steps.probe_run(
            gpu, fresh, self.help_commands(variant), self.tool_commands(variant)
        )
        return self.image(variant).with_(probe)

    def hygiene_checked(self) -> dagger.Container:
        """The runtime image with its hygiene check run: no compilers, no build leftovers."""
        return self.multistage().with_(steps.runtime_hygiene_run(self.conda_changes()))

    def conda_changes(self) -> dagger.Directory:
        """What the runtime image's builder added to (or changed in) the devel base's conda."""
        return conda_env.delta(self.devel_base(), self.builder("multistage"))

    def _commands(self, variant: str) -> steps.Step:
        """Libraries from wheels (open3d's libGL.so.1), in every image, before the user
        changes (ldconfig runs as root); ffmpeg and the like: from preprocessing's system
        packages, else from wheels."""
        libraries = conda_env.wheel_libraries(pins.WHEEL_LIBRARIES)
        if self.preprocesses(variant):
            return libraries
        commands = conda_env.wheel_commands(pins.WHEEL_COMMANDS)
        return lambda ctr: ctr.with_(libraries).with_(commands)

    def _finished(
        self, ctr: dagger.Container, variant: str, home: str, owner: str
    ) -> dagger.Container:
        """The weights, the app and the labels: what changes most often comes last."""
        app = self.source
        if self.bake_weights:
            baked = self.baked_weights(variant)
            ctr = ctr.with_(steps.baked_weights(baked, home=home, owner=owner))
            app = app.with_directory(".", baked.directory("app"))
        return ctr.with_(steps.application(app, owner=owner)).with_(
            steps.labels(self.labels(variant))
        )

    # --- weights ---

    def _bake(self, variant: str) -> dagger.Container:
        """The files the app downloads on start, fetched and checked (bake_weights.py).

        Beside the images, in a container of the runtime base: Dagger keeps the result,
        so the files are fetched once for every build.
        """
        tables = json.dumps(tomllib.loads(asset_text("data/weights.toml")), sort_keys=True)
        image = "preprocessing" if self.preprocesses(variant) else "runtime"
        bake = ["python", steps.program_path("bake_weights.py"), "/tmp/weights.json"]
        bake += ["--image", image, "--manifest", WEIGHTS_RECORD]
        ctr = self.runtime_base().with_(steps.with_program("bake_weights.py"))
        for root in (*pins.HOME_CACHES, "app"):
            bake += ["--root", f"{root}={BAKED}/{root}"]
            ctr = ctr.with_directory(f"{BAKED}/{root}", dag.directory())
        return ctr.with_new_file("/tmp/weights.json", tables).with_exec(bake)

    def baked_weights(self, variant: str) -> dagger.Directory:
        """One folder per cache root (torch, hf, home, app), holding the baked files."""
        return self._bake(variant).directory(BAKED)

    def _records(self, variant: str) -> dict[str, dagger.File]:
        """What the manifest records besides the builder's facts: weights, detected GPUs."""
        records = {}
        if self.bake_weights:
            records["weights"] = self._bake(variant).file(WEIGHTS_RECORD)
        if self.detected_gpus:
            found = dag.directory().with_new_file("gpus.json", self.detected_gpus)
            records["detected_gpus"] = found.file("gpus.json")
        return records

    # --- labels ---

    def labels(self, variant: str) -> dict[str, str]:
        detected = {}
        if self.detected_gpus:
            description = json.loads(self.detected_gpus)["description"]
            detected = {"io.egstalker.detected-gpus": description}
        return {
            **detected,
            "org.opencontainers.image.title": f"egstalker ({variant})",
            "org.opencontainers.image.source": pins.APP.url,
            "org.opencontainers.image.revision": self.source_revision,
            "org.opencontainers.image.base.name": self.base_image(variant),
            "io.egstalker.variant": variant,
            "io.egstalker.cuda-arch-list": self.arch_list,
            "io.egstalker.preprocessing": "yes" if self.preprocesses(variant) else "no",
            "io.egstalker.devel-image": self.devel_image,
            "io.egstalker.runtime-image": self.runtime_image,
            "io.egstalker.rasterizer-commit": self.rasterizer_commit,
            "io.egstalker.simple-knn-commit": self.simple_knn_commit,
        }
