"""The module installs and loads the way Dagger's Python runtime does it inside the engine.

Replayed without an engine, from the runtime's source (Dagger 0.21, sdk/python/runtime):
the module's source as the engine loads it (dagger.json's ``source``, .gitignore applied,
``.venv`` and ``sdk`` removed), the engine's own SDK vendored in ``sdk/`` as dagger-io 0.0.0,
the Python that ``.python-version`` or ``requires-python`` picks, and uv 0.10.3 running the
same install commands with the same settings. Then the main object is loaded as the
runtime's entry point loads it, and its functions are compared with the README.

Needs PyPI (about a minute); skipped, with the reason, where PyPI cannot be reached, except
in CI.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from egstalker import Egstalker

ROOT = Path(__file__).resolve().parents[1]
CONFIG = json.loads((ROOT / "dagger.json").read_text())
SOURCE = ROOT / CONFIG["source"]

# sdk/python/runtime/images/uv/Dockerfile and images/base/Dockerfile
UV_VERSION = "0.10.3"
DEFAULT_PYTHON = "3.14"
# The version of the SDK the engine vendors (sdk/python/pyproject.toml in the engine).
ENGINE_SDK_VERSION = "0.0.0"
# discovery.go DirExcludes: removed from the module's source before anything else.
DIR_EXCLUDES = (".venv", "sdk")
# The main.go `New` +ignore filter over the SDK's source: what lands in sdk/.
SDK_FILES = ("pyproject.toml", "README.md", "LICENSE")
SDK_SOURCE_SUFFIXES = (".py", ".typed")
# Set by main.go WithBase, WithInstall and WithSource (UV_SYSTEM_PYTHON=1 there targets the
# image's only Python; here UV_PYTHON names the fresh environment instead).
RUNTIME_ENV = {
    "PYTHONUNBUFFERED": "1",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_ROOT_USER_ACTION": "ignore",
    "UV_LINK_MODE": "copy",
    "UV_NATIVE_TLS": "1",
    "UV_COMPILE_BYTECODE": "1",
}
INSTALL_TIMEOUT = 600
# Where uv finds packages: the index settings of the environment the tests run in are kept.
INDEX_VARIABLES = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "UV_INDEX", "UV_EXTRA_INDEX_URL")

# What the runtime's entry point (template/runtime.py -> dagger.mod.cli.app) does before it
# asks the engine for anything: find and load the main object, then build its type
# definitions; the final request fails here, with no engine session, and says so.
LOADER = """
import importlib.metadata, importlib.resources, json, os, sys, traceback
import anyio, dagger
from dagger.mod.cli import get_entry_point, load_module

def kebab(name):
    return name.replace("_", "-")

def resources(folder, prefix=""):
    for entry in folder.iterdir():
        if entry.is_dir() and entry.name != "__pycache__":
            yield from resources(entry, f"{prefix}{entry.name}/")
        elif entry.is_file():
            yield f"{prefix}{entry.name}", len(entry.read_bytes())

entry_point = get_entry_point()
module = load_module()
main = module.get_object(os.environ["DAGGER_MAIN_OBJECT"])
constructor = main.get_constructor().parameters
try:
    anyio.run(module.register)
    registration = "registered with no engine session"
except dagger.ClientConnectionError as error:
    registration = f"engine call: {error}"
except Exception:
    registration = traceback.format_exc()
package = os.environ["DAGGER_DEFAULT_PYTHON_PACKAGE"]
with open(sys.argv[1], "w") as out:
    json.dump({
    "python": "%d.%d" % sys.version_info[:2],
    "entry_point": entry_point.value,
    "sdk": {"version": importlib.metadata.version("dagger-io"), "file": dagger.__file__},
    "package_file": importlib.import_module(package).__file__,
    "functions": sorted(kebab(name) for name in main.functions if name),
    "options": {kebab(p.name): p.resolved_type is bool for p in constructor.values()},
    "registration": registration,
    "resources": dict(resources(importlib.resources.files(package))),
    }, out)
"""


@dataclass(frozen=True)
class Loaded:
    """What the runtime found in the module it installed."""

    source: Path
    checkout: frozenset[str]  # the source folder's files when copied, before any filter
    report: dict


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the module install for real")
    pytest.skip(reason)


def pyproject() -> dict:
    return tomllib.loads((SOURCE / "pyproject.toml").read_text())


def runtime_python_version(source: Path) -> str:
    """The Python the runtime picks, as discovery.go findPythonVersion/parseBaseImage do."""
    pinned = source / ".python-version"
    if pinned.is_file():
        return pinned.read_text().strip()
    minimum = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    minimum = minimum.get("requires-python", "").strip()
    if minimum.startswith((">=", "==")):
        return minimum[2:].strip()
    return DEFAULT_PYTHON


def main_object_name(module_name: str) -> str:
    """PascalCase of dagger.json's name (python.go NormalizeObjectName)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_. ]+", module_name))


def package_name() -> str:
    """The import package the runtime loads (discovery.go loadConfig, NormalizePackageName)."""
    return pyproject()["project"]["name"].replace("-", "_")


def ignored_by_git(paths: list[str]) -> set[str]:
    """Those of ``paths`` (relative to the checkout) that .gitignore rules leave out."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return set()
    result = subprocess.run(
        ["git", "-c", "core.excludesFile=/dev/null", "check-ignore", "--no-index", "-z",
         "--stdin"],
        cwd=ROOT, input="\0".join(paths), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    return set(filter(None, result.stdout.split("\0")))


def copy_module_source(context: Path) -> tuple[Path, frozenset[str]]:
    """The context directory the engine loads for a local module, with its source folder.

    core/schema/modulesource.go loadModuleSourceContext: dagger.json and the source folder,
    with .gitignore applied; discovery.go then removes ``.venv`` and ``sdk``.
    """
    assert "include" not in CONFIG, "dagger.json `include` is not replayed here: add it"
    files = []
    for folder, dirs, names in os.walk(SOURCE):
        if Path(folder) == SOURCE:
            dirs[:] = [d for d in dirs if d not in DIR_EXCLUDES]
        files += [str((Path(folder) / name).relative_to(ROOT)) for name in names]
    ignored = ignored_by_git(files)
    for relative in [*files, "dagger.json"]:
        if relative not in ignored:
            (context / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / relative, context / relative)
    checkout = frozenset(str(Path(name).relative_to(CONFIG["source"])) for name in files)
    return context / CONFIG["source"], checkout


def vendor_engine_sdk(downloads: Path, sdk: Path) -> None:
    """The engine's copy of the SDK in sdk/, from the release of dagger.json's engine."""
    release = CONFIG["engineVersion"].removeprefix("v")
    download = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
         "dagger-io", f"dagger-io=={release}", "--dest", str(downloads)],
        capture_output=True, text=True, check=False, timeout=INSTALL_TIMEOUT,
    )  # fmt: skip
    assert download.returncode == 0, download.stdout + download.stderr
    (archive,) = downloads.glob("dagger_io-*.tar.gz")
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            relative = PurePosixPath(*PurePosixPath(member.name).parts[1:])
            wanted = str(relative) in SDK_FILES or (
                relative.parts[:1] == ("src",) and relative.suffix in SDK_SOURCE_SUFFIXES
            )
            if member.isfile() and wanted and ".." not in relative.parts:
                content = tar.extractfile(member)
                assert content is not None, member.name
                target = sdk / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content.read())
    config = (sdk / "pyproject.toml").read_text()
    config, count = re.subn(
        r'^version = ".*"$', f'version = "{ENGINE_SDK_VERSION}"', config, flags=re.M
    )
    assert count == 1, "the SDK's pyproject.toml has no single `version = ...` line"
    (sdk / "pyproject.toml").write_text(config)
    # The engine's copy also holds codegen/ (its +ignore filter keeps codegen/pyproject.toml),
    # a uv workspace member that the SDK's pyproject.toml names; the release archive has not.
    if "codegen" in tomllib.loads(config).get("tool", {}).get("uv", {}).get("workspace", {}).get(
        "members", []
    ):
        (sdk / "codegen").mkdir()
        (sdk / "codegen" / "pyproject.toml").write_text(
            f'[project]\nname = "codegen"\nversion = "{ENGINE_SDK_VERSION}"\n'
        )


def vendor_path(source: Path) -> str:
    """Where the engine puts its SDK: sdk/, or with uv.lock, dagger-io's uv source path."""
    if not (source / "uv.lock").is_file():
        return "sdk"
    sources = pyproject().get("tool", {}).get("uv", {}).get("sources", {})
    path = sources.get("dagger-io", {}).get("path", "")
    assert path, "with uv.lock the engine vendors no SDK unless [tool.uv.sources] names its path"
    return str(path)


def install_commands(source: Path) -> list[list[str]]:
    """main.go WithUpdates and WithInstall, for the lock files the module has."""
    if (source / "uv.lock").is_file():
        return [["uv", "lock"], ["uv", "sync", "--no-dev"]]
    install = ["uv", "pip", "install", "-e", "./sdk", "-e", "."]
    if (source / "requirements.lock").is_file():
        compile_lock = ["uv", "pip", "compile", "-q", "--universal", "-o", "requirements.lock",
                        "pyproject.toml", "sdk/pyproject.toml"]  # fmt: skip
        return [compile_lock, [*install, "--no-deps", "-r", "requirements.lock"],
                ["uv", "pip", "check"]]  # fmt: skip
    return [install, ["uv", "pip", "check"]]


def pypi_problem() -> str | None:
    index = (
        os.environ.get("UV_DEFAULT_INDEX")
        or os.environ.get("UV_INDEX_URL")
        or "https://pypi.org/simple"
    )
    try:
        with urllib.request.urlopen(f"{index.rstrip('/')}/uv/", timeout=20):
            return None
    except OSError as error:
        return f"PyPI cannot be reached ({index}: {error})"


def interpreter(version: str) -> str | None:
    """An interpreter of the runtime's Python version on this machine."""
    major_minor = ".".join(version.split(".")[:2])
    if f"{sys.version_info.major}.{sys.version_info.minor}" == major_minor:
        return sys.executable
    return shutil.which(f"python{major_minor}")


def reaches_the_install(variable: str) -> bool:
    """Whether a variable of this machine's environment is kept for the install."""
    if variable in INDEX_VARIABLES:
        return True
    settings = variable.startswith(("UV_", "DAGGER_", "_EXPERIMENTAL_DAGGER", "PYTHON"))
    return not settings and variable not in ("VIRTUAL_ENV", "CONDA_PREFIX")


def run_step(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False,
        timeout=INSTALL_TIMEOUT,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.fail(
            f"`{shlex.join(command)}` fails in the module's source, as it would in the engine:\n"
            f"{result.stdout}{result.stderr}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    """The module installed and loaded as the engine's Python runtime does it."""
    settings = pyproject().get("tool", {}).get("dagger", {})
    assert settings.get("use-uv", True), "[tool.dagger] use-uv = false is not replayed here"
    assert "base-image" not in settings, "[tool.dagger] base-image is not replayed here"
    if problem := pypi_problem():
        unavailable(problem)
    version = runtime_python_version(SOURCE)
    python = interpreter(version)
    if python is None:
        unavailable(f"no Python {version} here, the runtime's Python for this module")
    work = tmp_path_factory.mktemp("engine-install")
    source, checkout = copy_module_source(work / "context")
    (source / vendor_path(source)).mkdir(parents=True)
    vendor_engine_sdk(work / "downloads", source / vendor_path(source))

    tools = work / "uv"
    subprocess.run([sys.executable, "-m", "venv", str(tools)], check=True)
    run_step([str(tools / "bin" / "python"), "-m", "pip", "install", "--quiet",
              f"uv=={settings.get('uv-version', UV_VERSION)}"], work, dict(os.environ))  # fmt: skip
    venv = work / "runtime"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)

    env = {key: value for key, value in os.environ.items() if reaches_the_install(key)}
    env |= RUNTIME_ENV | {
        "PATH": f"{tools / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "UV_PYTHON": str(venv / "bin" / "python"),
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_CACHE_DIR": str(work / "uv-cache"),
        "DAGGER_MODULE": CONFIG["name"],
        "DAGGER_DEFAULT_PYTHON_PACKAGE": package_name(),
        "DAGGER_MAIN_OBJECT": main_object_name(CONFIG["name"]),
    }
    for command in install_commands(source):
        run_step(command, source, env)

    loader = work / "loader.py"  # outside the source, like the runtime's /runtime
    loader.write_text(LOADER)
    report = work / "loaded.json"
    result = subprocess.run(
        [str(venv / "bin" / "python"), str(loader), str(report)], cwd=source, env=env,
        capture_output=True, text=True, check=False, timeout=INSTALL_TIMEOUT,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.fail(f"the runtime cannot load the module:\n{result.stderr}", pytrace=False)
    return Loaded(source, checkout, json.loads(report.read_text()))


def readme_functions(options: dict[str, bool]) -> set[str]:
    """Functions the README documents: its "What it builds" table and every `dagger call`."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## What it builds", 1)[1].split("\n## ", 1)[0]
    names = set(re.findall(r"^\| `([a-z0-9-]+)` \|", table, flags=re.M))
    for call in re.findall(r"dagger call ([^\n#`]*)", readme):
        tokens = shlex.split(call)
        while tokens and tokens[0].startswith("--"):
            name, has_value, _ = tokens.pop(0)[2:].partition("=")
            if not has_value and not options.get(name, False) and tokens:
                tokens.pop(0)
        if tokens:
            names.add(tokens[0])
    return names


def test_the_runtime_picks_a_python_the_module_supports() -> None:
    version = runtime_python_version(SOURCE)
    assert re.fullmatch(r"3\.\d+(\.\d+)?", version), f"python:{version}-slim is no image"
    requires = SpecifierSet(pyproject()["project"]["requires-python"])
    assert Version(version) in requires, f"the runtime's Python {version} is not {requires}"


def test_the_engine_installs_its_own_sdk_and_the_module(loaded: Loaded) -> None:
    report = loaded.report
    assert report["python"] == ".".join(runtime_python_version(SOURCE).split(".")[:2])
    assert report["sdk"]["version"] == ENGINE_SDK_VERSION
    assert Path(report["sdk"]["file"]).is_relative_to(loaded.source / vendor_path(loaded.source))
    assert Path(report["package_file"]).is_relative_to(loaded.source)


def test_the_runtime_finds_the_main_object(loaded: Loaded) -> None:
    assert loaded.report["entry_point"] == f"{package_name()}:{main_object_name(CONFIG['name'])}"
    assert loaded.report["registration"].startswith("engine call:"), loaded.report["registration"]


def test_every_documented_function_is_registered(loaded: Loaded) -> None:
    documented = readme_functions(loaded.report["options"])
    assert {"builder", "build-multistage", "verify"} <= documented  # the README was read
    missing = documented - set(loaded.report["functions"])
    assert not missing, f"the README documents functions the engine does not get: {missing}"


def test_the_engine_registers_what_the_local_install_does(loaded: Loaded) -> None:
    local = Egstalker.__dagger_object_type__.functions
    assert loaded.report["functions"] == sorted(n.replace("_", "-") for n in local if n)


def test_the_package_reads_its_data_files_and_programs_in_the_engine(loaded: Loaded) -> None:
    package = Path("src", package_name())
    needed = set()
    for name in loaded.checkout:
        path = Path(name)
        if path.is_relative_to(package) and "__pycache__" not in path.parts:
            inside = path.relative_to(package)
            if inside.parts[0] in ("data", "programs"):
                needed.add(inside.as_posix())
    assert needed
    missing = needed - set(loaded.report["resources"])
    assert not missing, f"files the package reads do not reach the engine (.gitignore?): {missing}"
