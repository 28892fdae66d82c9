"""The plan of every function, read offline from the SDK's lazy objects."""

from __future__ import annotations

import dataclasses

import pytest
from dagger import ReturnType, dag

from egstalker import Egstalker, pins, steps
from egstalker.assets import asset_text
from egstalker.errors import InvalidOption
from tests.plan import Call, calls, env, execs, named, render, strings

pytestmark = pytest.mark.anyio

APT_INSTALL = "/opt/egstalker/programs/apt_install.sh"
BUILD_EXTENSION = "/opt/egstalker/programs/build_extension.py"
CHECK_ARCHS = "/opt/egstalker/programs/check_archs.py"
PROBE = "/opt/egstalker/programs/probe.py"
REQUIREMENTS = "/opt/egstalker/requirements/requirements.txt"
CONSTRAINTS = "/opt/egstalker/requirements/constraints.txt"
PIP_INSTALL = ["pip", "install", "-r", REQUIREMENTS, "-c", CONSTRAINTS]
COMPILERS = {"gcc", "g++", "cc", "c++", "nvcc", "build-essential", "clang"}


async def pipeline(**options) -> Egstalker:
    return await Egstalker.create(**options)


def local_tree(train_py: str) -> object:
    return dag.directory().with_new_file("train.py", train_py).with_new_directory("scene")


def compile_steps(ctr) -> list[list[str]]:
    return [args for args in execs(ctr) if args[1:2] == [BUILD_EXTENSION]]


def mounted_source(ctr, name: str) -> list[Call]:
    (mount,) = [c for c in named(ctr, "withMountedDirectory") if c.args["path"].endswith(name)]
    return calls(mount.args["source"])


def labels(ctr) -> dict[str, str]:
    return {c.args["name"]: c.args["value"] for c in named(ctr, "withLabel")}


async def test_builder_starts_from_the_devel_base_and_installs_build_tools() -> None:
    builder = (await pipeline()).builder()
    assert calls(builder)[1] == Call("Container", "from", {"address": pins.DEVEL_IMAGE})
    apt = [a for a in execs(builder) if a[:2] == ["sh", APT_INSTALL]]
    assert apt == [["sh", APT_INSTALL, "ccache", "git", "ninja-build", "libglm-dev"]]


async def test_python_dependencies_in_one_install_under_constraints_with_a_pip_cache() -> None:
    builder = (await pipeline()).builder()
    pip = [a for a in execs(builder) if a[:2] == ["pip", "install"]]
    assert pip == [PIP_INSTALL]
    files = {c.args["path"]: c.args["contents"] for c in named(builder, "withNewFile")}
    assert files[REQUIREMENTS] == asset_text("data/requirements.txt")
    constraints = files[CONSTRAINTS]
    for pin in ("torch==2.1.2", "torchvision==0.16.2", "torchaudio==2.1.2", "numpy<2"):
        assert pin in constraints.splitlines()
    caches = {
        c.args["path"]: calls(c.args["cache"])[-1].args for c in named(builder, "withMountedCache")
    }
    assert caches["/root/.cache/pip"] == {"key": "egstalker-pip-py310-cu118"}


async def test_compilers_share_a_persistent_ccache() -> None:
    builder = (await pipeline()).builder()
    caches = {
        c.args["path"]: calls(c.args["cache"])[-1].args for c in named(builder, "withMountedCache")
    }
    assert caches["/root/.cache/ccache"] == {"key": "egstalker-ccache-cu118-gcc11"}
    for args in compile_steps(builder):
        assert args[-2:] == ["--ccache-dir", "/root/.cache/ccache"]
    files = {c.args["path"] for c in named(builder, "withNewFile")}
    assert "/opt/egstalker/programs/nvcc_ccache.py" in files
    assert "ccache" in pins.BUILD_APT_PACKAGES


async def test_requirements_cover_what_earlier_images_missed() -> None:
    names = {
        line.split("==")[0].lower()
        for line in asset_text("data/requirements.txt").splitlines()
        if line and not line.startswith("#")
    }
    assert {"wandb", "transformers", "librosa", "torchinfo", "mmcv", "lpips", "open3d-cpu"} <= names
    assert not names & {"torch", "torchvision", "torchaudio", "numpy", "pytorch3d", "simple_knn"}


async def test_extensions_compile_for_the_arch_list_from_their_pinned_commits() -> None:
    builder = (await pipeline(arch="a100,a10")).builder()
    assert env(builder)["TORCH_CUDA_ARCH_LIST"] == "8.0;8.6"
    assert env(builder)["FORCE_CUDA"] == "1"
    assert "MAX_JOBS" not in env(builder)  # chosen inside the builder
    assert [args[2] for args in compile_steps(builder)] == [
        "pytorch3d", "simple_knn", "diff_gaussian_rasterization",
    ]  # fmt: skip
    for pin in (pins.SIMPLE_KNN, pins.RASTERIZER):
        source = mounted_source(builder, pin.name)
        assert Call("Query", "git", {"url": pin.url}) in source
        assert Call("GitRepository", "commit", {"id": pin.commit}) in source
        (tree,) = [c for c in source if c.name == "tree"]
        assert tree.args["discardGitDir"] is True
        (filt,) = [c for c in source if c.name == "filter"]
        assert "**/*.so" in filt.args["exclude"]  # stale prebuilt objects never reach the build
    program = {c.args["path"]: c.args["contents"] for c in named(builder, "withNewFile")}
    assert program[BUILD_EXTENSION] == asset_text("programs/build_extension.py")


async def test_explicit_max_jobs_and_commits_reach_the_build() -> None:
    commit = "60f461f4a56b7967e5d8045bf92f8c33f36976d0"
    builder = (await pipeline(max_jobs=6, simple_knn_commit=commit)).builder()
    assert env(builder)["MAX_JOBS"] == "6"
    assert Call("GitRepository", "commit", {"id": commit}) in mounted_source(builder, "simple_knn")


async def test_pytorch3d_can_be_left_out() -> None:
    builder = (await pipeline(pytorch3d=False)).builder()
    names = [args[2] for args in compile_steps(builder)]
    assert names == ["simple_knn", "diff_gaussian_rasterization"]
    assert pins.PYTORCH3D.url not in set(strings(builder))


async def test_arch_settings_come_after_the_dependency_install() -> None:
    builder = (await pipeline()).builder()
    order = [(c.name, c.args.get("name") or c.args.get("args")) for c in calls(builder)]
    pip_at = order.index(("withExec", PIP_INSTALL))
    assert order.index(("withEnvVariable", "TORCH_CUDA_ARCH_LIST")) > pip_at


async def test_builder_does_not_depend_on_the_app_source() -> None:
    base = await pipeline()
    edited = dataclasses.replace(base, source=local_tree("print('edited')"))
    assert render(base.builder()) == render(edited.builder())  # editing train.py recompiles nothing
    assert render(base.build_single_stage()) != render(edited.build_single_stage())
    assert pins.APP.url not in set(strings(base.builder()))


async def test_single_stage_is_the_builder_with_the_app() -> None:
    egs = await pipeline()
    single = egs.build_single_stage()
    builder_plan = render(egs.builder())
    assert render(single)[: len(builder_plan)] == builder_plan
    (app,) = [c for c in named(single, "withDirectory") if c.args["path"] == pins.APP_DIR]
    assert Call("GitRepository", "commit", {"id": pins.APP.commit}) in calls(app.args["source"])
    assert ".git" in app.args["exclude"]
    assert named(single, "withWorkdir")[-1].args == {"path": "/workspace/egstalker"}
    assert env(single)["PYTHONPATH"] == "/workspace/egstalker/scene/KAN"  # ikan importable


async def test_multistage_copies_conda_and_app_from_the_shared_builder() -> None:
    egs = await pipeline()
    runtime = egs.build_multistage()
    assert calls(runtime)[1] == Call("Container", "from", {"address": pins.RUNTIME_IMAGE})
    copied = {c.args["path"]: c.args["source"] for c in named(runtime, "withDirectory")}
    assert set(copied) == {"/opt/conda", "/workspace/egstalker"}
    builder_plan = render(egs.builder())
    app = copied["/workspace/egstalker"]
    assert calls(app)[-1] == Call("Container", "directory", {"path": "/workspace/egstalker"})
    assert render(app)[: len(builder_plan)] == builder_plan  # one builder chain serves both


async def test_runtime_takes_only_what_the_builder_added_to_conda() -> None:
    egs = await pipeline()
    runtime = egs.build_multistage()
    (conda,) = [c for c in named(runtime, "withDirectory") if c.args["path"] == "/opt/conda"]
    delta = calls(conda.args["source"])
    # the devel base's own /opt/conda ...
    assert delta[:3] == [
        Call("Query", "container", {}),
        Call("Container", "from", {"address": pins.DEVEL_IMAGE}),
        Call("Container", "directory", {"path": "/opt/conda"}),
    ]
    # ... diffed against the builder's: the delta holds no file of the base
    assert delta[-1].name == "diff"
    upper = delta[-1].args["other"]
    assert calls(upper)[-1] == Call("Container", "directory", {"path": "/opt/conda"})
    assert render(upper)[:-1] == render(egs.builder())
    assert len(delta) == 4  # never the builder's whole /opt/conda


async def test_runtime_deletes_what_the_builder_removed_before_adding() -> None:
    egs = await pipeline()
    runtime = egs.build_multistage()
    chain = calls(runtime)
    removal = next(c for c in chain if c.name == "withExec" and "apply" in c.args["args"])
    assert removal.args["args"] == [
        "python", "/opt/egstalker/programs/conda_delta.py", "apply",
        "/tmp/conda-removed.txt", "/opt/conda",
    ]  # fmt: skip
    copy = next(c for c in chain if c.name == "withDirectory" and c.args["path"] == "/opt/conda")
    assert chain.index(removal) < chain.index(copy)
    (mount,) = named(runtime, "withMountedFile")
    assert Call("Container", "withoutMount", {"path": "/tmp/conda-removed.txt"}) in chain
    listing = calls(mount.args["source"])  # computed beside the builder, from the devel base
    assert listing[1] == Call("Container", "from", {"address": pins.DEVEL_IMAGE})
    (built,) = [c for c in listing if c.name == "withMountedDirectory"]
    assert render(built.args["source"])[:-1] == render(egs.builder())
    assert listing[-2].args["args"][2:] == ["removed", "/opt/conda", "/built"]
    assert named(runtime, "withWorkdir")[-1].args == {"path": "/workspace/egstalker"}
    assert env(runtime)["PYTHONPATH"] == "/workspace/egstalker/scene/KAN"


async def test_multistage_installs_no_compiler() -> None:
    runtime = (await pipeline()).build_multistage()
    own_execs = execs(runtime)  # this chain's commands; the builder's run in the copied sources
    assert own_execs[0] == ["sh", APT_INSTALL, *pins.RUNTIME_APT_PACKAGES]
    assert [a[:2] for a in own_execs[1:]] == [
        ["python", "/opt/egstalker/programs/conda_delta.py"],
        ["useradd", "--create-home"],
    ]
    assert not COMPILERS & set(pins.RUNTIME_APT_PACKAGES)
    assert all(c.args.get("address") != pins.DEVEL_IMAGE for c in calls(runtime))
    assert "ffmpeg" in pins.RUNTIME_APT_PACKAGES


async def test_both_images_are_labelled() -> None:
    egs = await pipeline(arch="8.0;8.6")
    for ctr, variant, base in [
        (egs.build_single_stage(), "single-stage", pins.DEVEL_IMAGE),
        (egs.build_multistage(), "multistage", pins.RUNTIME_IMAGE),
    ]:
        got = labels(ctr)
        assert got["io.egstalker.variant"] == variant
        assert got["io.egstalker.cuda-arch-list"] == "8.0;8.6"
        assert got["org.opencontainers.image.revision"] == pins.APP.commit
        assert got["org.opencontainers.image.source"] == pins.APP.url
        assert got["org.opencontainers.image.base.name"] == base
        assert got["io.egstalker.devel-image"] == pins.DEVEL_IMAGE
        assert got["io.egstalker.runtime-image"] == pins.RUNTIME_IMAGE


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"arch": "sm_86"}, "invalid architecture list 'sm_86'"),
        ({"arch": "gtx1080"}, "invalid architecture list 'gtx1080'"),
        ({"max_jobs": 0}, "invalid max-jobs 0"),
        ({"devel_image": "not an image"}, "invalid devel-image 'not an image'"),
        ({"rasterizer_commit": "HEAD"}, "invalid rasterizer-commit 'HEAD'"),
    ],
)
async def test_bad_options_stop_before_any_container(options: dict, says: str) -> None:
    with pytest.raises(InvalidOption, match=says):
        await pipeline(**options)


async def test_custom_bases_are_used() -> None:
    egs = await pipeline(devel_image="ghcr.io/me/devel:1", runtime_image="ghcr.io/me/runtime:1")
    assert calls(egs.builder())[1].args == {"address": "ghcr.io/me/devel:1"}
    assert calls(egs.build_multistage())[1].args == {"address": "ghcr.io/me/runtime:1"}


async def test_builder_checks_the_compiled_code_and_writes_the_manifest() -> None:
    builder = (await pipeline(arch="8.0;8.6")).builder()
    last = execs(builder)[-1]
    assert last[:4] == ["python", CHECK_ARCHS, "--manifest", pins.MANIFEST]
    assert last[-3:] == ["pytorch3d", "simple_knn", "diff_gaussian_rasterization"]
    commits = [last[i + 1] for i, arg in enumerate(last) if arg == "--commit"]
    assert commits == [
        f"pytorch3d={pins.PYTORCH3D.commit}",
        f"simple_knn={pins.SIMPLE_KNN.commit}",
        f"diff_gaussian_rasterization={pins.RASTERIZER.commit}",
    ]
    # it reads TORCH_CUDA_ARCH_LIST, set above it in the same chain
    assert env(builder)["TORCH_CUDA_ARCH_LIST"] == "8.0;8.6"
    without = execs((await pipeline(pytorch3d=False)).builder())[-1]
    assert "pytorch3d" not in " ".join(without)


async def test_multistage_carries_the_manifest_from_the_builder() -> None:
    egs = await pipeline()
    runtime = egs.build_multistage()
    (manifest,) = named(runtime, "withFile")
    assert manifest.args["path"] == pins.MANIFEST
    source = manifest.args["source"]
    assert calls(source)[-1] == Call("Container", "file", {"path": pins.MANIFEST})
    builder_plan = render(egs.builder())
    assert render(source)[: len(builder_plan)] == builder_plan


@pytest.mark.parametrize("gpu", [True, False])
async def test_the_probe_gets_gpus_only_when_asked(gpu: bool) -> None:
    image = (await pipeline()).build_multistage()
    probed = image.with_(steps.probe_run(gpu=gpu, fresh=True))
    added = calls(probed)[len(calls(image)) :]
    assert [c.name for c in added if c.name == "experimentalWithAllGPUs"] == (
        ["experimentalWithAllGPUs"] if gpu else []
    )
    run = added[-1]
    assert run.args["args"] == ["python", PROBE, "--mode", "gpu" if gpu else "cpu"]
    assert run.args["expect"] == ReturnType.ANY.value  # the verdict is read from the report
    assert "EGSTALKER_VERIFY_RUN" in env(probed)  # a fresh run, never a cached exec


async def test_a_cached_probe_run_is_stable() -> None:
    image = (await pipeline()).build_single_stage()
    first = render(image.with_(steps.probe_run(gpu=False, fresh=False)))
    assert first == render(image.with_(steps.probe_run(gpu=False, fresh=False)))


async def test_runtime_hygiene_runs_its_program_on_what_the_build_added() -> None:
    egs = await pipeline()
    delta = egs._conda_delta()
    image = egs.build_multistage().with_(steps.runtime_hygiene_run(delta))
    assert execs(image)[-1] == [
        "python", "/opt/egstalker/programs/check_runtime.py",
        "/tmp/conda-delta", "/workspace/egstalker", "/opt/egstalker",
    ]  # fmt: skip
    (mount,) = [
        c for c in named(image, "withMountedDirectory") if c.args["path"] == "/tmp/conda-delta"
    ]
    assert mount.args["source"] is delta
    files = {c.args["path"]: c.args["contents"] for c in named(image, "withNewFile")}
    assert files["/opt/egstalker/programs/check_runtime.py"] == asset_text(
        "programs/check_runtime.py"
    )


async def test_runtime_runs_as_its_own_user_with_writable_app_and_caches() -> None:
    runtime = (await pipeline()).build_multistage()
    assert named(runtime, "withUser")[-1].args == {"name": "egstalker"}
    (useradd,) = [a for a in execs(runtime) if a[0] == "useradd"]
    assert useradd[-3:] == ["--user-group", "egstalker"] or useradd[-2:] == [
        "--user-group",
        "egstalker",
    ]
    assert env(runtime)["HOME"] == "/home/egstalker"
    assert env(runtime)["TORCH_HOME"] == "/home/egstalker/.cache/torch"  # vgg16 weights land here
    (app,) = [c for c in named(runtime, "withDirectory") if c.args["path"] == pins.APP_DIR]
    assert app.args["owner"] == "egstalker"
    chain = calls(runtime)
    assert chain.index(named(runtime, "withUser")[-1]) < chain.index(app)


async def test_root_runtime_on_request_and_single_stage_stays_root() -> None:
    egs = await pipeline(non_root=False)
    assert not named(egs.build_multistage(), "withUser")
    assert not named((await pipeline()).build_single_stage(), "withUser")


async def test_hygiene_check_runs_as_root() -> None:
    egs = await pipeline()
    image = egs.build_multistage().with_(steps.runtime_hygiene_run(egs._conda_delta()))
    assert named(image, "withUser")[-1].args == {"name": "root"}


async def test_source_builds_get_a_setuptools_that_still_has_pkg_resources() -> None:
    builder = (await pipeline()).builder()
    chain = calls(builder)
    install = next(c for c in chain if c.name == "withExec" and c.args["args"] == PIP_INSTALL)
    at = chain.index(install)
    build_constraints = "/opt/egstalker/requirements/build-constraints.txt"
    for variable in ("PIP_BUILD_CONSTRAINT", "PIP_CONSTRAINT"):  # new pips, old pips
        setting = Call(
            "Container", "withEnvVariable", {"name": variable, "value": build_constraints}
        )
        assert setting in chain[at - 2 : at]
        assert Call("Container", "withoutEnvVariable", {"name": variable}) in chain[at + 1 : at + 3]
    assert "PIP_CONSTRAINT" not in env(egs_image := builder) or named(
        egs_image, "withoutEnvVariable"
    )
    assert "setuptools<81" in asset_text("data/build-constraints.txt").splitlines()


async def test_a_lock_installs_exactly_the_locked_files() -> None:
    locked = "six==1.16.0 \\\n    --hash=sha256:" + "0" * 64 + "\n"
    base = dag.container().from_("img")
    image = base.with_(steps.python_dependencies(locked))
    files = {c.args["path"]: c.args["contents"] for c in named(image, "withNewFile")}
    assert files["/opt/egstalker/requirements/requirements.lock"] == locked
    assert execs(image)[-1] == [
        "pip", "install", "--require-hashes", "--no-deps",
        "-r", "/opt/egstalker/requirements/requirements.lock", "-c", CONSTRAINTS,
    ]  # fmt: skip


async def test_make_lock_resolves_in_the_devel_base() -> None:
    lock_file = (await pipeline()).lock()
    chain = calls(lock_file)
    assert chain[1] == Call("Container", "from", {"address": pins.DEVEL_IMAGE})
    resolve, write = [c.args for c in chain if c.name == "withExec"]
    assert resolve["args"][:5] == ["pip", "install", "--dry-run", "--quiet", "--report"]
    assert write["args"][1] == "/opt/egstalker/programs/lock.py"
    assert chain[-1] == Call("Container", "file", {"path": write["redirectStdout"]})
