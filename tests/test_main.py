"""The module's functions: their options, the verification they run, the lock, offline plans."""

from __future__ import annotations

import pytest
from dagger import ReturnType, dag

from egstalker import Egstalker, pins, steps
from egstalker.assets import asset_text
from egstalker.errors import InvalidOption
from tests.plan import Call, calls, env, execs, named, render

pytestmark = pytest.mark.anyio

PROBE = "/opt/egstalker/programs/probe.py"
REQUIREMENTS_DIR = "/opt/egstalker/requirements"
CONSTRAINTS = f"{REQUIREMENTS_DIR}/constraints.txt"
VARIANTS = ("single-stage", "multistage")


async def pipeline(**options) -> Egstalker:
    return await Egstalker.create(**options)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"arch": "sm_86"}, "invalid architecture list 'sm_86'"),
        ({"arch": "gtx1080"}, "invalid architecture list 'gtx1080'"),
        ({"max_jobs": 0}, "invalid max-jobs 0"),
        ({"devel_image": "not an image"}, "invalid devel-image 'not an image'"),
        ({"rasterizer_commit": "HEAD"}, "invalid rasterizer-commit 'HEAD'"),
        ({"preprocessing": "runtime"}, "invalid preprocessing 'runtime': use one of single-stage"),
        ({"preprocessing": "yes"}, "use one of single-stage, all, none"),
        ({"base_mismatch": "ignore"}, "invalid base-mismatch 'ignore': use one of copy, fail"),
        ({"bake_weights": "false"}, "invalid bake-weights 'false': it is a str; use a bool"),
    ],
)
async def test_bad_options_stop_before_any_container(options: dict, says: str) -> None:
    with pytest.raises(InvalidOption, match=says):
        await pipeline(**options)


def probe(egs: Egstalker, variant: str, gpu: bool, fresh: bool):
    """The probe's exec as ``verify`` adds it to an image."""
    return egs._images().probed(variant, gpu, fresh)


@pytest.mark.parametrize("gpu", [True, False])
async def test_the_probe_gets_gpus_only_when_asked(gpu: bool) -> None:
    egs = await pipeline()
    image = egs.build_multistage()
    probed = probe(egs, "multistage", gpu=gpu, fresh=True)
    added = calls(probed)[len(calls(image)) :]
    assert [c.name for c in added if c.name == "experimentalWithAllGPUs"] == (
        ["experimentalWithAllGPUs"] if gpu else []
    )
    run = added[-1]
    assert run.args["args"][:4] == ["python", PROBE, "--mode", "gpu" if gpu else "cpu"]
    assert run.args["expect"] == ReturnType.ANY.value  # the verdict is read from the report
    assert "EGSTALKER_VERIFY_RUN" in env(probed)  # a fresh run, never a cached exec


def app_commands(args: list[str]) -> list[str]:
    return [args[i + 1] for i, arg in enumerate(args) if arg == "--app-command"]


@pytest.mark.parametrize(
    ("preprocessing", "variant", "commands"),
    [
        ("single-stage", "single-stage",
         ["train.py --help", "render.py --help", "data_utils/process.py --help"]),
        ("single-stage", "multistage", ["train.py --help", "render.py --help"]),
        ("all", "multistage",
         ["train.py --help", "render.py --help", "data_utils/process.py --help"]),
        ("none", "single-stage", ["train.py --help", "render.py --help"]),
    ],
)  # fmt: skip
async def test_verify_runs_the_apps_documented_commands_in_each_image(
    preprocessing: str, variant: str, commands: list[str]
) -> None:
    egs = await pipeline(preprocessing=preprocessing)
    run = execs(probe(egs, variant, gpu=False, fresh=True))[-1]
    assert app_commands(run) == commands
    tools = [run[i + 1] for i, arg in enumerate(run) if arg == "--tool-command"]
    preprocesses = "data_utils/process.py --help" in commands
    assert tools == ["ffmpeg -version", *(["ffprobe -version"] if preprocesses else [])]
    # as the image's own user: the runtime image's probe runs as egstalker, not root
    user = named(probe(egs, variant, gpu=False, fresh=True), "withUser")
    assert (user[-1].args["name"] if user else "root") == (
        "egstalker" if variant == "multistage" else "root"
    )


async def test_a_cached_probe_run_is_stable() -> None:
    egs = await pipeline()
    first = render(probe(egs, "single-stage", gpu=False, fresh=False))
    assert first == render(probe(egs, "single-stage", gpu=False, fresh=False))


async def test_runtime_hygiene_runs_its_program_on_what_the_build_added() -> None:
    egs = await pipeline()
    delta = egs._images().conda_changes()
    image = egs.build_multistage().with_(steps.runtime_hygiene_run(delta))
    assert execs(image)[-1] == [
        "python", "/opt/egstalker/programs/check_runtime.py",
        "/tmp/conda-delta", "/workspace/egstalker", "/opt/egstalker",
    ]  # fmt: skip
    mount = [
        c for c in named(image, "withMountedDirectory") if c.args["path"] == "/tmp/conda-delta"
    ]
    assert mount[-1].args["source"] is delta
    files = {c.args["path"]: c.args["contents"] for c in named(image, "withNewFile")}
    assert files["/opt/egstalker/programs/check_runtime.py"] == asset_text(
        "programs/check_runtime.py"
    )
    assert named(image, "withUser")[-1].args == {"name": "root"}  # it looks everywhere


async def test_a_lock_installs_exactly_the_locked_files() -> None:
    locked = "six==1.16.0 \\\n    --hash=sha256:" + "0" * 64 + "\n"
    base = dag.container().from_("img")
    for requirements in (pins.CORE_REQUIREMENTS, pins.PREPROCESSING_REQUIREMENTS):
        image = base.with_(steps.python_dependencies(requirements, locked, dag.file("uv", "")))
        path = f"{REQUIREMENTS_DIR}/{requirements.lock}"
        files = {c.args["path"]: c.args["contents"] for c in named(image, "withNewFile")}
        assert files[path] == locked
        install = execs(image)[-1]
        assert install[install.index("--python") + 2 : install.index("--build-constraints")] == [
            "--require-hashes", "--no-deps", "-r", path,
        ]  # fmt: skip


async def test_make_lock_resolves_both_sets_in_the_devel_base() -> None:
    locks = (await pipeline()).lock()
    written = {c.args["path"]: c.args["source"] for c in calls(locks) if c.name == "withFile"}
    assert set(written) == {"requirements.lock", "requirements-preprocessing.lock"}
    chain = calls(written["requirements-preprocessing.lock"])
    assert chain[1] == Call("Container", "from", {"address": pins.DEVEL_IMAGE})
    commands = [c.args for c in chain if c.name == "withExec"]
    resolves = [c["args"] for c in commands if c["args"][:3] == ["pip", "install", "--dry-run"]]
    assert [r[r.index("--report") + 2 :] for r in resolves] == [
        ["-r", f"{REQUIREMENTS_DIR}/requirements.txt", "-c", CONSTRAINTS],
        ["-r", f"{REQUIREMENTS_DIR}/requirements.txt",
         "-r", f"{REQUIREMENTS_DIR}/requirements-preprocessing.txt", "-c", CONSTRAINTS],
    ]  # fmt: skip
    second = [c for c in commands if c["args"][1:2] == ["/opt/egstalker/programs/lock.py"]][-1]
    assert second["args"][-2:] == ["--over", "/tmp/requirements.lock"]  # only what it adds


async def test_each_lock_resolves_anew() -> None:
    """`cache="never"` re-runs the function only: the resolving exec needs an input of its own."""
    egs = await pipeline()

    def resolving(locks) -> list[Call]:
        (written,) = [
            c.args["source"] for c in calls(locks) if c.args.get("path") == "requirements.lock"
        ]
        chain = calls(written)
        first = next(
            i for i, c in enumerate(chain) if c.args.get("args", [""])[:2] == ["pip", "install"]
        )
        return chain[: first + 1]

    first, second = resolving(egs.lock()), resolving(egs.lock())
    assert first[-1] == second[-1]  # the same resolve, with a new value before it

    def run(chain: list[Call]) -> list[str]:
        return [c.args["value"] for c in chain if c.args.get("name") == "EGSTALKER_LOCK_RUN"]

    assert len(run(first)) == len(run(second)) == 1
    assert run(first) != run(second)
