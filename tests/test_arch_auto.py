"""`--arch auto`: the engine's own GPUs, asked in a container at each call, mapped offline.

The reports are what gpu_archs.py prints (tests/programs/test_gpu_archs.py runs it for real
on nvidia-smi's output from an H200 host).
"""

from __future__ import annotations

import json

import pytest
from dagger import dag

from egstalker import Egstalker, pins, steps
from egstalker.archs import detected_gpus
from egstalker.errors import InvalidOption
from egstalker.options import checked_settings
from egstalker.sources import git_tree
from tests.plan import calls, execs

pytestmark = pytest.mark.anyio


def report(*gpus: tuple[str, str]) -> str:
    return json.dumps({"gpus": [{"name": n, "capability": c} for n, c in gpus]})


H200 = ("NVIDIA H200", "9.0")


@pytest.mark.parametrize(
    ("gpus", "arch_list", "description"),
    [
        ([H200], "9.0", "NVIDIA H200 (9.0)"),
        ([H200] * 8, "9.0", "8x NVIDIA H200 (9.0)"),
        ([("NVIDIA A10", "8.6"), ("NVIDIA L4", "8.9")], "8.6;8.9",
         "NVIDIA A10 (8.6), NVIDIA L4 (8.9)"),
        ([("Tesla T4", "7.5"), H200], "7.5;9.0", "Tesla T4 (7.5), NVIDIA H200 (9.0)"),
    ],
)  # fmt: skip
def test_the_list_is_built_for_exactly_what_was_found(
    gpus: list[tuple[str, str]], arch_list: str, description: str
) -> None:
    found = detected_gpus(report(*gpus))
    assert (found.arch_list, found.description) == (arch_list, description)
    assert json.loads(found.record())["gpus"][0] == {"name": gpus[0][0], "capability": gpus[0][1]}


@pytest.mark.parametrize(
    ("gpu", "says"),
    [
        (("NVIDIA B200", "10.0"), "needs CUDA 12.8 or newer"),
        (("NVIDIA GeForce RTX 5090", "12.0"), "needs CUDA 12.8 or newer"),
        (("Tesla K20", "3.5"), "torch 2.1.2 has no kernels for it"),
    ],
)
def test_a_gpu_the_bases_cannot_build_for_is_named(gpu: tuple[str, str], says: str) -> None:
    with pytest.raises(InvalidOption) as err:
        detected_gpus(report(H200, gpu))
    message = str(err.value)
    found = f"NVIDIA H200 (9.0), {gpu[0]} ({gpu[1]})"
    assert message.startswith(f"invalid architecture list 'auto': the engine's GPUs are {found}: ")
    assert says in message


@pytest.mark.parametrize("typed", ["auto", "AUTO", " auto\n"])
def test_auto_passes_the_checks_that_need_no_engine(typed: str) -> None:
    assert checked_settings(arch=typed, max_jobs=None)["arch_list"] == "auto"


def test_the_query_runs_with_the_engines_gpus_at_each_call() -> None:
    base = dag.container().from_(pins.RUNTIME_IMAGE)
    first, second = base.with_(steps.gpu_query), base.with_(steps.gpu_query)
    names = [c.name for c in calls(first)]
    assert names.index("experimentalWithAllGPUs") < names.index("withExec")
    assert execs(first) == [["python", "/opt/egstalker/programs/gpu_archs.py"]]

    def nonce(query) -> list[str]:
        return [
            c.args["value"] for c in calls(query) if c.args.get("name") == "EGSTALKER_GPU_QUERY"
        ]

    assert len(nonce(first)) == 1
    assert nonce(first) != nonce(second)  # never the cached answer of an earlier call


def built_for(record: str) -> Egstalker:
    settings = checked_settings(arch="9.0", max_jobs=None)
    source = git_tree(pins.APP)
    return Egstalker(
        source=source, source_revision=pins.APP.commit, detected_gpus=record, **settings
    )


def test_what_was_found_is_in_the_labels_and_the_manifest() -> None:
    found = detected_gpus(report(H200, H200))
    egs = built_for(found.record())
    for image in (egs.build_multistage(), egs.build_single_stage()):
        labels = {c.args["name"]: c.args["value"] for c in calls(image) if c.name == "withLabel"}
        assert labels["io.egstalker.detected-gpus"] == "2x NVIDIA H200 (9.0)"
        assert labels["io.egstalker.cuda-arch-list"] == "9.0"
        (manifest,) = [
            c.args["source"] for c in calls(image) if c.args.get("path") == pins.MANIFEST
        ]
        mounted = {
            c.args["path"]: c.args["source"] for c in calls(manifest) if c.name == "withMountedFile"
        }
        (written,) = [
            c.args["contents"]
            for c in calls(mounted["/tmp/in/detected_gpus.json"])
            if c.name == "withNewFile"
        ]
        assert json.loads(written)["gpus"] == [{"name": "NVIDIA H200", "capability": "9.0"}] * 2


def test_without_auto_nothing_is_recorded() -> None:
    egs = built_for("")
    labels = {c.args["name"] for c in calls(egs.build_multistage()) if c.name == "withLabel"}
    assert "io.egstalker.detected-gpus" not in labels
