"""Container steps: small ``Container -> Container`` functions applied with ``.with_``.

Each stage of ``main.py`` reads as a list of these. Their order follows the cache:
what changes least often comes first, so that a change re-runs only what follows it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import dagger
from dagger import dag

from egstalker import pins
from egstalker.assets import asset_text

Step = Callable[[dagger.Container], dagger.Container]

PROGRAMS_DIR = f"{pins.PIPELINE_DIR}/programs"
REQUIREMENTS_DIR = f"{pins.PIPELINE_DIR}/requirements"
BUILD_CONSTRAINT_VARIABLES = ("PIP_BUILD_CONSTRAINT", "PIP_CONSTRAINT")


def program_path(name: str) -> str:
    """Where an in-container program of ``programs/`` lies in the images."""
    return f"{PROGRAMS_DIR}/{name}"


def with_program(name: str) -> Step:
    """Put one program of this package's ``programs/`` folder into the container."""

    def step(ctr: dagger.Container) -> dagger.Container:
        return ctr.with_new_file(program_path(name), asset_text(f"programs/{name}"))

    return step


def apt_install(packages: Sequence[str]) -> Step:
    """Install system packages and drop the package lists."""

    def step(ctr: dagger.Container) -> dagger.Container:
        return ctr.with_(with_program("apt_install.sh")).with_exec(
            ["sh", program_path("apt_install.sh"), *packages]
        )

    return step


def requirement_files(ctr: dagger.Container) -> dagger.Container:
    """The human-edited requirement files of ``data/``, at ``REQUIREMENTS_DIR``."""
    for name in pins.REQUIREMENT_FILES:
        ctr = ctr.with_new_file(f"{REQUIREMENTS_DIR}/{name}", asset_text(f"data/{name}"))
    return ctr


def _resolve(requirements: pins.RequirementSet) -> list[str]:
    """pip's arguments for a set's requirement files, under the base-keeping constraints."""
    args = [arg for name in requirements.files for arg in ("-r", f"{REQUIREMENTS_DIR}/{name}")]
    return [*args, "-c", f"{REQUIREMENTS_DIR}/{pins.CONSTRAINTS}"]


def with_build_constraints(ctr: dagger.Container) -> dagger.Container:
    """Constrain the environments pip builds source distributions in (build-constraints.txt).

    pip >= 25.3 reads PIP_BUILD_CONSTRAINT; older pips (the base image's) pass
    PIP_CONSTRAINT on to the pip that fills each build environment.
    """
    for variable in BUILD_CONSTRAINT_VARIABLES:
        ctr = ctr.with_env_variable(variable, f"{REQUIREMENTS_DIR}/build-constraints.txt")
    return ctr


def uv_tool(base: dagger.Container) -> dagger.File:
    """uv, from its hash-pinned wheel (data/build-tools.txt), installed beside the builder.

    Only the file leaves this container; the installs mount it, so no image holds it.
    """
    listing, target = f"/tmp/{pins.BUILD_TOOLS}", "/tmp/build-tools"
    install = ["pip", "install", "--no-deps", "--require-hashes", "--target", target]
    return (
        base.with_new_file(listing, asset_text(f"data/{pins.BUILD_TOOLS}"))
        .with_exec([*install, "-r", listing])
        .file(f"{target}/bin/uv")
    )


def python_dependencies(
    requirements: pins.RequirementSet, lock: str | None, uv: dagger.File
) -> Step:
    """One uv install of a requirement set into the base's Python, its torch held by constraints.

    With a lock (``make lock``), exactly the locked files are installed, hash-checked;
    without, the set's pinned requirements are resolved. Source distributions are built
    under build-constraints.txt; bytecode is compiled, as pip does, and files are copied
    from the cache (a volume of its own): the same files as pip installs, but for uv's
    REQUESTED markers (docs/performance.md). uv is mounted for this step only. Either
    way it depends on the requirement files only, so it sits before anything that
    changes with the architecture list or the app's source.
    """
    install = ["uv", "pip", "install", "--python", f"{pins.CONDA_DIR}/bin/python"]
    locked = f"{REQUIREMENTS_DIR}/{requirements.lock}"
    if lock is None:
        install += _resolve(requirements)
    else:
        # no -c: uv's hash-checking mode takes only exact pins, and the lock was resolved
        # under constraints.txt (its header's digest covers that file)
        install += ["--require-hashes", "--no-deps", "-r", locked]
    install += ["--build-constraints", f"{REQUIREMENTS_DIR}/{pins.BUILD_CONSTRAINTS}"]
    install += ["--cache-dir", pins.UV_CACHE_DIR, "--link-mode", "copy", "--compile-bytecode"]

    def step(ctr: dagger.Container) -> dagger.Container:
        ctr = ctr.with_(requirement_files)
        if lock is not None:
            ctr = ctr.with_new_file(locked, lock)
        return (
            ctr.with_mounted_cache(pins.UV_CACHE_DIR, dag.cache_volume(pins.UV_CACHE_VOLUME))
            .with_mounted_file(pins.UV_PATH, uv)
            .with_exec(install)
            .without_mount(pins.UV_PATH)
            .without_mount(pins.UV_CACHE_DIR)
        )

    return step


def per_call(variable: str) -> Step:
    """A value new at each call, so that the execs after it run again.

    The engine serves a withExec from its cache whenever its inputs are the same, even in
    a function that is never cached (Dagger 0.21, core/schema/container.go): a step that
    must see a moving world (the package index, the engine's GPUs) needs this.
    """

    def step(ctr: dagger.Container) -> dagger.Container:
        return ctr.with_env_variable(variable, str(time.time_ns()))

    return step


def requirements_locks(base: dagger.Container) -> dagger.Directory:
    """Resolve each requirement set in ``base`` and lock what it adds, with hashes.

    The preprocessing lock holds only what that set adds over the core lock, so the
    builders install the core lock, then (where they preprocess) the second on top.
    The index moves, so each call resolves anew.
    """
    inputs = [f"{REQUIREMENTS_DIR}/{name}" for name in pins.REQUIREMENT_FILES]
    ctr = base.with_(requirement_files).with_(with_program("lock.py")).with_(with_build_constraints)
    ctr = ctr.with_(per_call("EGSTALKER_LOCK_RUN"))
    locks = dag.directory()
    previous: list[str] = []
    for requirements in (pins.CORE_REQUIREMENTS, pins.PREPROCESSING_REQUIREMENTS):
        report, lock = f"/tmp/{requirements.name}-report.json", f"/tmp/{requirements.lock}"
        resolve = ["pip", "install", "--dry-run", "--quiet", "--report", report]
        write = ["python", program_path("lock.py"), report, *inputs, *previous]
        ctr = ctr.with_exec([*resolve, *_resolve(requirements)]).with_exec(
            write, redirect_stdout=lock
        )
        locks = locks.with_file(requirements.lock, ctr.file(lock))
        previous = ["--over", lock]
    return locks


def cuda_build_settings(arch_list: str, max_jobs: int | None) -> Step:
    """What torch's extension builder reads: the architectures, and the parallel jobs if set.

    FORCE_CUDA makes pytorch3d build its CUDA code although no GPU is visible.
    """

    def step(ctr: dagger.Container) -> dagger.Container:
        ctr = ctr.with_env_variable("TORCH_CUDA_ARCH_LIST", arch_list).with_env_variable(
            "FORCE_CUDA", "1"
        )
        if max_jobs is not None:
            ctr = ctr.with_env_variable("MAX_JOBS", str(max_jobs))
        return ctr

    return step


def extension_tools(ctr: dagger.Container) -> dagger.Container:
    """The programs that compile an extension, in place before the compiles branch off."""
    for name in ("build_extension.py", "nvcc_ccache.py", "install_scope.py"):
        ctr = ctr.with_(with_program(name))
    return ctr


def compiled_extension(
    env: dagger.Container, name: str, source: dagger.Directory, concurrent: int
) -> dagger.Directory:
    """Compile and install one CUDA extension in a branch of ``env``; what it added.

    The source is mounted, not copied: neither it nor its build tree reaches the image.
    gcc and nvcc go through ccache, whose cache volume outlives the build, so a re-run
    recompiles only changed files. ``concurrent`` compiles may run at once, each sized
    for its share of the memory. install_scope.py fails the step unless the install only
    added entries of its own to site-packages, so those entries are all of its result:
    the diff of the container's root against ``env``'s (one exec apart, which the
    engine reads from that exec's layer alone), taken at site-packages.
    """
    mount = f"{pins.EXTENSIONS_SRC_DIR}/{name}"
    scope = ["python", program_path("install_scope.py"), pins.CONDA_DIR, pins.CONDA_SITE_PACKAGES]
    build = ["python", program_path("build_extension.py"), name, mount]
    build += ["--ccache-dir", pins.CCACHE_DIR, "--concurrent-builds", str(concurrent)]
    built = (
        env.with_mounted_cache(pins.CCACHE_DIR, dag.cache_volume(pins.CCACHE_VOLUME))
        .with_mounted_directory(mount, source.filter(exclude=list(pins.EXTENSION_EXCLUDE)))
        .with_exec([*scope, "--", *build])
    )
    return env.rootfs().diff(built.rootfs()).directory(pins.CONDA_SITE_PACKAGES)


def compiled_packages(additions: Sequence[dagger.Directory]) -> Step:
    """Merge what each compile added into site-packages (``compiled_extension``'s results)."""

    def step(ctr: dagger.Container) -> dagger.Container:
        for added in additions:
            ctr = ctr.with_directory(pins.CONDA_SITE_PACKAGES, added)
        return ctr

    return step


def architecture_check(commits: Mapping[str, str]) -> Step:
    """Compare each compiled extension's GPU code with TORCH_CUDA_ARCH_LIST; write the manifest.

    ``commits`` maps each extension package to the commit it was built from. A mismatch
    fails the build, naming the library and both lists.
    """

    def step(ctr: dagger.Container) -> dagger.Container:
        args = ["python", program_path("check_archs.py"), "--manifest", pins.MANIFEST]
        for package, commit in commits.items():
            args += ["--commit", f"{package}={commit}"]
        return ctr.with_(with_program("check_archs.py")).with_exec([*args, *commits])

    return step


def probe_run(
    gpu: bool, fresh: bool, app_commands: Sequence[str] = (), tool_commands: Sequence[str] = ()
) -> Step:
    """Run the in-image probe; its exit code is read by the caller, not by the engine.

    With ``gpu`` the container gets every GPU of the engine and the probe launches kernels;
    without, it checks what needs no GPU. ``app_commands`` are the app's entry points it
    runs with downloads blocked, ``tool_commands`` the commands the app runs.
    ``fresh`` forces a new run rather than a cached one.
    """
    run = ["python", program_path("probe.py"), "--mode", "gpu" if gpu else "cpu"]
    for command in app_commands:
        run += ["--app-command", command]
    for command in tool_commands:
        run += ["--tool-command", command]

    def step(ctr: dagger.Container) -> dagger.Container:
        ctr = ctr.with_(with_program("probe.py"))
        if gpu:
            ctr = ctr.experimental_with_all_gp_us()
        if fresh:
            ctr = ctr.with_(per_call("EGSTALKER_VERIFY_RUN"))
        return ctr.with_exec(run, expect=dagger.ReturnType.ANY)

    return step


def gpu_query(ctr: dagger.Container) -> dagger.Container:
    """List the GPUs the engine attaches (gpu_archs.py), anew at each call.

    The GPUs behind an engine change (another node, another card), so the query never
    comes from the cache.
    """
    return (
        ctr.with_(with_program("gpu_archs.py"))
        .experimental_with_all_gp_us()
        .with_(per_call("EGSTALKER_GPU_QUERY"))
        .with_exec(["python", program_path("gpu_archs.py")])
    )


def runtime_hygiene_run(conda_delta: dagger.Directory) -> Step:
    """Run the runtime hygiene check (no compiler, no build leftovers); fails the exec.

    Leftovers are looked for in what the build put into the image: the builder's
    additions to /opt/conda (mounted beside, not copied), the app and the pipeline's
    folder; the base's own files are not the build's doing. It runs as root, which can
    look everywhere, pip caches in /root included.
    """
    mounted = "/tmp/conda-delta"
    roots = [mounted, pins.APP_DIR, pins.PIPELINE_DIR]

    def step(ctr: dagger.Container) -> dagger.Container:
        return (
            ctr.with_(with_program("check_runtime.py"))
            .with_user("root")
            .with_mounted_directory(mounted, conda_delta)
            .with_exec(["python", program_path("check_runtime.py"), *roots])
        )

    return step


def user_caches(home: str) -> Step:
    """Where the app's downloads live (torch's weights, Hugging Face models, wandb): ``home``."""

    def step(ctr: dagger.Container) -> dagger.Container:
        return (
            ctr.with_env_variable("HOME", home)
            .with_env_variable("XDG_CACHE_HOME", f"{home}/.cache")
            .with_env_variable("TORCH_HOME", f"{home}/{pins.HOME_CACHES['torch']}")
            .with_env_variable("HF_HOME", f"{home}/{pins.HOME_CACHES['hf']}")
        )

    return step


def non_root_user(ctr: dagger.Container) -> dagger.Container:
    """Run as a user of its own, whose home holds the caches (torch weights, wandb)."""
    # --non-unique: a base that already has a uid 1000 (Ubuntu 24.04's "ubuntu") still works
    useradd = ["useradd", "--create-home", "--home-dir", pins.RUNTIME_HOME]
    useradd += ["--uid", pins.RUNTIME_UID, "--non-unique", "--user-group", pins.RUNTIME_USER]
    return ctr.with_exec(useradd).with_(user_caches(pins.RUNTIME_HOME)).with_user(pins.RUNTIME_USER)


def baked_weights(baked: dagger.Directory, home: str, owner: str) -> Step:
    """The weights baked for the app, in the caches of ``home``, owned by the image's user.

    ``baked`` holds one folder per cache root of data/weights.toml; the app's own folder
    ("app") is merged into the app tree by ``application``.
    """

    def step(ctr: dagger.Container) -> dagger.Container:
        # the cache folder first, so that it is the user's too (wandb writes there)
        ctr = ctr.with_directory(f"{home}/.cache", dag.directory(), owner=owner)
        for root, path in pins.HOME_CACHES.items():
            target = f"{home}/{path}".rstrip("/")
            ctr = ctr.with_directory(target, baked.directory(root), owner=owner)
        return ctr

    return step


def application(source: dagger.Directory, owner: str = "") -> Step:
    """The app's tree at ``APP_DIR``, its working directory, and ``ikan`` importable.

    ``scene/KAN`` packages nothing through its setup.py, so it is put on PYTHONPATH.
    ``owner`` makes the tree writable by that user (outputs go beside the app).
    """

    def step(ctr: dagger.Container) -> dagger.Container:
        return (
            ctr.with_directory(pins.APP_DIR, source, exclude=list(pins.APP_EXCLUDE), owner=owner)
            .with_env_variable("PYTHONPATH", f"{pins.APP_DIR}/scene/KAN")
            .with_workdir(pins.APP_DIR)
        )

    return step


def labels(values: Mapping[str, str]) -> Step:
    """OCI labels, in a stable order."""

    def step(ctr: dagger.Container) -> dagger.Container:
        for name in sorted(values):
            ctr = ctr.with_label(name, values[name])
        return ctr

    return step
