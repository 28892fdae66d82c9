"""The live-engine path: real builds and checks. Skipped, with the reason, without an engine."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagger
import pytest
from dagger import dag

from egstalker import Egstalker
from egstalker.errors import InvalidOption

pytestmark = [pytest.mark.anyio, pytest.mark.engine]

ARCH = os.environ.get("EGSTALKER_TEST_ARCH", "8.6")


@pytest.fixture
async def connected():
    async with dagger.connection():
        yield


async def test_runtime_image_runs_the_app_and_has_no_compiler(connected) -> None:
    image = (await Egstalker.create(arch=ARCH, pytorch3d=False)).build_multistage()
    help_text = await image.with_exec(["python", "train.py", "--help"]).stdout()
    assert "--configs" in help_text
    tools = await image.with_exec(
        ["sh", "-c", "for t in gcc g++ cc nvcc; do command -v $t; done; true"]
    ).stdout()
    assert tools.strip() == ""
    manifest = json.loads(await image.file("/opt/egstalker/manifest.json").contents())
    assert manifest["arch_list"] == ARCH
    assert manifest["bases"]["identical"] in (True, False)  # the bases were compared
    assert {w["name"] for w in manifest["weights"]} >= {"vgg16"}  # baked, with their sha256
    assert await image.label("io.egstalker.cuda-arch-list") == ARCH


async def test_checks_pass(connected) -> None:
    egs = await Egstalker.create(arch=ARCH, pytorch3d=False)
    await egs.probe_without_gpu()
    await egs.runtime_hygiene()


async def test_a_tree_that_is_not_egstalker_is_refused(connected, tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("not the app")
    with pytest.raises(InvalidOption, match="not an EGSTalker checkout"):
        await Egstalker.create(source=dag.host().directory(str(tmp_path)))


@pytest.mark.gpu
async def test_gpu_verification_launches_kernels(connected) -> None:
    egs = await Egstalker.create(arch=ARCH, pytorch3d=False)
    report = json.loads(await egs.verify("multistage", gpu=True))
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["simple_knn kernel"] == "passed"
    assert statuses["rasterizer kernels"] == "passed"


@pytest.mark.skipif(
    bool(os.environ.get("_EXPERIMENTAL_DAGGER_GPU_SUPPORT")), reason="the engine has GPU support"
)
async def test_auto_without_gpu_support_fails_at_once_with_the_fix(connected) -> None:
    with pytest.raises(InvalidOption, match="the engine has no GPU support: start dagger with"):
        await Egstalker.create(arch="auto")


@pytest.mark.gpu
async def test_auto_builds_for_the_engines_gpus(connected) -> None:
    egs = await Egstalker.create(arch="auto", pytorch3d=False)
    found = json.loads(egs.detected_gpus)
    assert found["arch_list"] == egs.arch_list
    image = egs.build_multistage()
    assert await image.label("io.egstalker.detected-gpus") == found["description"]
    manifest = json.loads(await image.file("/opt/egstalker/manifest.json").contents())
    assert manifest["detected_gpus"]["gpus"] == found["gpus"]
