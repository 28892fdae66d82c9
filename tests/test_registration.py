"""What `dagger functions` would list, read from the module's registration offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from egstalker import Egstalker, pins

OBJECT = Egstalker.__dagger_object_type__
ROOT = Path(__file__).resolve().parents[1]


def test_user_facing_functions() -> None:
    assert {name for name in OBJECT.functions if name} >= {
        "builder",
        "build_single_stage",
        "build_multistage",
        "verify",
        "verify_all",
    }


# Every function, with the engine's cache policy it must have and why. Since Dagger 0.19 a
# function's result is kept up to 7 days unless it says "never" (core/modfunc.go,
# MaxFunctionCacheTTLSeconds; "never" adds a per-call input, cacheImplicitInputs); this
# module's dagger.json makes the default one session (test below).
CACHED = None
NEVER = "never"
CACHE_POLICIES = {
    "builder": (CACHED, "a build of pinned inputs: the same options give the same image"),
    "build_single_stage": (CACHED, "a build of pinned inputs"),
    "build_multistage": (CACHED, "a build of pinned inputs"),
    "size_breakdown": (CACHED, "measures files of a cached build, which do not change"),
    "probe_without_gpu": (CACHED, "a check of a cached image: it passes or fails the same way"),
    "runtime_hygiene": (CACHED, "a check of a cached image"),
    "verify": (NEVER, "the user asks for the probe to run now, on this engine's GPU"),
    "verify_all": (NEVER, "the same, for both images"),
    "report": (NEVER, "measures this run's build times"),
    "export_all": (NEVER, "holds the report, which measures this run"),
    "publish": (NEVER, "pushes to a registry: a side effect every call must have"),
    "lock": (NEVER, "resolves against the package index, which moves"),
    "pin_bases": (NEVER, "reads the tags' current digests, which move"),
}


def test_a_default_cached_result_lasts_one_session() -> None:
    """`--arch auto` asks the engine's GPUs in the constructor, which has no cache policy of
    its own: kept for a week, it would build for GPUs an engine no longer has. With
    disableDefaultFunctionCaching every default-cached function is per-session
    (core/typedef.go derivedCachePolicy); the build steps stay cached by their inputs."""
    config = json.loads((ROOT / "dagger.json").read_text())
    assert config["disableDefaultFunctionCaching"] is True


def test_every_function_has_a_reasoned_cache_policy() -> None:
    registered = {name for name in OBJECT.functions if name}
    assert registered == set(CACHE_POLICIES), "classify each new function in CACHE_POLICIES"


@pytest.mark.parametrize(("name", "policy"), [(n, p) for n, (p, _) in CACHE_POLICIES.items()])
def test_cache_policy(name: str, policy: str | None) -> None:
    assert OBJECT.functions[name].cache_policy == policy


def test_verification_is_never_cached_and_checks_need_no_gpu() -> None:
    assert OBJECT.functions["verify"].cache_policy == "never"
    assert OBJECT.functions["verify_all"].cache_policy == "never"
    checks = {name for name, fn in OBJECT.functions.items() if name and fn.check}
    assert checks == {"probe_without_gpu", "runtime_hygiene"}
    for name in checks:
        assert not OBJECT.functions[name].parameters  # `dagger check` passes no arguments
    verify = OBJECT.functions["verify"].parameters
    assert json.loads(verify["gpu"].default_value) is False  # GPUs only when asked
    assert json.loads(verify["variant"].default_value) == "multistage"


def test_every_function_and_argument_is_documented() -> None:
    OBJECT.get_constructor()
    for name, fn in OBJECT.functions.items():
        assert fn.doc, f"function {name!r} has no docstring"
        for param in fn.parameters.values():
            assert param.doc, f"argument {param.name!r} of {name!r} has no Doc"
    for name, fld in OBJECT.fields.items():
        assert fld.return_type is not None, name


def test_constructor_options_and_defaults() -> None:
    params = OBJECT.get_constructor().parameters
    defaults = {p.name: p.default_value for p in params.values()}
    assert json.loads(defaults["arch"]) == "8.6"
    assert json.loads(defaults["max_jobs"]) is None
    assert json.loads(defaults["devel_image"]) == pins.DEVEL_IMAGE
    assert json.loads(defaults["runtime_image"]) == pins.RUNTIME_IMAGE
    assert json.loads(defaults["rasterizer_commit"]) == pins.RASTERIZER.commit
    assert json.loads(defaults["simple_knn_commit"]) == pins.SIMPLE_KNN.commit
    assert json.loads(defaults["pytorch3d"]) is True
    assert params["source"].is_optional
