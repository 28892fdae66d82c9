"""install_scope.py, run for real: a real pip install passes, every other change fails loudly."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

SITE = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
EXISTING = f"{SITE}/existing/__init__.py"


@pytest.fixture
def prefix(tmp_path: Path) -> Path:
    """An environment's prefix with one package already installed and a command in bin/."""
    root = tmp_path / "prefix"
    (root / SITE / "existing").mkdir(parents=True)
    (root / EXISTING).write_text("VALUE = 1\n")
    (root / "bin").mkdir()
    (root / "bin" / "python-config").write_text("#!/bin/sh\n")
    return root


def scope(programs_dir: Path, prefix: Path, *command: str) -> subprocess.CompletedProcess:
    args = [sys.executable, str(programs_dir / "install_scope.py"), str(prefix)]
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1")
    return subprocess.run(
        [*args, str(prefix / SITE), "--", *command],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def wheel(folder: Path) -> Path:
    """A small real wheel: one package, its dist-info, a RECORD."""
    path = folder / "tinyext-0.1-py3-none-any.whl"
    files = {
        "tinyext/__init__.py": "ANSWER = 42\n",
        "tinyext-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinyext\nVersion: 0.1\n",
        "tinyext-0.1.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = "".join(f"{name},,\n" for name in files) + "tinyext-0.1.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr("tinyext-0.1.dist-info/RECORD", record)
    return path


def test_a_real_pip_install_adds_its_own_folders_and_passes(
    programs_dir: Path, prefix: Path, tmp_path: Path
) -> None:
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index"]
    result = scope(programs_dir, prefix, *install, "--prefix", str(prefix), str(wheel(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "added only its own entries" in result.stdout
    assert "tinyext/, tinyext-0.1.dist-info/" in result.stdout
    installed = prefix / SITE / "tinyext"
    assert (installed / "__init__.py").read_text() == "ANSWER = 42\n"
    # pip still compiles what it installs, inside the package's own folder
    assert list((installed / "__pycache__").glob("__init__.*.pyc"))


@pytest.mark.parametrize(
    ("code", "finding"),
    [
        (f"open(PREFIX + '/{EXISTING}', 'a').write('VALUE = 2')", f"changed: {EXISTING}"),
        (f"os.remove(PREFIX + '/{EXISTING}')", f"removed: {EXISTING}"),
        (f"open(PREFIX + '/{SITE}/existing/extra.py', 'w')",
         f"added outside its own folders: {SITE}/existing/extra.py"),
        ("open(PREFIX + '/bin/tool', 'w')", "added outside its own folders: bin/tool"),
        ("os.chmod(PREFIX + '/bin/python-config', 0o755)", "changed: bin/python-config"),
        ("pass", f"added nothing to {SITE}"),
    ],
)  # fmt: skip
def test_any_other_change_fails_naming_it(
    programs_dir: Path, prefix: Path, code: str, finding: str
) -> None:
    own = f"os.makedirs(PREFIX + '/{SITE}/newpkg'); open(PREFIX + '/{SITE}/newpkg/x.py', 'w')"
    setup = f"import os; PREFIX = {str(prefix)!r}; "
    command = setup + (own + "; " if finding != f"added nothing to {SITE}" else "") + code
    result = scope(programs_dir, prefix, *python(command))
    assert result.returncode == 1
    assert "beyond folders of its own" in result.stderr
    assert f"  {finding}" in result.stderr.splitlines()


def test_imports_leave_no_bytecode_in_folders_not_its_own(programs_dir: Path, prefix: Path) -> None:
    site = prefix / SITE
    code = f"import sys, os; sys.path.insert(0, {str(site)!r}); import existing; "
    code += f"os.makedirs({str(site / 'newpkg')!r})"
    result = scope(programs_dir, prefix, *python(code))
    assert result.returncode == 0, result.stderr
    assert not (site / "existing" / "__pycache__").exists()


def test_a_failed_install_keeps_its_exit_code(programs_dir: Path, prefix: Path) -> None:
    result = scope(programs_dir, prefix, *python("import sys; sys.exit(7)"))
    assert result.returncode == 7
    assert "beyond folders of its own" not in result.stderr


def test_usage_errors(programs_dir: Path, prefix: Path, tmp_path: Path) -> None:
    program = str(programs_dir / "install_scope.py")
    missing = subprocess.run(
        [sys.executable, program, str(prefix), str(prefix / SITE)], capture_output=True, text=True
    )
    assert missing.returncode == 2
    assert "give the install command after --" in missing.stderr
    outside = subprocess.run(
        [sys.executable, program, str(prefix), str(tmp_path), "--", "true"],
        capture_output=True,
        text=True,
    )
    assert outside.returncode == 2
    assert f"invalid SITE_PACKAGES '{tmp_path}': not a folder in {prefix}" in outside.stderr
