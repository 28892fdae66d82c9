"""conda_delta.py, run for real: the builder's removals found, then applied to a twin tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.programs.conftest import load_program

conda_delta = load_program("conda_delta.py")
SITE = "lib/python3.10/site-packages"


def tree(root: Path, files: list[str]) -> Path:
    for relative in files:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(relative)
    return root


BASE = [
    "bin/python",
    f"{SITE}/yaml/__init__.py",
    f"{SITE}/yaml/old_module.py",
    f"{SITE}/PyYAML-6.0.1.dist-info/RECORD",
]
# pip replaced PyYAML 6.0.1 by 6.0.2 and added wandb
BUILT = [
    "bin/python",
    "bin/wandb",
    f"{SITE}/yaml/__init__.py",
    f"{SITE}/PyYAML-6.0.2.dist-info/RECORD",
]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, conda_delta.__file__, *args], capture_output=True, text=True, check=False
    )


def files_and_folders(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix() + ("/" if p.is_dir() else "") for p in root.rglob("*")
    )


def removed_listing(base: Path, built: Path, listing: Path) -> list[str]:
    result = run("removed", str(base), str(built))
    assert result.returncode == 0, result.stderr
    listing.write_text(result.stdout)
    return result.stdout.splitlines()


def test_removed_then_applied_to_the_runtime_twin(tmp_path: Path) -> None:
    base = tree(tmp_path / "base", BASE)
    built = tree(tmp_path / "built", BUILT)
    runtime = tree(tmp_path / "runtime", BASE)  # the runtime base holds the same environment
    listing = tmp_path / "removed.txt"
    assert removed_listing(base, built, listing) == [
        f"{SITE}/PyYAML-6.0.1.dist-info/",
        f"{SITE}/PyYAML-6.0.1.dist-info/RECORD",
        f"{SITE}/yaml/old_module.py",
    ]
    applied = run("apply", str(listing), str(runtime))
    assert applied.returncode == 0, applied.stderr
    assert "removed 2 file(s) and 1 folder(s)" in applied.stdout
    assert files_and_folders(runtime) == [
        "bin/", "bin/python", "lib/", "lib/python3.10/", f"{SITE}/", f"{SITE}/yaml/",
        f"{SITE}/yaml/__init__.py",
    ]  # fmt: skip


def dist_info(name: str, version: str) -> dict[str, str]:
    folder = f"{SITE}/{name}-{version}.dist-info"
    return {
        f"{folder}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{folder}/RECORD": "",
        f"{folder}/INSTALLER": "pip\n",
        f"{folder}/WHEEL": "Wheel-Version: 1.0\n",
        f"{folder}/top_level.txt": f"{name}\n",
    }


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


def installed_version(site: Path, name: str) -> str | None:
    """What importlib.metadata.version says about ``name`` with ``site`` first on the path."""
    code = f"import importlib.metadata as m; print(m.version({name!r}))"
    printed = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return None if printed == "None" else printed


def test_a_package_pip_replaced_leaves_no_empty_metadata_folder(tmp_path: Path) -> None:
    code = {f"{SITE}/tqdm/__init__.py": "", f"{SITE}/tqdm/contrib/__init__.py": ""}
    base_files = {**code, **dist_info("tqdm", "4.65.0")}
    built_files = {f"{SITE}/tqdm/__init__.py": "# 4.67.1\n", **dist_info("tqdm", "4.67.1")}
    base, built = write(tmp_path / "base", base_files), write(tmp_path / "built", built_files)
    listing = tmp_path / "removed.txt"
    listed = removed_listing(base, built, listing)
    assert f"{SITE}/tqdm-4.65.0.dist-info/" in listed
    assert f"{SITE}/tqdm/contrib/" in listed
    assert f"{SITE}/tqdm/" not in listed  # the builder still has it

    # what the runtime image does: the removals, then the builder's new and changed files
    runtime = write(tmp_path / "runtime", base_files)
    assert run("apply", str(listing), str(runtime)).returncode == 0
    added = {k: v for k, v in built_files.items() if base_files.get(k) != v}
    write(runtime, added)
    site = runtime / SITE
    assert not (site / "tqdm-4.65.0.dist-info").exists()
    assert installed_version(site, "tqdm") == "4.67.1"
    assert files_and_folders(runtime) == files_and_folders(built)

    # deleting the files alone leaves an empty folder that hides the version
    files_only = write(tmp_path / "files-only", base_files)
    for line in listed:
        if not line.endswith("/"):
            (files_only / line).unlink()
    write(files_only, added)
    assert (files_only / SITE / "tqdm-4.65.0.dist-info").is_dir()
    assert installed_version(files_only / SITE, "tqdm") is None


def test_folders_the_builder_kept_or_the_runtime_filled_stay(tmp_path: Path) -> None:
    base = write(tmp_path / "base", {"share/doc/readme": "", "pkgs/cache/a.tar": ""})
    # the builder emptied share/doc but kept it, and removed pkgs/cache altogether
    built = tmp_path / "built"
    (built / "share" / "doc").mkdir(parents=True)
    (built / "pkgs").mkdir()
    listing = tmp_path / "removed.txt"
    assert removed_listing(base, built, listing) == [
        "pkgs/cache/", "pkgs/cache/a.tar", "share/doc/readme",
    ]  # fmt: skip
    runtime = write(tmp_path / "runtime", {"share/doc/readme": "", "pkgs/cache/a.tar": ""})
    (runtime / "pkgs" / "cache" / "runtime-only.tar").write_text("")
    applied = run("apply", str(listing), str(runtime))
    assert applied.returncode == 0, applied.stderr
    assert "removed 2 file(s) and 0 folder(s)" in applied.stdout
    assert f"kept {runtime / 'pkgs' / 'cache'}: " in applied.stdout
    assert files_and_folders(runtime) == [
        "pkgs/", "pkgs/cache/", "pkgs/cache/runtime-only.tar", "share/", "share/doc/",
    ]  # fmt: skip


@pytest.mark.parametrize("line", ["../outside", "../", "/etc/"])
def test_apply_refuses_paths_outside_the_root(tmp_path: Path, line: str) -> None:
    root = tree(tmp_path / "root", ["a"])
    tree(tmp_path, ["outside"])
    listing = tmp_path / "removed.txt"
    listing.write_text(line + "\n")
    with pytest.raises(SystemExit, match="leaves"):
        conda_delta.apply(listing, root)
    assert (tmp_path / "outside").exists()


def test_usage_and_missing_inputs(tmp_path: Path) -> None:
    result = run("diff")
    assert result.returncode == 2
    assert "usage: python conda_delta.py removed BASE BUILT | apply LIST ROOT" in result.stderr
    result = run("removed", str(tmp_path / "absent"), str(tmp_path))
    assert result.returncode != 0
    assert f"{tmp_path / 'absent'} is not a folder" in result.stderr
    result = run("apply", str(tmp_path / "absent.txt"), str(tmp_path))
    assert result.returncode != 0
    assert f"cannot read the listing {tmp_path / 'absent.txt'}" in result.stderr


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``: a link's target, a file's mode and bytes, or a folder."""
    found: dict[str, tuple] = {}
    for path in root.rglob("*"):
        key = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[key] = ("link", str(path.readlink()))
        elif path.is_file():
            found[key] = ("file", path.stat().st_mode, path.read_bytes())
        else:
            found[key] = ("folder",)
    return found


def copy_in(delta: Path, root: Path) -> None:
    """What the pipeline's with_directory does next: the builder's changes, merged in."""
    for path in sorted(delta.rglob("*")):
        target = root / path.relative_to(delta)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.unlink(missing_ok=True)
            shutil.copy2(path, target)


def test_when_the_bases_differ_the_runtime_becomes_the_builders_environment(
    tmp_path: Path,
) -> None:
    devel = tree(tmp_path / "devel", [*BASE, f"{SITE}/numpy/version.py"])
    (devel / "lib" / "libz.so").symlink_to("libz.so.1")
    # the runtime base was resolved on its own: another numpy, a package devel lacks
    runtime = tree(tmp_path / "runtime", [*BASE, f"{SITE}/extra/__init__.py"])
    (runtime / SITE / "numpy").mkdir()
    (runtime / SITE / "numpy" / "version.py").write_text("1.26.3")
    (runtime / "lib" / "libz.so").symlink_to("libz.so.1.2")
    built = tree(tmp_path / "built", [*BUILT, f"{SITE}/numpy/version.py"])
    (built / "lib" / "libz.so").symlink_to("libz.so.1")
    (built / "bin" / "wandb").chmod(0o755)
    delta = tree(tmp_path / "delta", ["bin/wandb", f"{SITE}/PyYAML-6.0.2.dist-info/RECORD"])
    (delta / "bin" / "wandb").chmod(0o755)
    listing = tmp_path / "removed.txt"
    removed_listing(devel, built, listing)
    result = tmp_path / "bases.json"
    result.write_text('{"identical": false, "differences": []}')
    applied = run(
        "apply", str(listing), str(runtime), "--bases", str(result), "--built", str(built),
        "--delta", str(delta),
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    assert "the bases differ" in applied.stdout
    assert not (runtime / "bin" / "wandb").exists()  # the builder's own changes come next
    copy_in(delta, runtime)
    assert snapshot(runtime) == snapshot(built)


def test_when_the_bases_match_only_the_removals_are_applied(tmp_path: Path) -> None:
    base, built = tree(tmp_path / "base", BASE), tree(tmp_path / "built", BUILT)
    runtime = tree(tmp_path / "runtime", [*BASE, f"{SITE}/runtime_only.py"])
    listing = tmp_path / "removed.txt"
    removed_listing(base, built, listing)
    result = tmp_path / "bases.json"
    result.write_text('{"identical": true, "differences": []}')
    applied = run(
        "apply", str(listing), str(runtime), "--bases", str(result), "--built", str(built),
        "--delta", str(tmp_path),
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    assert (runtime / SITE / "runtime_only.py").exists()  # nothing else is touched
    assert not (runtime / SITE / "yaml" / "old_module.py").exists()


def test_an_unreadable_comparison_stops_with_its_path(tmp_path: Path) -> None:
    root = tree(tmp_path / "root", ["a"])
    listing = tmp_path / "removed.txt"
    listing.write_text("")
    applied = run(
        "apply", str(listing), str(root), "--bases", str(tmp_path / "none.json"), "--built",
        str(root), "--delta", str(root),
    )  # fmt: skip
    assert applied.returncode != 0
    assert f"cannot read the bases' comparison {tmp_path / 'none.json'}" in applied.stderr
    assert (root / "a").exists()
