"""Every option against hostile and malformed values: a clear error, or one safe argument."""

from __future__ import annotations

from typing import Any

import pytest
from dagger import dag

from egstalker import Egstalker
from egstalker.errors import InvalidOption
from tests.plan import calls, render

pytestmark = pytest.mark.anyio

SHELL = ["; rm -rf /", "$(id)", "`id`", "| cat /etc/passwd", "&& reboot", "\nreboot"]
LONG = "x" * 10_000


def metachar_values(base: str) -> list[str]:
    return [base + s for s in SHELL]


FULLWIDTH_86 = "\uff18.\uff16"  # "8.6" in fullwidth digits
# Values of the wrong type, as a Python caller of the module can pass them.
WRONG_TYPES: dict[str, list[Any]] = {
    "arch": [8.6, 86, None, ["8.6"]],
    "max_jobs": [4.5, 4.0, True, "4"],
    "devel_image": [None, 1],
    "runtime_image": [b"img:1"],
    "rasterizer_commit": [0],
    "simple_knn_commit": [None],
    "pytorch3d": ["false", 0, None],
    "non_root": ["no", 1],
}
REFUSED_VALUES: dict[str, list[Any]] = {
    "arch": ["", " ", FULLWIDTH_86, "8.6\u0436", LONG, "8.6;;", *metachar_values("8.6")],
    "max_jobs": [0, -1, -(2**63), 2**63, 10**9],
    "devel_image": ["", "Ubuntu", "\u00efmage:1", "a:" + "t" * 200, *metachar_values("ubuntu")],
    "runtime_image": ["", "img@sha256:123", "img:tag:tag", *metachar_values("img:1")],
    "rasterizer_commit": ["", "HEAD", "\u00e4" * 40, "A" * 40, LONG, *metachar_values("a" * 40)],
    "simple_knn_commit": ["", "main", "0" * 39, "0" * 41, *metachar_values("0" * 40)],
}
for _option, _values in WRONG_TYPES.items():
    REFUSED_VALUES.setdefault(_option, []).extend(_values)
REFUSED = [(option, value) for option, values in REFUSED_VALUES.items() for value in values]


@pytest.mark.parametrize(("option", "value"), REFUSED)
async def test_refused_with_the_option_named(option: str, value: Any) -> None:
    with pytest.raises(InvalidOption) as err:
        await Egstalker.create(**{option: value})
    name = {"arch": "architecture list"}.get(option, option.replace("_", "-"))
    assert str(err.value).startswith(f"invalid {name} ")
    assert len(str(err.value)) < 1_000  # what is allowed, briefly; a long value is cut short
    assert str(err.value).isascii()  # lookalike characters are shown escaped


@pytest.mark.parametrize(
    ("option", "value"), [(o, v) for o, values in WRONG_TYPES.items() for v in values]
)
async def test_wrong_types_name_the_type_and_the_one_expected(option: str, value: Any) -> None:
    with pytest.raises(InvalidOption, match=rf"it is a {type(value).__name__}; use a"):
        await Egstalker.create(**{option: value})


@pytest.mark.parametrize(
    "image",
    [
        "registry.invalid/nobody/nothing:never",  # well formed, absent: the pull says so
        "pytorch/pytorch:9.9.9-cuda99-cudnn9-devel",
        "localhost:5000/a/b@sha256:" + "f" * 64,
    ],
)
async def test_wellformed_images_pass_as_one_argument(image: str) -> None:
    egs = await Egstalker.create(devel_image=image, runtime_image=image)
    assert calls(egs.builder())[1].args == {"address": image}
    assert calls(egs.build_multistage())[1].args == {"address": image}


def is_plan(value: tuple) -> bool:
    return isinstance(value[0], tuple) and len(value[0]) == 3 and isinstance(value[0][2], tuple)


def every_exec(obj: Any) -> list[list[str]]:
    """The argv of every withExec in a plan, nested objects included."""
    found = []

    def walk(node: tuple) -> None:
        for _type, name, args in node:
            for key, value in args:
                if name == "withExec" and key == "args":
                    found.append(list(value))
                if isinstance(value, tuple) and value and is_plan(value):
                    walk(value)

    walk(render(obj))
    return found


async def test_no_command_goes_through_a_shell() -> None:
    egs = await Egstalker.create(arch="a100,a10", max_jobs=4)
    for image in (egs.build_single_stage(), egs.build_multistage()):
        commands = every_exec(image)
        assert len(commands) >= 6
        for argv in commands:
            assert not (argv[0] in {"sh", "bash"} and "-c" in argv), argv


async def test_usernames_reach_the_registry_as_one_argument() -> None:
    egs = await Egstalker.create()
    odd = "me; rm -rf / $(id)"
    image = egs._publishable("multistage", "ghcr.io/me/x", odd, dag.set_secret("t", "v"))
    (auth,) = [c for c in calls(image) if c.name == "withRegistryAuth"]
    assert auth.args["username"] == odd


@pytest.mark.parametrize(
    ("typed", "used"), [("8.6\n", "8.6"), (" a10 ", "8.6"), ("8.6;8.6", "8.6")]
)
async def test_harmless_variants_are_normalized(typed: str, used: str) -> None:
    egs = await Egstalker.create(arch=typed)
    assert egs.arch_list == used
