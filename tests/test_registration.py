"""What `dagger functions` would list, read from the module's registration offline."""

from __future__ import annotations

import json

from egstalker import Egstalker, pins

OBJECT = Egstalker.__dagger_object_type__


def test_user_facing_functions() -> None:
    assert {name for name in OBJECT.functions if name} >= {
        "builder",
        "build_single_stage",
        "build_multistage",
        "verify",
        "verify_all",
    }


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
