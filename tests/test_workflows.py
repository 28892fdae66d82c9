"""The GitHub workflows are valid, and every `dagger call` we document names what exists."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import dagger
import pytest
import yaml

from egstalker import Egstalker

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
OBJECT = Egstalker.__dagger_object_type__
CONSTRUCTOR = OBJECT.get_constructor().parameters


def kebab(name: str) -> str:
    return name.replace("_", "-")


FUNCTIONS = {kebab(name): fn for name, fn in OBJECT.functions.items() if name}
OPTIONS = {kebab(p.name): p for p in CONSTRUCTOR.values()}


def dagger_steps() -> list[dict]:
    return [
        step
        for workflow in WORKFLOWS
        for job in yaml.safe_load(workflow.read_text())["jobs"].values()
        for step in job["steps"]
        if "dagger/dagger-for-github" in step.get("uses", "")
    ]


def workflow_calls() -> list[str]:
    return [step["with"]["call"] for step in dagger_steps() if "call" in step["with"]]


def documented_calls() -> list[str]:
    texts = [ROOT / "Makefile", ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = []
    for path in texts:
        for match in re.finditer(r"dagger call ([^\n#`]*)", path.read_text()):
            found.append(match[1].strip())
    return found


def split_options(tokens: list[str], known: dict, where: str) -> list[str]:
    """Consume leading --options (checked against ``known``); return the rest."""
    while tokens and tokens[0].startswith("--"):
        name, has_value, _ = tokens.pop(0)[2:].partition("=")
        assert name in known, f"{where}: no option --{name} (known: {sorted(known)})"
        boolean = known[name].resolved_type is bool
        if not has_value and not boolean:
            assert tokens, f"{where}: --{name} needs a value"
            tokens.pop(0)
    return tokens


def check_call(call: str) -> None:
    tokens = shlex.split(call.replace("${{", "'").replace("}}", "'"))
    rest = split_options(tokens, OPTIONS, "module")
    assert rest, f"no function in `dagger call {call}`"
    name = rest.pop(0)
    assert name in FUNCTIONS, f"`dagger call {call}`: no function {name!r}"
    params = {kebab(p.name): p for p in FUNCTIONS[name].parameters.values()}
    rest = split_options(rest, params, name)
    if rest:  # a call chained on the returned object, e.g. `export --path=...`
        returned = FUNCTIONS[name].return_type
        assert hasattr(returned, rest[0].replace("-", "_")), f"{returned} has no {rest[0]}"


def test_workflows_match_the_github_schema() -> None:
    assert WORKFLOWS
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         *map(str, WORKFLOWS)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_pin_the_dagger_cli() -> None:
    assert dagger_steps()
    for step in dagger_steps():
        assert step["uses"].endswith("@v8.4.1")
        assert step["with"]["version"] == "0.21.11"


def test_gpu_job_enables_gpu_support() -> None:
    gpu = yaml.safe_load((ROOT / ".github" / "workflows" / "gpu.yml").read_text())
    job = gpu["jobs"]["verify"]
    assert "self-hosted" in job["runs-on"]
    assert job["env"]["_EXPERIMENTAL_DAGGER_GPU_SUPPORT"] == "1"


@pytest.mark.parametrize("call", workflow_calls() + documented_calls())
def test_every_dagger_call_names_what_exists(call: str) -> None:
    check_call(call)


def test_a_wrong_call_is_caught() -> None:
    with pytest.raises(AssertionError, match="no function 'build-runtime'"):
        check_call("--arch 8.6 build-runtime")
    with pytest.raises(AssertionError, match="no option --archs"):
        check_call("--archs 8.6 build-multistage")
    with pytest.raises(AssertionError, match="has no exportt"):
        check_call("build-multistage exportt --path=x")


def test_container_results_can_be_exported() -> None:
    assert FUNCTIONS["build-multistage"].return_type is dagger.Container
