"""The GitHub workflows and the Makefile: valid, safe with any input, and every `dagger call`
they (and the docs) make names functions and options that exist.

Workflow scripts and make targets are run for real with bash and make; where they would
call the Dagger CLI, a stand-in `dagger` on PATH records its arguments instead.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagger
import pytest
import yaml

from egstalker import Egstalker
from egstalker.registry import check_repository

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
OBJECT = Egstalker.__dagger_object_type__
CONSTRUCTOR = OBJECT.get_constructor().parameters
DAGGER_VERSION = "0.21.11"  # the README's, and dagger.json's
HOSTILE = ["8.6; touch PWNED", "$(touch PWNED)", "`touch PWNED`", "8.6\ntouch PWNED", "' \" \\"]


def kebab(name: str) -> str:
    return name.replace("_", "-")


FUNCTIONS = {kebab(name): fn for name, fn in OBJECT.functions.items() if name}
OPTIONS = {kebab(p.name): p for p in CONSTRUCTOR.values()}


# --- reading the workflows -------------------------------------------------------------


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def jobs() -> Iterator[tuple[str, str, dict]]:
    for workflow in WORKFLOWS:
        for job_id, job in yaml.safe_load(workflow.read_text())["jobs"].items():
            yield workflow.name, job_id, job


def steps() -> Iterator[tuple[str, dict]]:
    for workflow, job_id, job in jobs():
        for step in job["steps"]:
            yield (
                f"{workflow} {job_id}: {step.get('name', step.get('uses', step.get('run')))}",
                step,
            )


def run_steps() -> list[tuple[str, dict]]:
    return [(where, step) for where, step in steps() if "run" in step]


def dagger_steps() -> list[dict]:
    return [step for _, step in steps() if "dagger/dagger-for-github" in step.get("uses", "")]


def step_named(workflow: str, job: str, name: str) -> dict:
    return next(s for s in load(workflow)["jobs"][job]["steps"] if s.get("name") == name)


def calls_in_script(script: str) -> list[str]:
    """`dagger call ...` commands of a shell script, continuation lines joined."""
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        for match in re.finditer(r"\bdagger call (.*)", line):
            words = shlex.split(match[1], comments=True)
            for end, word in enumerate(words):
                if word in {"&&", "||", ";", "|"}:
                    words = words[:end]
                    break
            found.append(shlex.join(words))
    return found


def workflow_calls() -> list[str]:
    return [call for _, step in run_steps() for call in calls_in_script(step["run"])]


def documented_calls() -> list[str]:
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = []
    for path in texts:
        for match in re.finditer(r"dagger call ([^\n#`]*)", path.read_text()):
            found.append(match[1].strip())
    return found


# --- running scripts and make with a stand-in `dagger` ---------------------------------


def stand_in_dagger(bin_dir: Path, version: str = DAGGER_VERSION) -> Path:
    """A `dagger` that records each command line (JSON, one a line) and answers `version`."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    log = bin_dir.parent / "dagger-calls.jsonl"
    tool = bin_dir / "dagger"
    tool.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"with open({str(log)!r}, 'a') as out:\n"
        "    out.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "if sys.argv[1:2] == ['version']:\n"
        f"    print('dagger v{version} (registry.dagger.io/engine:v{version}) linux/amd64')\n"
    )
    tool.chmod(0o755)
    return log


def recorded_calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    return [argv for argv in lines if argv[:1] == ["call"]]


def path_without_dagger(*first: Path) -> str:
    dirs = [d for d in os.environ["PATH"].split(os.pathsep) if d and not Path(d, "dagger").exists()]
    return os.pathsep.join([*map(str, first), *dirs])


def run_step(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run a workflow step's script as GitHub does (bash -e, pipefail) with a stand-in dagger,
    and this environment's `egstalker` on PATH (as `make install` puts it there)."""
    stand_in_dagger(tmp_path / "bin")
    path = tmp_path / "step.sh"
    path.write_text(script)
    cli = Path(sys.executable).parent
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)],
        cwd=tmp_path,
        env={"PATH": path_without_dagger(tmp_path / "bin", cli), "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        check=False,
    )


def run_step_script(script: str, tmp_path: Path, **env: str) -> list[list[str]]:
    """The `dagger call`s a step's script makes; the script must succeed."""
    result = run_step(script, tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return recorded_calls(tmp_path / "dagger-calls.jsonl")


def make(
    *args: str, tmp_path: Path, path: str | None = None, **env: str
) -> subprocess.CompletedProcess:
    """make in the repository, in a clean environment (no outer make's flags or variables),
    with its virtual environment under ``tmp_path`` so that nothing is installed."""
    return subprocess.run(
        ["make", "--no-print-directory", f"VENV={tmp_path / 'venv'}", *args],
        cwd=ROOT,
        env={"PATH": path or os.environ["PATH"], "HOME": str(tmp_path), "LC_ALL": "C", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def rendered(*args: str, tmp_path: Path, **env: str) -> list[str]:
    """The commands `make -n` would run."""
    result = make("-n", *args, tmp_path=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def installed_venv(tmp_path: Path, extras: str = "test") -> None:
    """A virtual environment make takes as installed: its python is this test's python."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    python.chmod(0o755)
    (bin_dir / f".installed-{extras}").touch()


def phony_targets() -> list[str]:
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    return re.search(r"^\.PHONY:(.*)$", text, re.MULTILINE)[1].split()


# --- checking a dagger call ------------------------------------------------------------


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
    """``call`` is what follows `dagger call`; "$VAR" words stand for values."""
    tokens = shlex.split(call)
    rest = split_options(tokens, OPTIONS, "module")
    assert rest, f"no function in `dagger call {call}`"
    name = rest.pop(0)
    assert name in FUNCTIONS, f"`dagger call {call}`: no function {name!r}"
    params = {kebab(p.name): p for p in FUNCTIONS[name].parameters.values()}
    rest = split_options(rest, params, name)
    if rest:  # a call chained on the returned object, e.g. `export --path=...`
        returned = FUNCTIONS[name].return_type
        assert hasattr(returned, rest[0].replace("-", "_")), f"{returned} has no {rest[0]}"


# --- the workflows ---------------------------------------------------------------------


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
        assert step["uses"] == "dagger/dagger-for-github@" + DAGGER_FOR_GITHUB_V8_4_1
        assert step["with"] == {"version": DAGGER_VERSION}, "install only; calls are run: steps"


# dagger/dagger-for-github's tag v8.4.1, as its repository names it.
DAGGER_FOR_GITHUB_V8_4_1 = "27b130bf0f79a7f6fbbbe0fbca6760dc9bb40a77"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[w.name for w in WORKFLOWS])
def test_actions_are_pinned_by_commit_with_their_tag_beside(workflow: Path) -> None:
    uses = re.findall(r"^\s*(?:- )?uses: (\S+)(.*)$", workflow.read_text(), re.MULTILINE)
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), f"{action}: pin a commit"
        assert re.fullmatch(r" # v\d+(\.\d+)*", comment), f"{action}: name its tag in a comment"


def test_workflows_pass_actionlint() -> None:
    """actionlint, with .github/actionlint.yaml (the `gpu` runner label)."""
    actionlint = Path(sys.executable).with_name("actionlint")
    result = subprocess.run(
        [str(actionlint), "-no-color"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("where", "step"), run_steps(), ids=[w for w, _ in run_steps()])
def test_scripts_take_no_expressions_and_parse(where: str, step: dict) -> None:
    assert "${{" not in step["run"], f"{where}: pass the value through env: and quote it"
    result = subprocess.run(["bash", "-n"], input=step["run"], capture_output=True, text=True)
    assert result.returncode == 0, f"{where}: {result.stderr}"


def test_gpu_job_enables_gpu_support_and_the_engine_tests() -> None:
    job = load("gpu.yml")["jobs"]["verify"]
    assert "self-hosted" in job["runs-on"]
    assert job["env"]["_EXPERIMENTAL_DAGGER_GPU_SUPPORT"] == "1"
    assert job["env"]["EGSTALKER_ENGINE_TESTS"] == "1"
    assert any("pytest -m gpu" in step.get("run", "") for step in job["steps"])


def test_only_the_engine_jobs_select_the_engine_tests() -> None:
    ci = load("ci.yml")
    assert ci["jobs"]["engine"]["env"]["EGSTALKER_ENGINE_TESTS"] == "1"
    assert any("pytest -m engine" in step.get("run", "") for step in ci["jobs"]["engine"]["steps"])
    test_job = ci["jobs"]["test"]
    scopes = [ci.get("env", {}), test_job.get("env", {})]
    scopes += [step.get("env", {}) for step in test_job["steps"]]
    assert all("EGSTALKER_ENGINE_TESTS" not in scope for scope in scopes)


def test_the_test_job_installs_torch_through_its_extra() -> None:
    runs = [step.get("run", "") for step in load("ci.yml")["jobs"]["test"]["steps"]]
    assert "make test EXTRAS=test,torch" in runs


def uses_an_engine(job: dict) -> bool:
    return any("dagger" in step.get("run", "") + step.get("uses", "") for step in job["steps"])


def test_hosted_jobs_with_an_engine_free_disk_space_first() -> None:
    """The base images alone need more room than a hosted runner has free at the start."""
    engine_jobs = {
        f"{workflow} {job_id}": job
        for workflow, job_id, job in jobs()
        if job["runs-on"] == "ubuntu-latest" and uses_an_engine(job)
    }
    assert {"ci.yml engine", "ci.yml publish", "ci.yml refresh-pins"} <= set(engine_jobs)
    for where, job in engine_jobs.items():
        script = job["steps"][0].get("run", "")
        assert "/usr/local/lib/android" in script, f"{where} does not free disk space first"
        assert "docker image prune" in script, where
        assert script.count("df -h") >= 2, f"{where}: show the space before and after"


def test_gpu_runs_on_demand_and_on_tags_only_where_a_gpu_runner_exists() -> None:
    text = (ROOT / ".github" / "workflows" / "gpu.yml").read_text()
    # PyYAML reads the key `on` as True
    triggers = yaml.safe_load(text)[True]
    assert set(triggers) == {"workflow_dispatch", "push"}
    assert triggers["push"] == {"tags": ["v*"]}
    assert triggers["workflow_dispatch"]["inputs"]["arch"]["default"] == ""
    job = load("gpu.yml")["jobs"]["verify"]
    assert job["if"] == (
        "${{ github.event_name == 'workflow_dispatch' || vars.GPU_RUNNER == 'true' }}"
    )
    assert "8.6" not in json.dumps(job)  # no fixed architecture: the input or the runner's


def test_refreshing_the_pins_runs_no_tests_and_no_build() -> None:
    jobs = load("ci.yml")["jobs"]
    assert jobs["refresh-pins"]["if"] == "${{ inputs.refresh_pins }}"
    assert jobs["test"]["if"] == "${{ !inputs.refresh_pins }}"
    assert jobs["engine"]["needs"] == "test"  # skipped with it
    assert jobs["publish"]["needs"] == "engine"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[w.name for w in WORKFLOWS])
def test_one_run_per_branch_at_a_time(workflow: Path) -> None:
    group = yaml.safe_load(workflow.read_text())["concurrency"]["group"]
    assert group == "${{ github.workflow }}-${{ github.ref }}"


def test_the_image_artifact_is_optional_and_short_lived() -> None:
    """~4.5 GB: over the artifact storage of a private repository on GitHub's smaller plans."""
    step = next(
        s
        for s in load("ci.yml")["jobs"]["engine"]["steps"]
        if "upload-artifact" in s.get("uses", "")
    )
    assert step["if"] == (
        "${{ !github.event.repository.private || vars.IMAGE_ARTIFACT == 'true' }}"
    )
    assert step["with"]["retention-days"] == 1


def gpu_arch_step() -> dict:
    return step_named("gpu.yml", "verify", "Architecture list")


@pytest.mark.parametrize(
    ("arch", "checked"), [("8.0;8.6", "8.0;8.6"), ("a100,a10", "8.0;8.6"), ("h100", "9.0")]
)
def test_gpu_input_is_checked_then_reaches_dagger_as_one_argument(
    arch: str, checked: str, tmp_path: Path
) -> None:
    step = gpu_arch_step()
    assert step["env"]["ARCH_INPUT"] == "${{ inputs.arch }}"
    github_env = tmp_path / "github_env"
    result = run_step(step["run"], tmp_path, ARCH_INPUT=arch, GITHUB_ENV=str(github_env))
    assert result.returncode == 0, result.stderr
    assert github_env.read_text() == f"EGSTALKER_TEST_ARCH={checked}\n"
    verify = step_named("gpu.yml", "verify", "Verify both images, kernels on the GPU")
    calls = run_step_script(verify["run"], tmp_path / "verify", EGSTALKER_TEST_ARCH=checked)
    assert calls == [["call", "--arch", checked, "verify-all", "--gpu"]]


@pytest.mark.parametrize("arch", HOSTILE)
def test_a_bad_gpu_input_stops_the_job_and_reaches_nothing(arch: str, tmp_path: Path) -> None:
    github_env = tmp_path / "github_env"
    result = run_step(gpu_arch_step()["run"], tmp_path, ARCH_INPUT=arch, GITHUB_ENV=str(github_env))
    assert result.returncode == 2
    assert "invalid architecture list" in result.stderr
    assert not github_env.exists()
    assert not (tmp_path / "PWNED").exists()


def test_without_an_input_the_runners_gpus_decide(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"  # a stand-in for the driver's tool on an H100 runner
    smi.write_text("#!/bin/sh\necho 9.0\n")
    smi.chmod(0o755)
    github_env = tmp_path / "github_env"
    result = run_step(gpu_arch_step()["run"], tmp_path, ARCH_INPUT="", GITHUB_ENV=str(github_env))
    assert result.returncode == 0, result.stderr
    assert github_env.read_text() == "EGSTALKER_TEST_ARCH=9.0\n"


@pytest.mark.parametrize("ref_name", ["v1.0", "v1;touch PWNED", "v$(touch PWNED)"])
def test_publish_lowercases_the_repository_and_quotes_github_values(
    ref_name: str, tmp_path: Path
) -> None:
    step = step_named("ci.yml", "publish", "Publish both images, for every architecture")
    assert step["env"]["REGISTRY_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
    github = {"GITHUB_REPOSITORY": "ZhuTianheng/EGSTalker-Images", "GITHUB_ACTOR": "Some-One"}
    calls = run_step_script(
        step["run"], tmp_path, **github, GITHUB_REF_NAME=ref_name, REGISTRY_TOKEN="s3cret"
    )
    assert calls == [
        ["call", "--arch", "portable", "publish", "--address",
         "ghcr.io/zhutianheng/egstalker-images", "--tag", ref_name, "--username", "Some-One",
         "--password", "env:REGISTRY_TOKEN"],
    ]  # fmt: skip
    assert check_repository(calls[0][5]) == "ghcr.io/zhutianheng/egstalker-images"
    assert not (tmp_path / "PWNED").exists()


# --- the Makefile ----------------------------------------------------------------------


def test_publish_without_registry_user_passes_no_credentials(tmp_path: Path) -> None:
    lines = rendered("publish", "REGISTRY=ghcr.io/me/egstalker", "TAG=1.0", tmp_path=tmp_path)
    call = next(line for line in lines if line.startswith("dagger call"))
    assert shlex.split(call) == [
        "dagger", "call", "--arch", "8.6", "publish", "--address", "ghcr.io/me/egstalker",
        "--tag", "1.0",
    ]  # fmt: skip


def test_publish_with_registry_user_logs_in_with_the_token(tmp_path: Path) -> None:
    lines = rendered(
        "publish", "REGISTRY=ghcr.io/me/egstalker", "TAG=1.0", "REGISTRY_USER=me",
        tmp_path=tmp_path, REGISTRY_TOKEN="s3cret",
    )  # fmt: skip
    call = next(line for line in lines if line.startswith("dagger call"))
    assert shlex.split(call)[-4:] == ["--username", "me", "--password", "env:REGISTRY_TOKEN"]
    assert "s3cret" not in "\n".join(lines)


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        ([], {}, "REGISTRY is empty"),
        (["REGISTRY= "], {}, "REGISTRY is empty"),
        (["REGISTRY=ghcr.io/me/x", "REGISTRY_USER=me"], {}, "REGISTRY_TOKEN is not"),
        (["REGISTRY=ghcr.io/me/x"], {"REGISTRY_TOKEN": "t"}, "REGISTRY_USER is not"),
    ],
)
def test_publish_refuses_what_cannot_work_in_one_line(
    args: list[str], env: dict[str, str], says: str, tmp_path: Path
) -> None:
    result = make("-n", "publish", *args, tmp_path=tmp_path, **env)
    assert result.returncode == 2
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""  # nothing would run, not even the install


def test_publish_runs_dagger_with_each_value_as_one_argument(tmp_path: Path) -> None:
    installed_venv(tmp_path)
    log = stand_in_dagger(tmp_path / "bin")
    result = make(
        "publish", "ARCH=8.0;8.6", "REGISTRY=ghcr.io/me/egs; touch PWNED", "TAG=it's",
        "REGISTRY_USER=me`touch PWNED`", tmp_path=tmp_path,
        path=path_without_dagger(tmp_path / "bin"), REGISTRY_TOKEN="s3cret",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert recorded_calls(log) == [
        ["call", "--arch", "8.0;8.6", "publish", "--address", "ghcr.io/me/egs; touch PWNED",
         "--tag", "it's", "--username", "me`touch PWNED`", "--password", "env:REGISTRY_TOKEN"],
    ]  # fmt: skip
    assert not (ROOT / "PWNED").exists()


@pytest.mark.parametrize("target", ["publish", "lock", "pin-bases"])
def test_dagger_targets_without_the_cli_say_what_to_install(target: str, tmp_path: Path) -> None:
    installed_venv(tmp_path)
    result = make(
        target, "REGISTRY=ghcr.io/me/egstalker", tmp_path=tmp_path, path=path_without_dagger()
    )
    assert result.returncode != 0
    assert "dagger: not found" not in result.stderr, "the check must run before dagger"
    assert "command not found" not in result.stderr, "the check must run before dagger"
    assert DAGGER_VERSION in result.stdout + result.stderr  # the version to install
    assert "Error 2" in result.stderr  # the check's exit code, before any dagger command


def test_dagger_targets_refuse_another_cli_version(tmp_path: Path) -> None:
    installed_venv(tmp_path)
    log = stand_in_dagger(tmp_path / "bin", version="0.18.3")
    result = make("lock", tmp_path=tmp_path, path=path_without_dagger(tmp_path / "bin"))
    assert result.returncode != 0
    assert DAGGER_VERSION in result.stdout + result.stderr
    assert recorded_calls(log) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["build"], ".venv-bin/egstalker build --variant all --arch 8.6 --output build"),
        (["build-runtime", "OUT=out dir"],
         ".venv-bin/egstalker build --variant multistage --arch 8.6 --output 'out dir'"),
        (["build-single", "ARCH=8.0;8.6"],
         ".venv-bin/egstalker build --variant single-stage --arch '8.0;8.6' --output build"),
        (["verify", "GPU=1"], ".venv-bin/egstalker verify --variant all --arch 8.6 --gpu"),
        (["verify"], ".venv-bin/egstalker verify --variant all --arch 8.6"),
        (["bench"], ".venv-bin/python bench/compile_time.py"),
        (["bench"], ".venv-bin/python bench/critical_path.py"),
        (["bench", "BENCH_SCALE=0.5"], ".venv-bin/python bench/compile_time.py --scale 0.5"),
    ],
)  # fmt: skip
def test_targets_run_the_cli_commands_the_readme_pairs_them_with(
    args: list[str], expected: str, tmp_path: Path
) -> None:
    installed_venv(tmp_path)
    venv_bin = f"{tmp_path / 'venv' / 'bin'}/"
    commands = [
        shlex.join(shlex.split(line.replace(venv_bin, ".venv-bin/")))
        for line in rendered(*args, tmp_path=tmp_path)
    ]
    assert shlex.join(shlex.split(expected)) in commands


def test_install_again_when_the_extras_change(tmp_path: Path) -> None:
    installed_venv(tmp_path, extras="test")
    assert not any("pip install" in line for line in rendered("install", tmp_path=tmp_path))
    lines = rendered("install", "EXTRAS=test,torch", tmp_path=tmp_path)
    pip = next(line for line in lines if " -e " in line)
    assert shlex.split(pip)[-2:] == ["-e", "pipeline[test,torch]"]


def test_torch_comes_from_its_cpu_index_only_through_the_torch_extra(tmp_path: Path) -> None:
    plain = rendered("install", tmp_path=tmp_path)
    assert not any("tools.torch_cpu" in line for line in plain)
    with_torch = rendered("install", "EXTRAS=test, torch", tmp_path=tmp_path)
    chooser = next(i for i, line in enumerate(with_torch) if "-m tools.torch_cpu" in line)
    extras = next(i for i, line in enumerate(with_torch) if " -e " in line)
    assert chooser < extras  # before pip resolves the extra, or pip takes PyPI's torch


def stand_in_nvcc(bin_dir: Path) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "nvcc").write_text("#!/bin/sh\n")
    (bin_dir / "nvcc").chmod(0o755)


def path_without_nvcc() -> str:
    dirs = os.environ["PATH"].split(os.pathsep)
    return os.pathsep.join(d for d in dirs if d and not Path(d, "nvcc").exists())


def test_tests_get_nvcc_from_pypi_only_where_none_is_on_path(tmp_path: Path) -> None:
    installed_venv(tmp_path)
    toolkit = tmp_path / "venv" / "cuda"
    lines = rendered("test", tmp_path=tmp_path, path=path_without_nvcc())
    setup = next(line for line in lines if "-m tools.cuda_toolchain" in line)
    assert shlex.split(setup)[-3:] == ["--compiler-only", "--prefix", str(toolkit)]
    pytest_line = next(line for line in lines if "-m pytest" in line)
    assert shlex.split(pytest_line)[0] == f"PATH={toolkit}/bin:$PATH"
    assert lines.index(setup) < lines.index(pytest_line)

    stand_in_nvcc(tmp_path / "bin")
    path = os.pathsep.join([str(tmp_path / "bin"), path_without_nvcc()])
    lines = rendered("test", tmp_path=tmp_path, path=path)
    assert not any("cuda_toolchain" in line for line in lines)
    assert any(line.endswith("python -m pytest") and "PATH=" not in line for line in lines)


@pytest.mark.parametrize("out", ["..", "../victim", ".", "/", "", "build/../.."])
def test_clean_deletes_nothing_outside_the_checkout(tmp_path: Path, out: str) -> None:
    checkout, victim = tmp_path / "checkout", tmp_path / "victim"
    (checkout / "build").mkdir(parents=True)
    victim.mkdir()
    shutil.copy(ROOT / "Makefile", checkout)
    result = subprocess.run(
        ["make", "--no-print-directory", "clean", f"OUT={out}"],
        cwd=checkout, env={"PATH": os.environ["PATH"]}, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0
    assert f"OUT={out} is not a folder inside the checkout ({checkout})" in result.stderr
    assert victim.is_dir()
    assert (checkout / "build").is_dir()


def test_clean_deletes_out_inside_and_a_venv_anywhere(tmp_path: Path) -> None:
    checkout, venv = tmp_path / "checkout", tmp_path / "venvs" / "egstalker"
    (checkout / "out" / "images").mkdir(parents=True)
    venv.mkdir(parents=True)
    (venv / "pyvenv.cfg").touch()
    shutil.copy(ROOT / "Makefile", checkout)
    result = subprocess.run(
        ["make", "--no-print-directory", "clean", "OUT=out", f"VENV={venv}"],
        cwd=checkout, env={"PATH": os.environ["PATH"]}, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not (checkout / "out").exists()
    assert not venv.exists()
    assert (checkout / "Makefile").exists()
    result = subprocess.run(
        ["make", "--no-print-directory", "clean", f"VENV={tmp_path}"],
        cwd=checkout, env={"PATH": os.environ["PATH"]}, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0
    assert "is neither inside the checkout nor a virtual environment" in result.stderr
    assert checkout.is_dir()


def test_every_target_is_listed_with_its_comment(tmp_path: Path) -> None:
    result = make("help", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = {}
    for line in result.stdout.splitlines()[1:]:
        name, _, comment = line.strip().partition(" ")
        listed[name] = comment.strip()
    assert set(phony_targets()) <= set(listed)
    assert all(listed[target] for target in phony_targets())
    assert make(tmp_path=tmp_path).stdout == result.stdout  # `make` alone shows the list


def test_documented_make_targets_exist() -> None:
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    named = {m[1] for path in texts for m in re.finditer(r"`make ([a-z][a-z-]*)", path.read_text())}
    assert named
    assert named <= set(phony_targets()), named - set(phony_targets())


# --- every dagger call names what exists ------------------------------------------------


def makefile_calls() -> list[str]:
    """The `dagger call` commands of the Makefile, as make renders them."""
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", "VENV=/nonexistent-venv", "publish", "lock",
         "pin-bases", "REGISTRY=ghcr.io/me/egstalker", "REGISTRY_USER=me"],
        cwd=ROOT, env={"PATH": os.environ["PATH"], "REGISTRY_TOKEN": "t"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [line.removeprefix("dagger call ") for line in result.stdout.splitlines()
            if line.startswith("dagger call ")]  # fmt: skip


def test_calls_are_found_in_every_place() -> None:
    assert len(makefile_calls()) == 3
    assert "--arch '$EGSTALKER_TEST_ARCH' verify-all --gpu" in workflow_calls()
    assert any(call.startswith("--arch portable publish") for call in workflow_calls())


@pytest.mark.parametrize("call", workflow_calls() + makefile_calls() + documented_calls())
def test_every_dagger_call_names_what_exists(call: str) -> None:
    check_call(call)


def test_a_wrong_call_is_caught() -> None:
    with pytest.raises(AssertionError, match="no function 'build-runtime'"):
        check_call("--arch 8.6 build-runtime")
    with pytest.raises(AssertionError, match="no option --archs"):
        check_call('--archs "$ARCH" build-multistage')
    with pytest.raises(AssertionError, match="has no exportt"):
        check_call("build-multistage exportt --path=x")
    assert calls_in_script('dagger call --arch "$ARCH" \\\n  verify-all --gpu && echo ok') == [
        "--arch '$ARCH' verify-all --gpu"
    ]


def test_container_results_can_be_exported() -> None:
    assert FUNCTIONS["build-multistage"].return_type is dagger.Container
