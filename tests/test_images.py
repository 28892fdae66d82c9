"""The builders and both images, read offline from the SDK's lazy objects."""

from __future__ import annotations

import dataclasses
import json
import tomllib

import pytest
from dagger import dag

from egstalker import Egstalker, pins
from egstalker.assets import asset_text
from tests.plan import Call, all_execs, calls, env, execs, named, nested, render, strings

pytestmark = pytest.mark.anyio

PROGRAMS = "/opt/egstalker/programs"
APT_INSTALL = f"{PROGRAMS}/apt_install.sh"
BUILD_EXTENSION = f"{PROGRAMS}/build_extension.py"
CHECK_ARCHS = f"{PROGRAMS}/check_archs.py"
REQUIREMENTS_DIR = "/opt/egstalker/requirements"
REQUIREMENTS = f"{REQUIREMENTS_DIR}/requirements.txt"
PREPROCESSING = f"{REQUIREMENTS_DIR}/requirements-preprocessing.txt"
CONSTRAINTS = f"{REQUIREMENTS_DIR}/constraints.txt"
UV_INSTALL = ["uv", "pip", "install", "--python", "/opt/conda/bin/python"]
UV_OPTIONS = ["--build-constraints", f"{REQUIREMENTS_DIR}/build-constraints.txt"]
UV_OPTIONS += ["--cache-dir", "/root/.cache/uv", "--link-mode", "copy", "--compile-bytecode"]
CORE_INSTALL = [*UV_INSTALL, "-r", REQUIREMENTS, "-c", CONSTRAINTS, *UV_OPTIONS]
PREPROCESSING_INSTALL = [*UV_INSTALL, "-r", REQUIREMENTS, "-r", PREPROCESSING]
PREPROCESSING_INSTALL += ["-c", CONSTRAINTS, *UV_OPTIONS]
SITE = pins.CONDA_SITE_PACKAGES
INSTALL_SCOPE = f"{PROGRAMS}/install_scope.py"
COMPILERS = {"gcc", "g++", "cc", "c++", "nvcc", "build-essential", "clang"}
VARIANTS = ("single-stage", "multistage")


async def pipeline(**options) -> Egstalker:
    return await Egstalker.create(**options)


def image(egs: Egstalker, variant: str):
    return egs.build_single_stage() if variant == "single-stage" else egs.build_multistage()


def apt_lists(ctr) -> list[list[str]]:
    return [a[2:] for a in execs(ctr) if a[:2] == ["sh", APT_INSTALL]]


def pip_installs(ctr) -> list[list[str]]:
    return [a for a in execs(ctr) if a[:3] == ["uv", "pip", "install"]]


def compile_execs(obj) -> list[list[str]]:
    """The compile commands anywhere in the plan (each in its branch), once each, in order."""
    found = {tuple(args): args for args in all_execs(obj) if BUILD_EXTENSION in args}
    return list(found.values())


def compiled(obj) -> list[str]:
    return [args[args.index(BUILD_EXTENSION) + 1] for args in compile_execs(obj)]


def merged(builder) -> list[object]:
    """The directories merged into site-packages: what each compile added."""
    return [c.args["source"] for c in named(builder, "withDirectory") if c.args["path"] == SITE]


def files(ctr) -> dict[str, str]:
    return {c.args["path"]: c.args["contents"] for c in named(ctr, "withNewFile")}


def mounted_source(ctr, name: str) -> list[Call]:
    """The chain of the source mounted for a compile, wherever in the plan it is."""
    mounts = {
        render(c.args["source"]): calls(c.args["source"])
        for inner in nested(ctr)
        for c in named(inner, "withMountedDirectory")
        if c.args["path"].endswith(name)
    }
    (mount,) = mounts.values()
    return mount


def labels(ctr) -> dict[str, str]:
    return {c.args["name"]: c.args["value"] for c in named(ctr, "withLabel")}


def directories(ctr) -> dict[str, object]:
    """The folders copied into an image (withDirectory), the last copy to a path winning."""
    return {c.args["path"]: c.args["source"] for c in named(ctr, "withDirectory")}


def position(ctr, call: str, **args) -> int:
    """Where the first call of that name and those arguments stands in the chain."""
    chain = calls(ctr)
    return next(
        i
        for i, c in enumerate(chain)
        if c.name == call and all(c.args.get(k) == v for k, v in args.items())
    )


# --- the builders ---


async def test_the_builder_starts_from_the_devel_base_with_build_and_runtime_packages() -> None:
    builder = (await pipeline(preprocessing="none")).builder()
    assert calls(builder)[1] == Call("Container", "from", {"address": pins.DEVEL_IMAGE})
    (packages,) = apt_lists(builder)
    assert packages == [*pins.BUILD_APT_PACKAGES, *pins.RUNTIME_APT_PACKAGES]
    assert {"ccache", "ninja-build", "libglm-dev", "libx11-6"} <= set(packages)


async def test_core_dependencies_in_one_install_under_constraints_with_a_pip_cache() -> None:
    builder = (await pipeline(preprocessing="none")).builder()
    assert pip_installs(builder) == [CORE_INSTALL]
    written = files(builder)
    assert written[REQUIREMENTS] == asset_text("data/requirements.txt")
    for pin in ("torch==2.1.2", "torchvision==0.16.2", "torchaudio==2.1.2", "numpy<2"):
        assert pin in written[CONSTRAINTS].splitlines()
    caches = {
        c.args["path"]: calls(c.args["cache"])[-1].args
        for inner in (builder, *nested(builder))
        for c in named(inner, "withMountedCache")
    }
    assert caches["/root/.cache/uv"] == {"key": "egstalker-uv-py310-cu118"}
    assert caches["/root/.cache/ccache"] == {"key": "egstalker-ccache-cu118-gcc11"}


async def test_the_preprocessing_builder_shares_the_environment_and_the_compiles() -> None:
    egs = (await pipeline())._images()
    core, full = egs.core_builder(), egs.preprocessing_builder()
    environment = render(egs.python_environment())
    assert render(full)[: len(environment)] == environment
    assert apt_lists(full)[1] == list(pins.PREPROCESSING_APT_PACKAGES)
    assert pip_installs(full) == [CORE_INSTALL, PREPROCESSING_INSTALL]
    assert compiled(full) == ["simple_knn", "diff_gaussian_rasterization", "pytorch3d"]
    # one compile of each extension serves both builders: the very same results are merged
    assert [render(d) for d in merged(full)[:2]] == [render(d) for d in merged(core)]
    # the last architecture check covers every compiled package
    assert execs(full)[-1][-3:] == ["simple_knn", "diff_gaussian_rasterization", "pytorch3d"]


async def test_no_compile_depends_on_another_or_on_preprocessing() -> None:
    egs = (await pipeline())._images()  # defaults: pytorch3d for the single-stage image
    results = egs.compiled()
    assert list(results) == ["simple_knn", "diff_gaussian_rasterization", "pytorch3d"]
    for name, result in results.items():
        assert compiled(result) == [name]  # its own compile and no other
    for name in ("simple_knn", "diff_gaussian_rasterization"):
        assert PREPROCESSING_INSTALL not in all_execs(results[name])
    # the runtime image's builder waits for no preprocessing package, nor for pytorch3d
    runtime_builder = egs.builder("multistage")
    assert PREPROCESSING_INSTALL not in all_execs(runtime_builder)
    assert compiled(runtime_builder) == ["simple_knn", "diff_gaussian_rasterization"]


async def test_each_compile_is_one_checked_install_whose_additions_are_merged() -> None:
    egs = (await pipeline(preprocessing="none"))._images()
    environment = egs._compile_settings(egs.python_environment())
    for result in merged(egs.core_builder()):
        chain = calls(result)
        # the diff of the container's root, before and after the compile, at site-packages
        assert chain[-1] == Call("Directory", "directory", {"path": SITE})
        assert chain[-2].name == "diff"
        assert chain[-3] == Call("Container", "rootfs", {})
        assert render(result)[:-3] == render(environment)
        branch = calls(chain[-2].args["other"])
        assert branch[: len(calls(environment))] == calls(environment)
        # one exec apart: the engine reads the changes from that exec's layer alone
        added = branch[len(calls(environment)) :]
        assert [c.name for c in added] == [
            "withMountedCache", "withMountedDirectory", "withExec", "rootfs"
        ]  # fmt: skip
        args = added[2].args["args"]
        assert args[:5] == ["python", INSTALL_SCOPE, pins.CONDA_DIR, SITE, "--"]
        assert args[-2:] == ["--concurrent-builds", "2"]  # two compiles share the builder


@pytest.mark.parametrize(
    ("options", "concurrent"),
    [({}, "3"), ({"preprocessing": "all"}, "3"), ({"pytorch3d": False}, "2")],
)
async def test_compiles_are_sized_for_those_that_run_beside_them(
    options: dict, concurrent: str
) -> None:
    egs = await pipeline(**options)
    for args in compile_execs(egs._images().preprocessing_builder()):
        assert args[-2:] == ["--concurrent-builds", concurrent]


async def test_requirements_cover_what_earlier_images_missed() -> None:
    def names(path: str) -> set[str]:
        return {
            line.split("==")[0].strip().lower()
            for line in asset_text(path).splitlines()
            if line.strip() and not line.startswith("#")
        }

    core, preprocessing = (
        names("data/requirements.txt"),
        names("data/requirements-preprocessing.txt"),
    )
    assert {"wandb", "torchinfo", "mmcv", "lpips", "open3d-cpu", "imageio-ffmpeg"} <= core
    assert {"transformers", "librosa", "tensorflow-cpu", "pyaudio", "face-alignment"} <= (
        preprocessing
    )
    base_owned = {"torch", "torchvision", "torchaudio", "numpy", "pytorch3d", "simple_knn"}
    assert not (core | preprocessing) & base_owned


async def test_extensions_compile_for_the_arch_list_from_their_pinned_commits() -> None:
    builder = (await pipeline(arch="a100,a10")).builder()
    assert env(builder)["TORCH_CUDA_ARCH_LIST"] == "8.0;8.6"
    assert env(builder)["FORCE_CUDA"] == "1"
    assert "MAX_JOBS" not in env(builder)  # chosen inside the builder
    for pin in (pins.SIMPLE_KNN, pins.RASTERIZER, pins.PYTORCH3D):
        source = mounted_source(builder, pin.name)
        assert Call("Query", "git", {"url": pin.url}) in source
        assert Call("GitRepository", "commit", {"id": pin.commit}) in source
        (filt,) = [c for c in source if c.name == "filter"]
        assert "**/*.so" in filt.args["exclude"]  # stale prebuilt objects never reach the build
    for args in compile_execs(builder):
        assert args[-4:-2] == ["--ccache-dir", "/root/.cache/ccache"]
    assert files(builder)[BUILD_EXTENSION] == asset_text("programs/build_extension.py")


async def test_explicit_max_jobs_and_commits_reach_the_build() -> None:
    commit = "60f461f4a56b7967e5d8045bf92f8c33f36976d0"
    builder = (await pipeline(max_jobs=6, simple_knn_commit=commit)).builder()
    assert env(builder)["MAX_JOBS"] == "6"
    assert Call("GitRepository", "commit", {"id": commit}) in mounted_source(builder, "simple_knn")


async def test_pytorch3d_can_be_left_out() -> None:
    builder = (await pipeline(pytorch3d=False)).builder()
    assert compiled(builder) == ["simple_knn", "diff_gaussian_rasterization"]
    assert pins.PYTORCH3D.url not in set(strings(builder))


async def test_arch_settings_come_after_the_dependency_install() -> None:
    builder = (await pipeline()).builder()
    pip_at = position(builder, "withExec", args=CORE_INSTALL)
    assert position(builder, "withEnvVariable", name="TORCH_CUDA_ARCH_LIST") > pip_at


async def test_another_architecture_list_reinstalls_nothing() -> None:
    one, other = (await pipeline(arch="8.6"))._images(), (await pipeline(arch="9.0"))._images()
    assert render(one.preprocessing_environment()) == render(other.preprocessing_environment())
    assert render(one.core_builder()) != render(other.core_builder())  # the compiles do change


async def test_the_builders_do_not_depend_on_the_app_source() -> None:
    base = await pipeline()
    edited = dataclasses.replace(base, source=dag.directory().with_new_file("train.py", "x"))
    assert render(base.builder()) == render(edited.builder())  # editing train.py recompiles nothing
    assert render(base.build_single_stage()) != render(edited.build_single_stage())
    assert pins.APP.url not in set(strings(base.builder()))


async def test_the_builder_checks_the_compiled_code_and_writes_the_manifest() -> None:
    builder = (await pipeline(arch="8.0;8.6", preprocessing="none")).builder()
    last = execs(builder)[-1]
    assert last[:4] == ["python", CHECK_ARCHS, "--manifest", pins.MANIFEST]
    commits = [last[i + 1] for i, arg in enumerate(last) if arg == "--commit"]
    assert commits == [
        f"simple_knn={pins.SIMPLE_KNN.commit}",
        f"diff_gaussian_rasterization={pins.RASTERIZER.commit}",
    ]


async def test_source_builds_get_a_setuptools_that_still_has_pkg_resources() -> None:
    builder = (await pipeline()).builder()
    for install in (CORE_INSTALL, PREPROCESSING_INSTALL):
        assert install in pip_installs(builder)  # --build-constraints build-constraints.txt
    assert not [v for v in env(builder) if v.startswith(("PIP_", "UV_"))]  # none left behind
    assert "setuptools<81" in asset_text("data/build-constraints.txt").splitlines()


async def test_uv_installs_the_dependencies_but_is_mounted_for_those_steps_only() -> None:
    egs = (await pipeline())._images()
    builder = egs.builder("single-stage")
    chain = calls(builder)
    for install in (CORE_INSTALL, PREPROCESSING_INSTALL):
        at = position(builder, "withExec", args=install)
        assert chain[at - 1].name == "withMountedFile"
        assert chain[at - 1].args["path"] == "/usr/local/bin/uv"  # on the bases' PATH
        assert chain[at + 1] == Call("Container", "withoutMount", {"path": "/usr/local/bin/uv"})
        assert chain[at + 2] == Call("Container", "withoutMount", {"path": "/root/.cache/uv"})
        # uv comes from its hash-pinned wheel, installed in a container beside the builder
        uv = calls(chain[at - 1].args["source"])
        assert uv[1] == Call("Container", "from", {"address": pins.DEVEL_IMAGE})
        assert [c.args["args"][:4] for c in uv if c.name == "withExec"] == [
            ["pip", "install", "--no-deps", "--require-hashes"]
        ]
        assert uv[-1] == Call("Container", "file", {"path": "/tmp/build-tools/bin/uv"})
    tools = asset_text("data/build-tools.txt")
    assert "uv==0.13.9 \\\n    --hash=sha256:" in tools
    for ctr in (builder, egs.image("multistage"), egs.image("single-stage")):
        written = [c.args["path"] for c in named(ctr, "withNewFile")]
        copied = [c.args["path"] for c in named(ctr, "withFile")]
        assert not [p for p in written + copied if p.endswith("/uv")]


# --- what each image can run ---


@pytest.mark.parametrize(
    ("preprocessing", "single_stage", "multistage"),
    [("single-stage", True, False), ("all", True, True), ("none", False, False)],
)
async def test_preprocessing_goes_where_it_is_asked_for(
    preprocessing: str, single_stage: bool, multistage: bool
) -> None:
    egs = await pipeline(preprocessing=preprocessing)
    for variant, expected in (("single-stage", single_stage), ("multistage", multistage)):
        ctr = image(egs, variant)
        installed = [p for packages in apt_lists(ctr) for p in packages]
        assert ("ffmpeg" in installed) is expected, variant
        assert labels(ctr)["io.egstalker.preprocessing"] == ("yes" if expected else "no")
    runtime_builder = egs._images().builder("multistage")
    assert (PREPROCESSING_INSTALL in pip_installs(runtime_builder)) is multistage
    assert ("pytorch3d" in compiled(runtime_builder)) is multistage


@pytest.mark.parametrize("variant", VARIANTS)
async def test_both_images_get_the_apps_runtime_libraries(variant: str) -> None:
    ctr = image(await pipeline(preprocessing="none"), variant)
    installed = {p for packages in apt_lists(ctr) for p in packages}
    assert set(pins.RUNTIME_APT_PACKAGES) <= installed
    assert {"libx11-6", "libglib2.0-0"} <= installed  # open3d's GL and tkinter; cv2


def command_links(ctr) -> list[Call]:
    links = named(ctr, "withSymlink")
    return [c for c in links if c.args["linkName"].startswith("/usr/local/bin/")]


@pytest.mark.parametrize("variant", VARIANTS)
async def test_without_preprocessing_ffmpeg_comes_from_imageio_ffmpeg(variant: str) -> None:
    ctr = image(await pipeline(preprocessing="none"), variant)
    (link,) = command_links(ctr)
    target = pins.SYSTEM_PACKAGES["links"]["ffmpeg"]
    assert link.args == {
        "target": f"/opt/conda/lib/python3.10/site-packages/{target}",
        "linkName": "/usr/local/bin/ffmpeg",
    }
    # a wheel file that exists in the pinned imageio-ffmpeg, as the contract recorded it
    assert "imageio-ffmpeg==" in asset_text("data/requirements.txt")
    assert not command_links(image(await pipeline(preprocessing="all"), variant))


@pytest.mark.parametrize("preprocessing", ["none", "all"])
@pytest.mark.parametrize("variant", VARIANTS)
async def test_every_image_lets_the_loader_find_open3ds_libgl(
    variant: str, preprocessing: str
) -> None:
    # cv2's Qt and open3d's pybind need libGL.so.1; the loader never searches open3d's
    # folder for them, so open3d's copy is linked into a default folder and indexed
    chain = calls(image(await pipeline(preprocessing=preprocessing), variant))
    link = Call(
        "Container",
        "withSymlink",
        {
            "target": "/opt/conda/lib/python3.10/site-packages/open3d/libGL.so.1",
            "linkName": "/usr/local/lib/libGL.so.1",
        },
    )
    at = chain.index(link)
    assert chain[at + 1].name == "withExec"
    assert chain[at + 1].args["args"] == ["ldconfig"]
    # after the conda environment is in place, before the image's user takes over
    conda = [i for i, c in enumerate(chain) if c.args.get("path") == "/opt/conda"]
    users = [i for i, c in enumerate(chain) if c.name == "withUser"]
    assert all(i < at for i in conda)
    assert all(at < i for i in users)
    assert pins.SYSTEM_PACKAGES["libraries"] == {"libGL.so.1": "open3d/libGL.so.1"}


@pytest.mark.parametrize("variant", VARIANTS)
async def test_both_images_start_in_the_app_with_ikan_importable(variant: str) -> None:
    ctr = image(await pipeline(), variant)
    (app,) = [c for c in named(ctr, "withDirectory") if c.args["path"] == pins.APP_DIR]
    assert Call("GitRepository", "commit", {"id": pins.APP.commit}) in calls(app.args["source"])
    assert ".git" in app.args["exclude"]
    assert named(ctr, "withWorkdir")[-1].args == {"path": "/workspace/egstalker"}
    assert env(ctr)["PYTHONPATH"] == "/workspace/egstalker/scene/KAN"


async def test_single_stage_is_the_builder_with_the_app() -> None:
    egs = await pipeline()
    builder_plan = render(egs.builder())
    assert render(egs.build_single_stage())[: len(builder_plan)] == builder_plan
    assert env(egs.build_single_stage())["TORCH_HOME"] == "/root/.cache/torch"


# --- the runtime image's environment ---


async def test_the_runtime_image_takes_the_builders_environment_not_its_whole_conda() -> None:
    egs = await pipeline()
    runtime = egs.build_multistage()
    assert calls(runtime)[1] == Call("Container", "from", {"address": pins.RUNTIME_IMAGE})
    (conda,) = [c for c in named(runtime, "withDirectory") if c.args["path"] == "/opt/conda"]
    delta = calls(conda.args["source"])
    # the devel base's own /opt/conda, diffed against the runtime image's builder's
    assert delta[:3] == [
        Call("Query", "container", {}),
        Call("Container", "from", {"address": pins.DEVEL_IMAGE}),
        Call("Container", "directory", {"path": "/opt/conda"}),
    ]
    assert delta[-1].name == "diff"
    upper = delta[-1].args["other"]
    assert render(upper)[:-1] == render(egs._images().builder("multistage"))
    assert len(delta) == 4  # never the builder's whole /opt/conda


async def test_the_runtime_image_compares_the_bases_before_taking_the_builders_changes() -> None:
    runtime = (await pipeline()).build_multistage()
    chain = calls(runtime)
    apply = execs(runtime)[1]  # the first command after the system packages
    assert apply == [
        "python", f"{PROGRAMS}/conda_delta.py", "apply", "/tmp/conda-removed.txt", "/opt/conda",
        "--bases", "/tmp/bases.json", "--built", "/tmp/built-conda", "--delta", "/tmp/conda-delta",
    ]  # fmt: skip
    assert position(runtime, "withExec", args=apply) < position(
        runtime, "withDirectory", path="/opt/conda"
    )
    mounts = {c.args["path"]: c.args["source"] for c in named(runtime, "withMountedFile")}
    comparison = calls(mounts["/tmp/bases.json"])
    compare = [c.args["args"] for c in comparison if c.name == "withExec"][-1]
    assert compare[:3] == ["python", f"{PROGRAMS}/compare_bases.py", "compare"]
    assert compare[-1] == "--allow-differences"  # --base-mismatch=copy, the default
    inventories = {
        c.args["path"]: calls(c.args["source"])[1].args["address"]
        for c in comparison
        if c.name == "withMountedFile"
    }
    assert inventories == {
        "/tmp/devel.json": pins.DEVEL_IMAGE,
        "/tmp/runtime.json": pins.RUNTIME_IMAGE,
    }
    mounts = ("/tmp/conda-removed.txt", "/tmp/bases.json", "/tmp/built-conda", "/tmp/conda-delta")
    for mount in mounts:
        assert Call("Container", "withoutMount", {"path": mount}) in chain  # none stays behind


async def test_base_mismatch_fail_stops_the_build_on_a_difference() -> None:
    runtime = (await pipeline(base_mismatch="fail")).build_multistage()
    mounts = {c.args["path"]: c.args["source"] for c in named(runtime, "withMountedFile")}
    compare = [c.args["args"] for c in calls(mounts["/tmp/bases.json"]) if c.name == "withExec"][-1]
    assert "--allow-differences" not in compare  # exit 3 fails the step, naming each package


async def test_the_manifest_records_the_bases_and_the_weights() -> None:
    egs = await pipeline()
    runtime = egs.build_multistage()
    (manifest,) = [c for c in named(runtime, "withFile") if c.args["path"] == pins.MANIFEST]
    merge = [c.args["args"] for c in calls(manifest.args["source"]) if c.name == "withExec"][-1]
    assert merge[:2] == ["python", f"{PROGRAMS}/manifest.py"]
    assert merge[-2:] == ["bases=/tmp/in/bases.json", "weights=/tmp/in/weights.json"]
    single = egs.build_single_stage()
    (manifest,) = [c for c in named(single, "withFile") if c.args["path"] == pins.MANIFEST]
    merge = [c.args["args"] for c in calls(manifest.args["source"]) if c.name == "withExec"][-1]
    assert merge[-1:] == ["weights=/tmp/in/weights.json"]


async def test_the_runtime_image_installs_no_compiler() -> None:
    runtime = (await pipeline()).build_multistage()
    own = execs(runtime)  # this chain's commands; the builder's run in the mounted sources
    assert own[0] == ["sh", APT_INSTALL, *pins.RUNTIME_APT_PACKAGES]
    assert [a[1] if a[0] == "python" else a[0] for a in own[1:]] == [
        f"{PROGRAMS}/conda_delta.py",
        "ldconfig",
        "useradd",
    ]
    assert not COMPILERS & set(pins.RUNTIME_APT_PACKAGES + pins.PREPROCESSING_APT_PACKAGES)
    assert all(c.args.get("address") != pins.DEVEL_IMAGE for c in calls(runtime))


# --- the runtime user, caches and weights ---


async def test_runtime_runs_as_its_own_user_with_writable_app_and_caches() -> None:
    runtime = (await pipeline()).build_multistage()
    assert named(runtime, "withUser")[-1].args == {"name": "egstalker"}
    (useradd,) = [a for a in execs(runtime) if a[0] == "useradd"]
    assert useradd[-2:] == ["--user-group", "egstalker"]
    assert env(runtime)["HOME"] == "/home/egstalker"
    assert env(runtime)["TORCH_HOME"] == "/home/egstalker/.cache/torch"  # vgg16 weights land here
    copied = {c.args["path"]: c.args.get("owner") for c in named(runtime, "withDirectory")}
    assert copied[pins.APP_DIR] == "egstalker"
    assert copied["/home/egstalker/.cache"] == "egstalker"  # wandb and downloads write here
    assert copied["/home/egstalker/.cache/torch"] == "egstalker"


async def test_root_runtime_on_request_and_single_stage_stays_root() -> None:
    assert not named((await pipeline(non_root=False)).build_multistage(), "withUser")
    assert not named((await pipeline()).build_single_stage(), "withUser")


def weights_baked(ctr) -> tuple[list[str], dict]:
    """The bake command of an image, and the weights tables it was given."""
    (baked,) = [c for c in named(ctr, "withDirectory") if c.args["path"].endswith(".cache/torch")]
    bake = calls(baked.args["source"])
    command = [c.args["args"] for c in bake if c.name == "withExec"][-1]
    (tables,) = [
        c.args["contents"]
        for c in bake
        if c.name == "withNewFile" and c.args["path"] == "/tmp/weights.json"
    ]
    return command, json.loads(tables)


@pytest.mark.parametrize(
    ("variant", "wanted"), [("single-stage", "preprocessing"), ("multistage", "runtime")]
)
async def test_the_start_up_downloads_are_baked_for_each_image(variant: str, wanted: str) -> None:
    egs = await pipeline()
    command, tables = weights_baked(image(egs, variant))
    assert command[:3] == ["python", f"{PROGRAMS}/bake_weights.py", "/tmp/weights.json"]
    assert command[command.index("--image") + 1] == wanted
    assert tables == tomllib.loads(asset_text("data/weights.toml"))
    assert tables["vgg16"]["image"] == "runtime"  # train.py builds its VGG loss at import


async def test_baked_files_for_the_app_folder_join_the_app_tree() -> None:
    runtime = (await pipeline(preprocessing="all")).build_multistage()
    (app,) = [c for c in named(runtime, "withDirectory") if c.args["path"] == pins.APP_DIR]
    merged = [c for c in calls(app.args["source"]) if c.name == "withDirectory"]
    assert merged[-1].args["path"] == "."
    assert calls(merged[-1].args["source"])[-1] == Call("Directory", "directory", {"path": "app"})


async def test_bake_weights_false_bakes_nothing() -> None:
    egs = await pipeline(bake_weights=False)
    for variant in VARIANTS:
        ctr = image(egs, variant)
        assert "bake_weights.py" not in " ".join(strings(ctr))


async def test_both_images_are_labelled() -> None:
    egs = await pipeline(arch="8.0;8.6")
    for variant, base in (("single-stage", pins.DEVEL_IMAGE), ("multistage", pins.RUNTIME_IMAGE)):
        got = labels(image(egs, variant))
        assert got["io.egstalker.variant"] == variant
        assert got["io.egstalker.cuda-arch-list"] == "8.0;8.6"
        assert got["org.opencontainers.image.revision"] == pins.APP.commit
        assert got["org.opencontainers.image.base.name"] == base
        assert got["io.egstalker.devel-image"] == pins.DEVEL_IMAGE
        assert got["io.egstalker.runtime-image"] == pins.RUNTIME_IMAGE


async def test_custom_bases_are_used() -> None:
    egs = await pipeline(devel_image="ghcr.io/me/devel:1", runtime_image="ghcr.io/me/runtime:1")
    assert calls(egs.builder())[1].args == {"address": "ghcr.io/me/devel:1"}
    assert calls(egs.build_multistage())[1].args == {"address": "ghcr.io/me/runtime:1"}
